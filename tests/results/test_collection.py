"""Bounces collected on a schedule, reports saying when; the optional open pixel."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.results.collection import collect_bounces
from newsletter.results.models import BounceCollection, Open
from newsletter.results.report import campaign_report
from tests.cli import run_cli
from tests.results.conftest import Site, client, copies, path_of
from tests.results.seed import seeded_campaign

FIXTURES = Path(__file__).parent.parent / "campaigns" / "fixtures"


def _maildir(path: Path, *names: str) -> Path:
    box = mailbox.Maildir(path, create=True)
    for name in names:
        box.add((FIXTURES / name).read_bytes())
    return path


def test_collecting_records_each_read_and_the_report_says_when(
    settings: Settings, db_url: str, engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cid = seeded_campaign(engine, sessions)
    cfg = settings.model_copy(update={"database_url": db_url})
    assert collect_bounces(cfg, sessions) is None  # no mailbox set up: nothing recorded
    with sessions() as session:
        report = campaign_report(session, cid, tracking="aggregate", bounce_mailbox=False)
    assert report.bounces.sentence().startswith("No bounce mailbox is set up")

    box = _maildir(tmp_path / "bounces", "postfix_user_unknown.eml", "out_of_office.eml")
    cfg = cfg.model_copy(update={"bounce_mailbox": str(box)})
    done = collect_bounces(cfg, sessions)
    assert done is not None and (done.messages, done.error) == (2, "")
    with sessions() as session:
        [run] = session.scalars(select(BounceCollection)).all()
        report = campaign_report(session, cid, tracking="aggregate", bounce_mailbox=True)
    assert run.messages == 2
    assert report.bounces.sentence() == (
        f"Bounces last collected {run.collected_at.strftime('%Y-%m-%d %H:%M')} UTC."
    )


def test_an_unreadable_mailbox_is_recorded_not_raised(
    settings: Settings, db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cfg = settings.model_copy(
        update={"database_url": db_url, "bounce_mailbox": str(tmp_path / "missing")}
    )
    done = collect_bounces(cfg, sessions)
    assert done is not None and "no such Maildir" in done.error
    with sessions() as session:
        run = session.scalars(select(BounceCollection)).one()
        assert "no such Maildir" in run.error


def test_worker_once_collects_the_bounce_mailbox(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session]
) -> None:
    box = _maildir(cli_env / "bounces", "postfix_user_unknown.eml")
    assert run_cli(["worker", "--once"], monkeypatch, cli_env, bounce_mailbox=str(box)) == 0
    with sessions() as session:
        assert session.scalars(select(BounceCollection.messages)).all() == [1]


@pytest.mark.parametrize("mode", ["aggregate"])
def test_the_open_pixel_is_off_by_default_and_counted_when_asked_for(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    [plain, *_] = copies(site.settings, sessions, site.campaign_id)
    assert "/o/" not in plain.html
    cfg = site.settings.model_copy(update={"track_opens": True})
    site.app.state.settings = cfg
    [first, *_] = copies(cfg, sessions, site.campaign_id)
    pixel = first.html.split('<img src="', 2)[-1].split('"', 1)[0]
    assert "/o/" in pixel
    with client(site) as reader:
        answer = reader.get(path_of(pixel))
        assert answer.headers["content-type"] == "image/gif"
        assert reader.get("/o/forged.token").status_code == 404
    with sessions() as session:
        [opened] = session.scalars(select(Open)).all()
        assert opened.subscriber_id is None
        report = campaign_report(
            session, site.campaign_id, tracking="aggregate", bounce_mailbox=False, track_opens=True
        )
    assert report.opens == 1
