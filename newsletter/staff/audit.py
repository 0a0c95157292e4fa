"""The audit trail: every staff action that changes something or exports personal data.

Kept by the console and by the command line alike (the CLI names the operating-system user),
so an owner can answer "who erased this person, and when?" from one page.
"""

from __future__ import annotations

import getpass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.staff.models import AuditEvent
from subscribers.orm import utcnow


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    detail: str = "",
    ip: str = "",
    at: datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor, action=action, target=target[:400], detail=detail, ip=ip, at=at or utcnow()
    )
    session.add(event)
    session.flush()
    return event


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def events(
    session: Session, *, actor: str = "", action: str = "", target: str = "", limit: int = 200
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if actor:
        query = query.where(AuditEvent.actor.contains(actor))
    if action:
        query = query.where(AuditEvent.action == action)
    if target:
        query = query.where(AuditEvent.target.contains(target))
    return list(session.scalars(query.limit(limit)))


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
