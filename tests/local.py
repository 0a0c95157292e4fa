"""Real local peers the tests start: free ports, Debian's Chromium, the app under uvicorn."""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A real peer is not there: an error in CI (``make test`` installs it), else a skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def playwright_api() -> ModuleType:
    """Playwright's sync API, with Debian's Chromium present (``make browser``)."""
    try:
        api = importlib.import_module("playwright.sync_api")
    except ImportError:
        missing("playwright is not installed")
    if not Path(CHROMIUM).exists():
        missing("Debian's chromium is not installed (make browser)")
    return api


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[None]:
    """``app`` under a real uvicorn on ``port`` in a thread, stopped on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"uvicorn did not start on port {port}")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def screenshot(page: object, path: Path) -> None:
    """The whole page at ``path``, and each frame on it beside it (``…-frame-N.png``).

    Headless Chromium's full-page capture leaves sandboxed frames (the email previews) blank,
    which would show a reviewer an empty preview; a frame captured on its own is painted.
    """
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    frames = page.locator("iframe")  # type: ignore[attr-defined]
    for index in range(frames.count()):
        frame = frames.nth(index)
        if frame.is_visible():
            frame.screenshot(path=str(path.with_name(f"{path.stem}-frame-{index + 1}.png")))
