"""Bounces collected on a schedule, reports saying when; the optional open pixel."""

from __future__ import annotations

import mailbox
import queue
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.campaigns import verp
from newsletter.campaigns.models import CampaignRecipient
from newsletter.cli.serve import sending_loop
from newsletter.config import Settings
from newsletter.results.collection import (
    COLLECT_EVERY,
    LEASE_RUNS,
    Collector,
    collect_bounces,
    release,
)
from newsletter.results.models import BounceCollection, Open
from newsletter.results.report import campaign_report
from subscribers.models import Subscriber
from tests.campaigns.test_bounce_corpus import readdressed
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


class Gate:
    """The pause between two collection runs, held until the test lets the next run go."""

    def __init__(self) -> None:
        self.paused: queue.Queue[float] = queue.Queue()
        self._go = threading.Semaphore(0)

    def __call__(self, seconds: float) -> None:
        self.paused.put(seconds)
        self._go.acquire()

    def wait_paused(self) -> float:
        """The pause the loop asked for once its run is done (a bound, not a timing)."""
        return self.paused.get(timeout=60)

    def next_run(self) -> None:
        self._go.release()


def _hard_bounce(box: Path, settings: Settings, campaign_id: int, reader: int) -> None:
    raw = readdressed("bounce_02.txt", verp.return_path(settings, campaign_id, reader))
    mailbox.Maildir(box, create=True).add(raw)


def _status(sessions: sessionmaker[Session], reader: int) -> str:
    with sessions() as session:
        found = session.get(Subscriber, reader)
        assert found is not None
        return str(found.status)


def test_the_serve_loop_collects_bounces_on_the_workers_schedule(
    settings: Settings, db_url: str, engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    cid = seeded_campaign(engine, sessions)
    with sessions() as session:
        first, second = session.scalars(
            select(CampaignRecipient.subscriber_id)
            .where(CampaignRecipient.campaign_id == cid, CampaignRecipient.state == "sent")
            .order_by(CampaignRecipient.id)
            .limit(2)
        ).all()
    box = tmp_path / "bounces"
    cfg = settings.model_copy(
        update={"database_url": db_url, "bounce_mailbox": str(box), "send_processes": 0}
    )
    _hard_bounce(box, cfg, cid, first)
    now = [datetime(2026, 11, 20, 8, 0, tzinfo=UTC)]
    gate = Gate()

    def last_collected() -> str:
        with sessions() as session:
            report = campaign_report(session, cid, tracking="aggregate", bounce_mailbox=True)
        return report.bounces.sentence()

    with sending_loop(cfg, clock=lambda: now[0], wait=gate):
        assert gate.wait_paused() == COLLECT_EVERY  # the first run is done, the next is due
        assert _status(sessions, first) != "active", "the serve loop applied the bounce"
        assert last_collected() == "Bounces last collected 2026-11-20 08:00 UTC."
        _hard_bounce(box, cfg, cid, second)
        now[0] += timedelta(seconds=COLLECT_EVERY)
        gate.next_run()
        assert gate.wait_paused() == COLLECT_EVERY
        assert _status(sessions, second) != "active"
        assert last_collected() == "Bounces last collected 2026-11-20 08:10 UTC."
        gate.next_run()  # let the loop see its stop
    with sessions() as session:
        runs = session.scalars(select(BounceCollection).order_by(BounceCollection.id)).all()
    # the second run reads the first message again: its fingerprint keeps it counted once
    assert [r.messages for r in runs][:2] == [1, 2]
    assert runs[0].events == runs[1].events >= 1


def test_one_process_collects_at_a_time_and_a_dead_ones_lease_runs_out(
    settings: Settings, db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    box = _maildir(tmp_path / "bounces", "postfix_user_unknown.eml")
    cfg = settings.model_copy(update={"database_url": db_url, "bounce_mailbox": str(box)})
    now = [datetime(2026, 11, 20, 8, 0, tzinfo=UTC)]
    worker = Collector(cfg, sessions, holder="worker", clock=lambda: now[0])
    serve = Collector(cfg, sessions, holder="serve", clock=lambda: now[0])
    assert worker.tick() is not None
    assert serve.tick() is None, "the worker holds the lease: serve leaves the mailbox alone"
    now[0] += timedelta(seconds=COLLECT_EVERY)
    assert worker.tick() is not None and serve.tick() is None  # renewed on each run
    now[0] += timedelta(seconds=COLLECT_EVERY * LEASE_RUNS + 1)  # the worker died
    assert serve.tick() is not None
    assert worker.tick() is None, "back from the dead, it finds serve holding the lease"
    release(sessions, "serve")  # a clean stop
    assert worker.tick() is not None
    with sessions() as session:
        assert len(session.scalars(select(BounceCollection)).all()) == 4
