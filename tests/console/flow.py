"""Helpers shared by the console's briefing and campaign tests: readers, the outbox, sending."""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path

from fastapi import FastAPI

from newsletter.database import transaction
from newsletter.worker_factory import build_worker
from subscribers import consent, lists, people
from subscribers.models import Status


def add_readers(app: FastAPI) -> None:
    """Two active readers of Ukraine (one also follows Arms trade), one unsubscribed."""
    with transaction(app.state.sessions) as session:
        lists.create(session, "Ukraine")
        lists.create(session, "Arms trade")
        context = consent.Context(form="test")
        people.add(session, "ana@example.net", context, name="Ana", topics=["Ukraine"])
        people.add(
            session, "ben@example.net", context, name="Ben", topics=["Ukraine", "Arms trade"]
        )
        people.add(
            session,
            "gone@example.net",
            context,
            topics=["Ukraine"],
            status=Status.UNSUBSCRIBED,
        )


def outbox(app: FastAPI) -> list[Message]:
    folder = Path(app.state.settings.outbox_dir) / "new"
    if not folder.is_dir():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.iterdir())]


def send_due(app: FastAPI, campaign_id: int) -> None:
    """What a worker does for a due campaign (``campaign send`` and ``newsletter worker``):
    start it and send until nothing is left, here in this process."""
    build_worker(app.state.settings, batch=50, processes=0).run(
        once=True, campaign_ids=[campaign_id]
    )
