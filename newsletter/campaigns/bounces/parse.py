"""Reading returned mail: RFC 3464 delivery status notifications and RFC 5965 feedback reports.

Pure functions from the raw bytes of one message to a ``Report``. Mail servers that
do not send a proper ``multipart/report`` (old Exim and qmail style bounces) are read
from their text as a fallback, so long as an SMTP status can be found in it.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

Kind = Literal["dsn", "arf", "text", "other"]

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?<![\d.])([45]\d\d)(?:[ -])")
_ADDRESS = re.compile(r"<?([^\s<>;:\"]+@[^\s<>;:\"]+?)>?(?=[\s,;:]|$)")
_BOUNCE_FROM = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|failure notice|returned mail|"
    r"mail delivery failed|could not be delivered",
    re.IGNORECASE,
)
#: Headers of the report itself that tell where it was delivered (our VERP address).
ENVELOPE_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN (or what the text fallback found)."""

    recipient: str
    action: str = "failed"
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""


@dataclass(frozen=True)
class Report:
    kind: Kind
    message_id: str  # of the report itself
    envelope: str  # the report's To/Delivered-To/... values, joined
    original_headers: str  # the returned message's headers, as text
    recipients: tuple[RecipientStatus, ...] = ()
    feedback_type: str = ""  # ARF: abuse, fraud, not-spam...
    feedback_recipient: str = ""  # ARF: Original-Rcpt-To / Removed-Recipient


def _address(value: str) -> str:
    """``rfc822; Ann@Example.org`` -> ``Ann@Example.org``."""
    value = value.split(";", 1)[1] if ";" in value else value
    match = _ADDRESS.search(value.strip())
    return match.group(1).strip() if match else value.strip()


def _clean(value: object) -> str:
    return " ".join(str(value or "").split())


def _headers_text(part: Message) -> str:
    """Headers of a returned message part (message/rfc822 or text/rfc822-headers)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return "".join(f"{k}: {_clean(v)}\n" for k, v in payload[0].items())
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    return text.split("\n\n", 1)[0].split("\r\n\r\n", 1)[0]


def _status_fields(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return list(payload)
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(block) for block in blocks if block.strip()]


def _dsn_recipients(groups: list[Message]) -> tuple[RecipientStatus, ...]:
    out = []
    for group in groups[1:] or groups:
        final = group.get("Final-Recipient") or group.get("Original-Recipient")
        if not final:
            continue
        out.append(
            RecipientStatus(
                recipient=_address(str(final)),
                action=_clean(group.get("Action")).lower() or "failed",
                status=_clean(group.get("Status")),
                diagnostic=_clean(group.get("Diagnostic-Code")).split(";", 1)[-1].strip(),
                remote_mta=_clean(group.get("Remote-MTA")).split(";", 1)[-1].strip(),
            )
        )
    return tuple(out)


def _text_body(msg: Message) -> str:
    chunks = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                chunks.append(raw.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(chunks)


def _text_fallback(body: str) -> tuple[RecipientStatus, ...]:
    """A status and an address from a bounce written for people only."""
    enhanced = _ENHANCED.search(body)
    code = _SMTP_CODE.search(body)
    if not enhanced and not code:
        return ()
    status = enhanced.group(0) if enhanced else f"{code.group(1)[0]}.0.0" if code else ""
    # The failed address is usually the first one on an indented line or in <...>.
    candidates = re.findall(r"^\s+<?([^\s<>@]+@[^\s<>]+?)>?\s*$", body, re.MULTILINE)
    candidates += re.findall(r"RCPT TO:\s*<([^>]+)>", body, re.IGNORECASE)
    line = next(
        (ln.strip() for ln in body.splitlines() if status in ln or (code and code.group(1) in ln)),
        "",
    )
    return (
        RecipientStatus(
            recipient=candidates[0] if candidates else "",
            status=status,
            diagnostic=_clean(line),
        ),
    )


def parse(raw: bytes) -> Report:
    """Read one returned message; never raises on malformed input (kind ``other``)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    envelope = " ".join(_clean(v) for h in ENVELOPE_HEADERS for v in msg.get_all(h) or [])
    message_id = _clean(msg.get("Message-ID"))
    original = ""
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not original:
            original = _headers_text(part)

    report_type = (
        (msg.get_param("report-type") or "") if msg.get_content_type() == "multipart/report" else ""
    )
    report_type = str(report_type).lower()
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            return Report(
                "dsn", message_id, envelope, original, _dsn_recipients(_status_fields(part))
            )
        if ctype == "message/feedback-report" or (
            report_type == "feedback-report"
            and ctype == "text/plain"
            and part is not msg
            and "feedback-type" in str(part.get_payload()).lower()
        ):
            fields = _status_fields(part)
            first = fields[0] if fields else Message()
            rcpt = first.get("Original-Rcpt-To") or first.get("Removed-Recipient") or ""
            return Report(
                "arf",
                message_id,
                envelope,
                original,
                feedback_type=_clean(first.get("Feedback-Type")).lower(),
                feedback_recipient=_address(str(rcpt)) if rcpt else "",
            )
    looks_like_bounce = _BOUNCE_FROM.search(_clean(msg.get("From"))) or _BOUNCE_SUBJECT.search(
        _clean(msg.get("Subject"))
    )
    recipients = _text_fallback(_text_body(msg)) if looks_like_bounce else ()
    return Report("text" if recipients else "other", message_id, envelope, original, recipients)
