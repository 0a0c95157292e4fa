"""Subscribe, confirm, preferences, unsubscribe: real Chromium against `newsletter serve`."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import httpx
import pytest

from newsletter.database import open_database, session_factory, transaction
from subscribers import people, topics
from subscribers.models import Status
from tests.local import CHROMIUM, free_port, playwright_api
from tests.local import CHROMIUM_ARGS as ARGS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """`newsletter serve` in a child process: (base URL, Maildir outbox, database URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db_url = f"sqlite:///{tmp_path / 'newsletter.db'}"
    outbox = tmp_path / "outbox"
    engine = open_database(db_url)
    with transaction(session_factory(engine)) as s:
        topics.create(s, "Ukraine")
        topics.create(s, "Nuclear weapons")
    engine.dispose()
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": db_url,
        "NEWSLETTER_OUTBOX_DIR": str(outbox),
        "NEWSLETTER_PUBLIC_BASE_URL": base,
        "NEWSLETTER_SECRET_KEY": "browser-test-secret-0123456789",
        "NEWSLETTER_SMTP_URL": "",
        "NEWSLETTER_LANGUAGES": "en,fr",
    }
    log = (tmp_path / "serve.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/subscribe", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "newsletter serve did not start:\n" + (tmp_path / "serve.log").read_text()
                )
            time.sleep(0.2)
        yield base, outbox, db_url
    finally:
        child.terminate()
        child.wait(10)
        log.close()


def _confirmation_link(outbox: Path, base: str) -> str:
    deadline = time.monotonic() + 10
    while not list((outbox / "new").glob("*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    [path] = list((outbox / "new").glob("*"))
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage) and message["To"] == "Reader <reader@example.org>"
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    match = re.search(rf"{re.escape(base)}/confirm/\S+", str(part.get_content()))
    assert match is not None
    return match.group(0)


@pytest.mark.browser
def test_a_reader_subscribes_confirms_chooses_topics_and_leaves(
    server: tuple[str, Path, str],
) -> None:
    sync_api = playwright_api()
    base, outbox, db_url = server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(java_script_enabled=False)  # the pages must not need it
        page.goto(f"{base}/subscribe")
        page.get_by_label("Email address").fill("reader@example.org")
        page.get_by_label("Your name (optional)").fill("Reader")
        page.get_by_label("Ukraine").check()
        page.get_by_role("button", name="Subscribe").click()
        sync_api.expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

        page.goto(_confirmation_link(outbox, base))
        sync_api.expect(
            page.get_by_role("heading", name="Confirm your subscription")
        ).to_be_visible()
        page.get_by_role("button", name="Yes, subscribe me").click()
        sync_api.expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()

        page.get_by_role("link", name="your preferences page").click()
        sync_api.expect(page.get_by_label("Ukraine")).to_be_checked()
        page.get_by_label("Ukraine").uncheck()
        page.get_by_label("Nuclear weapons").check()
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save my preferences").click()
        sync_api.expect(page.locator("#saved")).to_be_visible()
        sync_api.expect(page.get_by_label("Nuclear weapons")).to_be_checked()

        page.get_by_role("button", name="Unsubscribe from everything").click()
        sync_api.expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        browser.close()

    engine = open_database(db_url)
    with transaction(session_factory(engine)) as s:
        person = people.lookup(s, "reader@example.org")
        assert (person.status, person.language) == (Status.UNSUBSCRIBED, "fr")
        assert [m.name for m in people.subscribed_lists(s, person)] == [
            "All briefings",  # joined on the web; topics never take anyone off it
            "Nuclear weapons",
        ]
    engine.dispose()
