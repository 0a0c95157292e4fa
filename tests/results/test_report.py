"""Report figures equal counts made here, independently, from the raw tables."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.results.report import campaign_report
from subscribers.models import ConsentEvent
from tests.cli import run_cli
from tests.results.seed import START, seeded_campaign


def _one(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_campaign_report_matches_the_raw_tables(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    cid = seeded_campaign(engine, sessions)
    with sessions() as session:
        report = campaign_report(session, cid, tracking="person", bounce_mailbox=False)
    q = {"c": cid}
    rows = "SELECT count(*) FROM campaign_recipients WHERE campaign_id = :c"
    assert report.readers == _one(engine, rows, **q) == 8
    for state in ("sent", "deferred", "failed", "skipped"):
        assert getattr(report, state) == _one(engine, f"{rows} AND state = '{state}'", **q)
    kinds = "SELECT count(*) FROM bounce_events WHERE campaign_id = :c AND kind = :k"
    assert report.hard_bounces == _one(engine, kinds, c=cid, k="hard") == 1
    assert report.soft_bounces == _one(engine, kinds, c=cid, k="soft") == 2
    assert report.complaints == _one(engine, kinds, c=cid, k="complaint") == 1
    with sessions() as session:
        unsubscribes = [
            event.at
            for event in session.scalars(select(ConsentEvent))
            if event.action == "unsubscribe"
            and event.wording == f"List-Unsubscribe (campaign {cid})"
        ]
    within = [at for at in unsubscribes if at - START < timedelta(days=30)]
    assert report.unsubscribes == len(within) == 2
    human = "SELECT count(*) FROM clicks WHERE campaign_id = :c AND machine = :m"
    assert report.human_clicks == _one(engine, human, c=cid, m=False) == 5
    assert report.machine_clicks == _one(engine, human, c=cid, m=True) == 2
    clickers = (
        "SELECT count(DISTINCT subscriber_id) FROM clicks WHERE campaign_id = :c AND NOT machine"
    )
    assert report.unique_clickers == _one(engine, clickers, **q) == 4
    top = report.links[0]
    assert (top.text, top.clicks) == ("Read the paper", 4)
    per_link = (
        "SELECT count(*) FROM clicks WHERE campaign_id = :c AND link_idx = :i AND NOT machine"
    )
    assert {line.idx: line.clicks for line in report.links} == {
        i: _one(engine, per_link, c=cid, i=i) for i in range(3)
    }
    gifts = "SELECT count(*) FROM donations WHERE campaign_id = :c"
    assert report.gifts == _one(engine, gifts, **q) == 3
    assert report.gifts_monthly == _one(engine, f"{gifts} AND frequency = 'monthly'", **q) == 1
    assert report.gifts_once == 2
    net = "SELECT sum(amount_minor - refunded_minor - disputed_minor) FROM donations"
    assert [(m.currency, m.net_minor) for m in report.totals] == [
        ("gbp", _one(engine, f"{net} WHERE campaign_id = :c", **q))
    ]
    assert report.totals[0].net_minor == 3500
    aided = (
        "SELECT count(*) FROM donations d JOIN donation_intents i ON i.id = d.intent_id "
        "WHERE d.campaign_id = :c AND i.gift_aid"
    )
    assert report.gift_aid_share == _one(engine, aided, **q) / report.gifts
    assert report.gifts_per_thousand == pytest.approx(1000 * 3 / 8)
    assert [d for d in report.days if d[1] or d[2]] == [(0, 1, 1), (1, 1, 1), (2, 1, 0), (3, 1, 1)]
    assert sum(d[1] for d in report.days) == report.human_clicks - 1  # one came on day 10
    assert "No bounce mailbox is set up" in report.bounces.sentence()


def test_aggregate_tracking_reports_no_unique_clickers(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    cid = seeded_campaign(engine, sessions)
    with sessions() as session:
        report = campaign_report(session, cid, tracking="aggregate", bounce_mailbox=True)
    assert report.unique_clickers is None
    assert "has not been read yet" in report.bounces.sentence()


def test_report_commands_print_and_write_csv(
    engine: Engine,
    sessions: sessionmaker[Session],
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cid = seeded_campaign(engine, sessions)
    out = cli_env / "campaign.csv"
    assert run_cli(["report", "campaign", str(cid), "--csv", str(out)], monkeypatch, cli_env) == 0
    shown = capsys.readouterr().out
    assert "Read the paper" in shown and "No bounce mailbox is set up" in shown
    assert "figure,human clicks,5," in out.read_text()
    growth = cli_env / "growth.csv"
    assert run_cli(["report", "growth", "--csv", str(growth)], monkeypatch, cli_env) == 0
    lines = growth.read_text().splitlines()
    assert lines[0] == "month,web_form,import,staff,unsubscribed,bounced,net"
    assert any(line.startswith("2026-11,") for line in lines)
    assert run_cli(["report", "money", "--by", "briefing"], monkeypatch, cli_env) == 0
    assert "£35" in capsys.readouterr().out
    assert run_cli(["report", "money", "--by", "week"], monkeypatch, cli_env) != 0
    assert "choose month or briefing" in capsys.readouterr().err
    assert run_cli(["report", "campaign", "999"], monkeypatch, cli_env) != 0
    assert "there is no campaign 999" in capsys.readouterr().err


def test_growth_counts_people_by_how_they_came_and_left(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    from newsletter.results.growth import growth
    from subscribers.models import Subscriber

    seeded_campaign(engine, sessions)
    with sessions.begin() as session:
        people = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        for n, action in enumerate(["confirm", "confirm", "import", "staff-add", "confirm"]):
            at = START + timedelta(days=40 if n == 4 else 1)  # the last one in December
            session.add(
                ConsentEvent(subscriber_id=people[n], action=action, lists=[], at=at, wording="")
            )
        # the same person confirming twice in a month counts once
        session.add(ConsentEvent(subscriber_id=people[0], action="confirm", lists=[], at=START))
    with sessions() as session:
        found = growth(session)
        november = next(line for line in found.months if line.month == "2026-11")
        december = next(line for line in found.months if line.month == "2026-12")
    with engine.connect() as conn:
        unsubscribed = conn.execute(
            text("SELECT at FROM consent_log WHERE action = 'unsubscribe'")
        ).all()
        hard = conn.execute(text("SELECT count(*) FROM bounce_events WHERE kind = 'hard'")).scalar()
    assert (november.web_form, november.imported, november.staff) == (2, 1, 1)
    assert november.unsubscribed + december.unsubscribed == len(unsubscribed) == 5
    assert november.bounced == hard == 2
    assert november.net == 4 - november.unsubscribed - 2
    assert december.web_form == 1
    assert {size.name: size.readers for size in found.lists} == {"All briefings": 8}
    with sessions() as session:
        assert [line.month for line in growth(session, date(2026, 12, 1)).months] == ["2026-12"]
