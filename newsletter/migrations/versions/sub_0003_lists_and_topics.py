"""subscribers: lists and topics told apart; web sign-ups on no list join the default list

Until now every row of ``lists`` was both: the subscribe form offered them all as
ticks, so a reader who ticked only "Ukraine" (or nothing) was confirmed onto no list
and never received a briefing sent to "All briefings". Each row now has a ``kind``:

- a list: the default list (``NEWSLETTER_DEFAULT_LIST``, "All briefings" unless set)
  and every list a campaign was ever sent to;
- a topic: every other row (they were the form's ticks).

``public`` says whether a topic is offered on the subscribe form; all existing rows
stay public, as they were.

Then the repair: everyone who confirmed on the web, is active and is on no list joins
the default list (created if missing), with a consent-log row saying why. Someone who
once took themselves off the default list is left off it.

Revision ID: sub_0003
Revises: sub_0002
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "sub_0003"
down_revision = "sub_0002"
branch_labels = None
depends_on = None

DEFAULT_LIST = "All briefings"
FORM = "upgrade:lists-and-topics"
WORDING = (
    "Joined {name}: confirmed a subscription on the web form, which promised our "
    "briefings, but was on no list (topics were stored as lists)."
)

_lists = sa.table(
    "lists",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("archived", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("kind", sa.String),
    sa.column("public", sa.Boolean),
)
_subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("status", sa.String))
_subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.Integer),
    sa.column("subscriber_id", sa.Integer),
    sa.column("list_id", sa.Integer),
    sa.column("subscribed", sa.Boolean),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_consent = sa.table(
    "consent_log",
    sa.column("subscriber_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("lists", sa.JSON),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("ip", sa.String),
    sa.column("user_agent", sa.String),
    sa.column("form", sa.String),
    sa.column("wording", sa.Text),
)


def _default_name() -> str:
    """The setting as the application reads it (environment, then ``.env``)."""
    name = os.environ.get("NEWSLETTER_DEFAULT_LIST", "").strip()
    if name:
        return name
    try:
        from newsletter.config import Settings

        return Settings().default_list.strip() or DEFAULT_LIST
    except Exception:  # settings that do not load are reported by the command, not here
        return DEFAULT_LIST


def _slugify(name: str) -> str:
    from subscribers.slugs import slugify

    return slugify(name)


def upgrade() -> None:
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="list")
        )
        batch_op.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    bind = op.get_bind()
    now = datetime.now(UTC)
    name = _default_name()
    slug = _slugify(name) or _slugify(DEFAULT_LIST)
    default_id = bind.scalar(sa.select(_lists.c.id).where(_lists.c.slug == slug))
    if default_id is None:
        default_id = bind.scalar(
            sa.insert(_lists)
            .values(
                slug=slug,
                name=name,
                description="Everyone who subscribes on the web joins this list.",
                archived=False,
                created_at=now,
                kind="list",
                public=True,
            )
            .returning(_lists.c.id)
        )
    kept = {default_id}
    if sa.inspect(bind).has_table("campaigns"):
        kept |= set(bind.scalars(sa.text("SELECT DISTINCT list_id FROM campaigns")))
    bind.execute(sa.update(_lists).where(_lists.c.id.not_in(kept)).values(kind="topic"))
    _repair(bind, default_id, name, now)


def _repair(bind: sa.Connection, default_id: int, name: str, now: datetime) -> None:
    """Active people who confirmed on the web and are on no list join the default list."""
    on_a_list = sa.exists().where(
        _subscriptions.c.subscriber_id == _subscribers.c.id,
        _subscriptions.c.list_id == _lists.c.id,
        _lists.c.kind == "list",
        _subscriptions.c.subscribed.is_(True),
    )
    left_default = sa.exists().where(
        _subscriptions.c.subscriber_id == _subscribers.c.id,
        _subscriptions.c.list_id == default_id,
    )
    confirmed_on_web = sa.exists().where(
        _consent.c.subscriber_id == _subscribers.c.id,
        _consent.c.action == "confirm",
        _consent.c.form.like("web:%"),
    )
    ids = list(
        bind.scalars(
            sa.select(_subscribers.c.id)
            .where(_subscribers.c.status == "active", confirmed_on_web, ~on_a_list, ~left_default)
            .order_by(_subscribers.c.id)
        )
    )
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        bind.execute(
            sa.insert(_subscriptions),
            [
                {"subscriber_id": sid, "list_id": default_id, "subscribed": True, "updated_at": now}
                for sid in chunk
            ],
        )
        bind.execute(
            sa.insert(_consent),
            [
                {
                    "subscriber_id": sid,
                    "action": "join-default-list",
                    "lists": [name],
                    "at": now,
                    "ip": "",
                    "user_agent": "",
                    "form": FORM,
                    "wording": WORDING.format(name=name),
                }
                for sid in chunk
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.drop_column("public")
        batch_op.drop_column("kind")
