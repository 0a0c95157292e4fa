"""The states of a campaign, of each recipient's row, and the kinds of returned mail.

Plain enums without SQLAlchemy, so pure modules (the bounce classifier, the retry
policy) can use them; the tables in ``models`` store them.
"""

from __future__ import annotations

import enum


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    STOPPED = "stopped"  # the transport refused us (bad login, policy): staff must act


#: Statuses in which nothing will ever be sent again.
CLOSED = frozenset({CampaignStatus.CANCELLED, CampaignStatus.FINISHED})


class RecipientState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker; lease_owner/lease_until say who and how long
    SENT = "sent"
    DEFERRED = "deferred"  # temporary failure; retried at next_attempt_at
    FAILED = "failed"
    SKIPPED = "skipped"  # unsubscribed, bounced, complained or suppressed since the start


#: States a row never leaves.
SETTLED = frozenset({RecipientState.SENT, RecipientState.FAILED, RecipientState.SKIPPED})


class BounceKind(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    POLICY = "policy"  # a rejection of our mail, not of the address: never counted
    COMPLAINT = "complaint"
    DELAYED = "delayed"  # a warning that delivery is still being tried: never counted
    AUTO_REPLY = "auto-reply"  # out of office, vacation (RFC 3834): never counted
