"""Is a returned message the address's fault, and how badly? Pure rules over SMTP statuses.

- 5.x.x: hard (the address does not work), except:
- x.2.2 (mailbox full): soft, even when a server says 5.2.2;
- 5.7.x, 5.6.x, 5.3.4 and replies that talk about spam, block lists or policy: a
  rejection of *our* mail (reputation, authentication, content), never blamed on the
  address;
- 4.x.x: soft;
- ``delayed``, ``delivered``, ``relayed`` and ``expanded`` actions are not bounces;
- feedback reports: ``abuse`` and ``other`` are complaints, ``not-spam`` is nothing, and
  the rest (``auth-failure``, ``fraud``, ``virus``) are policy events.
"""

from __future__ import annotations

import re

from newsletter.campaigns.models import BounceKind

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?<![\d.])([245]\d\d)\b")
_POLICY_WORDS = re.compile(
    r"spam|blocklist|blacklist|block list|black list|blocked|reputation|policy|"
    r"dmarc|spf|dkim|not authori[sz]ed|content rejected|rbl|spamhaus",
    re.IGNORECASE,
)
_MAILBOX_WORDS = re.compile(
    r"user unknown|no such user|does not exist|unknown user|mailbox unavailable|"
    r"address rejected|recipient rejected|invalid recipient|no mailbox|disabled",
    re.IGNORECASE,
)
NOT_BOUNCES = frozenset({"delayed", "delivered", "relayed", "expanded"})


def enhanced_status(status: str, diagnostic: str = "", code: int | None = None) -> str:
    """The RFC 3463 status (``5.1.1``) from the status field, the reply text or the code."""
    for text in (status, diagnostic):
        match = _ENHANCED.search(text or "")
        if match:
            return match.group(0)
    if code is None:
        match = _SMTP_CODE.search(diagnostic or "")
        code = int(match.group(1)) if match else None
    if code is not None and code >= 400:
        return f"{str(code)[0]}.0.0"
    return ""


def classify(
    status: str, diagnostic: str = "", *, action: str = "failed", code: int | None = None
) -> BounceKind | None:
    """The kind of bounce, or None when the message is not a bounce at all."""
    if action.lower() in NOT_BOUNCES:
        return None
    full = enhanced_status(status, diagnostic, code)
    if not full:
        return None
    klass, subject, detail = (int(x) for x in full.split("."))
    if klass == 2:
        return None
    if subject == 2 and detail == 2:
        return BounceKind.SOFT
    if klass == 4:
        return BounceKind.SOFT
    if subject in (6, 7) or (subject, detail) == (3, 4):
        return BounceKind.POLICY
    if _POLICY_WORDS.search(diagnostic or "") and not _MAILBOX_WORDS.search(diagnostic or ""):
        return BounceKind.POLICY
    return BounceKind.HARD


#: Feedback types (RFC 5965) in which the reader tells their provider they object to our mail.
COMPLAINT_TYPES = frozenset({"abuse", "other"})


def classify_feedback(feedback_type: str) -> BounceKind | None:
    """ARF: only ``abuse`` (and ``other``) is a reader's complaint; ``not-spam`` is nothing.

    ``auth-failure`` (RFC 6591: a DMARC, DKIM or SPF failure, perhaps a forgery of our
    domain), ``fraud`` and ``virus`` are about the message or whoever sent it, not a
    sign that the reader does not want us: recorded as policy, never blamed on the address.
    """
    kind = feedback_type.strip().lower()
    if kind == "not-spam":
        return None
    return BounceKind.COMPLAINT if kind in COMPLAINT_TYPES else BounceKind.POLICY
