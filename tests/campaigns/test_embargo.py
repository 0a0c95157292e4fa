"""A briefing is public only once it is sent (or deliberately published), on every web
process: through the real CLI and web app, on SQLite and PostgreSQL."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from newsletter.briefing import markdown
from newsletter.campaigns.ledger import Ledger
from newsletter.config import Settings
from newsletter.web.app import create_app
from newsletter.web.page_cache import PageCache
from tests.campaigns.conftest import CLEAN_SOURCE, seed_audience
from tests.cli import run_cli

SLUG = markdown.parse(CLEAN_SOURCE).slug


def briefing_file(folder: Path) -> Path:
    path = folder / "112.md"
    path.write_text(CLEAN_SOURCE, encoding="utf-8")
    return path


def web() -> TestClient:
    """A web process with the settings of the environment (the test database).

    Its page cache asks the database on every request: how long a page may be served
    from memory is the archive tests' business; here it is what the database says."""
    app = create_app(Settings(_env_file=None))
    app.state.page_cache = PageCache(fresh_for=0)
    return TestClient(app)


def is_public(client: TestClient) -> bool:
    page = client.get(f"/archive/{SLUG}").status_code
    listed = f"/archive/{SLUG}" in client.get("/").text
    in_feed = f"/archive/{SLUG}" in client.get("/feed.xml").text
    in_sitemap = f"/archive/{SLUG}" in client.get("/sitemap.xml").text
    assert {page == 200, listed, in_feed, in_sitemap} in ({True}, {False}), (page, listed)
    return page == 200


def create(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    source = str(briefing_file(cli_env))
    args = ["campaign", "create", source, "--list", "All briefings", "-q"]
    assert run_cli(args, monkeypatch, cli_env) == 0
    return capsys.readouterr().out.strip()


def test_render_preview_and_scheduling_publish_nothing_and_the_start_of_the_send_does(
    cli_env: Path,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    seed_audience(engine, 3)
    source = briefing_file(cli_env)
    assert run_cli(["briefing", "render", str(source), "--out", "out"], monkeypatch, cli_env) == 0
    assert "Nothing was published" in capsys.readouterr().out
    client = web()
    assert not is_public(client)
    assert "No briefing has been published yet" in client.get("/").text

    campaign = create(cli_env, monkeypatch, capsys)
    assert run_cli(["campaign", "preview", campaign], monkeypatch, cli_env) == 0
    assert not is_public(client)

    send = ["campaign", "send", campaign, "--at", "2999-01-01T09:00"]
    assert run_cli(send, monkeypatch, cli_env) == 0
    printed = capsys.readouterr().out
    assert "2999-01-01 09:00 GMT" in printed and "goes public when the send starts" in printed
    assert not is_public(client)

    # A worker's clock reaches the time: the send starts, and the page is public with it.
    assert Ledger(engine).start_due(now=datetime(2999, 1, 1, 9, 1, tzinfo=UTC)) == [int(campaign)]
    assert is_public(client)
    served = client.get(f"/archive/{SLUG}")

    # Another web process, started in another folder (another machine: no shared files),
    # serves the very same page.
    monkeypatch.chdir(tmp_path_factory.mktemp("another-machine"))
    elsewhere = web()
    again = elsewhere.get(f"/archive/{SLUG}")
    assert again.status_code == 200 and again.content == served.content
    assert again.headers["etag"] == served.headers["etag"]


def test_sending_at_once_publishes_before_the_first_copy(
    cli_env: Path,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_audience(engine, 2)
    campaign = create(cli_env, monkeypatch, capsys)
    assert run_cli(["campaign", "send", campaign], monkeypatch, cli_env) == 0
    assert f"Published https://news.example.org/archive/{SLUG}" in capsys.readouterr().out
    assert len(mailbox.Maildir(cli_env / "outbox", create=False)) == 2
    assert is_public(web())


def test_briefing_publish_and_unpublish(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(briefing_file(cli_env))
    client = web()
    assert run_cli(["briefing", "publish", source], monkeypatch, cli_env) == 0
    assert f"Published https://news.example.org/archive/{SLUG}" in capsys.readouterr().out
    assert is_public(client)
    assert run_cli(["briefing", "publish", source], monkeypatch, cli_env) == 0
    assert "Already published, unchanged" in capsys.readouterr().out

    assert run_cli(["briefing", "unpublish", source], monkeypatch, cli_env) == 0
    assert "answers 404" in capsys.readouterr().out
    assert not is_public(client)
    assert run_cli(["briefing", "unpublish", source], monkeypatch, cli_env) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "is not published" in err
    assert len(err.strip().splitlines()) == 1
