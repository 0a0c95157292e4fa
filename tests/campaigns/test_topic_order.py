"""Each reader's copy puts the sections of their topics first, as delivered by SMTP.

Copies are read from a real SMTP server (aiosmtpd), on SQLite and PostgreSQL: the
reader's topics come from the database with their batch, and the MJML renderer runs
once per distinct order of the sections, never once per reader.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns.ledger import Ledger
from newsletter.config import Settings
from newsletter.digest import render as digest_render
from newsletter.worker_factory import build_worker
from subscribers import topics
from subscribers.models import Subscription
from subscribers.orm import utcnow
from tests.campaigns.conftest import (
    CLEAN_SOURCE,
    SmtpServer,
    new_campaign,
    seed_audience,
    start_campaign,
)

# Section 2 is about Ukraine, section 3 about China (and Trade), as staff wrote them.
SOURCE = CLEAN_SOURCE.replace(
    "## 2. Support for Ukraine\n", "## 2. Support for Ukraine\n\nTopics: Ukraine\n"
).replace(
    "## 3. Strategic competition with China\n",
    "## 3. Strategic competition with China\n\nTopics: china, Trade\n",
)
HEADING = re.compile(r"^(\d)\. \S", re.MULTILINE)


def follow(engine: Engine, sessions: sessionmaker[Session], chosen: dict[int, list[str]]) -> None:
    """Create the topics and have each reader follow theirs."""
    names = sorted({name for picked in chosen.values() for name in picked} | {"Sahel"})
    with database.transaction(sessions) as session:
        ids = {name: topics.create(session, name).id for name in names}
    with engine.begin() as conn:
        conn.execute(
            insert(Subscription),
            [
                {"subscriber_id": sid, "list_id": ids[name], "subscribed": True}
                | {"updated_at": utcnow()}
                for sid, picked in chosen.items()
                for name in picked
            ],
        )


def delivered(server: SmtpServer) -> dict[str, tuple[str, str]]:
    """Each recipient's (html, text) as the SMTP server received them."""
    out = {}
    for raw in server.handler.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        assert html is not None and text is not None
        out[str(message["To"]).split("<")[-1].rstrip(">")] = (
            str(html.get_content()),
            str(text.get_content()),
        )
    return out


def section_order(text: str) -> list[int]:
    return [int(n) for n in HEADING.findall(text)]


def html_order(html: str) -> list[str]:
    return re.findall(r'id="(section-\d|your-topics|also-in-this-briefing)"', html)


@pytest.fixture
def count_mjml(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every MJML compilation in this process, by a wrapper around the real one."""
    calls: list[str] = []
    real: Callable[[str], str] = digest_render._compile_mjml

    def counted(source: str) -> str:
        calls.append(source)
        return real(source)

    monkeypatch.setattr(digest_render, "_compile_mjml", counted)
    return calls


def test_readers_get_their_topics_first_and_each_order_is_rendered_once(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    smtp_server: SmtpServer,
    count_mjml: list[str],
) -> None:
    ids = seed_audience(engine, 7)
    follow(
        engine,
        sessions,
        {
            ids[0]: ["Ukraine"],
            ids[1]: ["Ukraine"],
            ids[2]: ["China", "Ukraine"],
            ids[3]: ["Trade"],  # only section 3 too, but by another topic: same order as China
            ids[4]: ["Sahel"],  # a topic of no section: the paper's order
            ids[5]: ["China"],
        },  # ids[6] follows nothing
    )
    cfg = campaign_settings.model_copy(update={"smtp_url": smtp_server.url})
    cid = new_campaign(sessions, source=SOURCE)
    start_campaign(sessions, cid)
    build_worker(cfg, batch=3, processes=0).run(once=True)

    copies = delivered(smtp_server)
    assert len(copies) == 7
    paper = [1, 2, 3, 4, 5, 6]
    expected = {
        0: [2, 1, 3, 4, 5, 6],
        1: [2, 1, 3, 4, 5, 6],
        2: [2, 3, 1, 4, 5, 6],
        3: [3, 1, 2, 4, 5, 6],
        4: paper,
        5: [3, 1, 2, 4, 5, 6],
        6: paper,
    }
    for index, order in expected.items():
        html, text = copies[f"reader{ids[index]}@example.net"]
        assert section_order(text) == order, index
        anchors = html_order(html)
        assert [a for a in anchors if a.startswith("section-")] == [f"section-{n}" for n in order]
        # Section numbers and anchors stay the paper's: links to the web copy still work.
        for n in order:
            assert f"#section-{n}" in text and f'#section-{n}"' in html
        if order == paper:
            assert "Your topics" not in text and "your-topics" not in html
            assert "Also in this briefing" not in text
            continue
        mine = order[: order.index(1)]
        assert anchors[0] == "your-topics"
        assert anchors[1 + len(mine)] == "also-in-this-briefing"
        # The plain text says it too: the marker above the reader's sections, then the rest.
        top, rest = text.split("Also in this briefing", 1)
        assert "Your topics" in top
        assert section_order(top.split("Your topics", 1)[1]) == mine
        assert section_order(rest) == [n for n in paper if n not in mine]
        # Key decisions stay on top, above the reader's sections.
        assert text.index("Key activities") < text.index("Your topics")

    # The paper, Ukraine first, Ukraine and China first, China first: four renderings
    # for seven readers.
    assert len(count_mjml) == 4


def test_composing_processes_get_each_readers_topics_too(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    ids = seed_audience(engine, 2)
    follow(engine, sessions, {ids[0]: ["China"]})
    cfg = campaign_settings.model_copy(update={"smtp_url": smtp_server.url})
    cid = new_campaign(sessions, source=SOURCE)
    start_campaign(sessions, cid)
    worker = build_worker(cfg, batch=10, processes=1)
    worker.run(once=True)

    copies = delivered(smtp_server)
    html, text = copies[f"reader{ids[0]}@example.net"]
    assert section_order(text) == [3, 1, 2, 4, 5, 6]
    assert html_order(html)[:3] == ["your-topics", "section-3", "also-in-this-briefing"]
    html, text = copies[f"reader{ids[1]}@example.net"]
    assert section_order(text) == [1, 2, 3, 4, 5, 6]
    assert "Your topics" not in text


def test_a_batch_brings_its_readers_topics_in_a_fixed_number_of_queries(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = seed_audience(engine, 9)
    follow(engine, sessions, {sid: ["Ukraine", "China"][: 1 + sid % 2] for sid in ids[:8]})
    cid = new_campaign(sessions, source=SOURCE)
    start_campaign(sessions, cid)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    ledger = Ledger(engine)
    assert ledger.start(cid)
    event.listen(engine, "before_cursor_execute", record)
    try:
        small = ledger.claim(cid, "w1", batch=2, lease_seconds=60)
        after_small = len(statements)
        large = ledger.claim(cid, "w1", batch=7, lease_seconds=60)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert after_small == len(statements) - after_small  # 2 readers or 7: the same queries
    claimed = {row.subscriber_id: row.topics for row in [*small, *large]}
    assert len(claimed) == 9
    with sessions() as session:
        named = {t.id: t.name for t in topics.current(session)}
    for sid in ids[:8]:
        assert sorted(named[t] for t in claimed[sid]) == sorted(["Ukraine", "China"][: 1 + sid % 2])
    assert claimed[ids[8]] == ()
