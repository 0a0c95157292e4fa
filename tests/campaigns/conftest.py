"""Campaign fixtures: an audience in the database, a clean briefing, a real SMTP server."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns import manager
from newsletter.config import Settings
from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.orm import utcnow
from tests.conftest import EXAMPLE_BRIEFING
from tests.local import free_port as free_port

CLEAN_SOURCE = EXAMPLE_BRIEFING.read_text(encoding="utf-8").replace(
    "](#)", "](https://www.natowatch.org/)"
)


def seed_audience(engine: Engine, count: int, *, list_name: str = "All briefings") -> list[int]:
    """``count`` active subscribers of one list (created if needed); their ids in order."""
    now = utcnow()
    slug = list_name.lower().replace(" ", "-")
    with engine.begin() as conn:
        list_id = conn.scalar(select(MailingList.id).where(MailingList.slug == slug))
        if list_id is None:
            list_id = conn.scalar(
                insert(MailingList)
                .values(slug=slug, name=list_name, description="", archived=False, created_at=now)
                .returning(MailingList.id)
            )
        start = conn.scalar(select(Subscriber.id).order_by(Subscriber.id.desc()).limit(1)) or 0
        people = [
            {
                "email": f"reader{start + i}@example.net",
                "email_key": f"reader{start + i}@example.net",
                "name": f"Reader {start + i}",
                "language": "en",
                "status": "active",
                "source": "test",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, count + 1)
        ]
        conn.execute(insert(Subscriber), people)
        ids = list(
            conn.scalars(select(Subscriber.id).where(Subscriber.id > start).order_by(Subscriber.id))
        )
        conn.execute(
            insert(Subscription),
            [
                {"subscriber_id": sid, "list_id": list_id, "subscribed": True, "updated_at": now}
                for sid in ids
            ],
        )
    return ids


def new_campaign(
    sessions: sessionmaker[Session], *, list_ref: str = "All briefings", source: str = CLEAN_SOURCE
) -> int:
    with database.transaction(sessions) as session:
        campaign = manager.create(
            session,
            briefing_path=Path("briefings/112.md"),
            source_text=source,
            slug="112-foreign-ministers",
            subject="Briefing 112: Foreign ministers",
            list_ref=list_ref,
        )
        return campaign.id


def start_campaign(sessions: sessionmaker[Session], campaign_id: int) -> None:
    with database.transaction(sessions) as session:
        manager.schedule(session, campaign_id)


def sending_campaign(engine: Engine, sessions: sessionmaker[Session], audience: int) -> int:
    """A campaign to ``audience`` generated readers, started: its rows are queued."""
    seed_audience(engine, audience)
    campaign_id = new_campaign(sessions)
    start_campaign(sessions, campaign_id)
    return campaign_id


@pytest.fixture
def campaign_settings(settings: Settings, db_url: str) -> Settings:
    """The isolated settings, pointed at the test database, retrying at once."""
    return settings.model_copy(update={"database_url": db_url, "send_retry_delay": 0.0})


# -- a real SMTP server that can be told to refuse ------------------------------------


@dataclass
class SmtpRules:
    """What the test server answers. Replies are full SMTP lines ("550 5.1.1 No such user")."""

    at_rcpt: dict[str, list[str]] = field(default_factory=dict)  # consumed per attempt
    always: dict[str, str] = field(default_factory=dict)
    after: int | None = None  # after this many accepted messages...
    after_reply: str = "421 4.7.0 Too many messages, closing connection"


class RecordingHandler:
    def __init__(self) -> None:
        self.rules = SmtpRules()
        self.received: Counter[str] = Counter()
        self.messages: list[bytes] = []
        self.lock = threading.Lock()
        self.accepted = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        with self.lock:
            if key in self.rules.always:
                return self.rules.always[key]
            queued = self.rules.at_rcpt.get(key)
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.rules.after is not None and self.accepted >= self.rules.after:
                return self.rules.after_reply
            self.accepted += 1
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt.lower()] += 1
            self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted"


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/?timeout=10"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()


Seeder = Callable[[int], list[int]]
