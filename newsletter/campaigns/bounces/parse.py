"""Reading returned mail: RFC 3464 delivery status notifications and RFC 5965 feedback reports.

Pure functions from the raw bytes of one message to a ``ReturnedMail``: the structured fields
when there are any, and otherwise the facts the later rules need (who sent it, its
subject, its auto-reply markers, and the text written for people, without the copy of
our own message that most bounces carry). Deciding what the report *means* is
``verdict``'s job, not this module's.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, replace
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

Kind = Literal["dsn", "arf", "other"]

#: Headers of the report itself that tell where it was delivered (our VERP address).
ENVELOPE_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
#: Headers by which an automatic answer says what it is (RFC 3834 and older conventions).
AUTO_HEADERS = (
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "Precedence",
    "X-Precedence",
)
# Bounded, so a long run of text without an @ costs linear time, not quadratic.
ADDRESS = re.compile(r"[^\s<>()\[\]{}\"',;:@]{1,64}@[^\s<>()\[\]{}\"',;:@]{1,255}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*")  # or punycode
_TEXT_LIMIT = 20_000  # characters of a report's own words: ample for any real bounce
_EXCHANGE_PREFIX = re.compile(r"\b(smtp|rfc-?822)=", re.IGNORECASE)  # "SMTP=ann@example.org"
_ADDRESS_TYPE = re.compile(r"^\s*([\w.-]+)\s*;\s*(.*)$", re.DOTALL)
# Where the copy of the returned message starts in a bounce that is one block of text.
_COPY_STARTS = re.compile(
    r"^[ \t>*=#-]*("
    r"below this line is a copy of the message|"
    r"this is a copy of the message|"
    r"(the )?original message( follows)?|"
    r"returned message|"
    r"unsent message below|"
    r"the (first \d+ lines|header|headers) of (the|your) (original )?message|"
    r"(a )?copy of (the|your) (original )?message|"
    r"message (text|header) follows|"
    r"original message headers?"
    r")\b",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN; ``recipient`` is a clean address or ``""``."""

    recipient: str
    action: str = "failed"
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""


@dataclass(frozen=True)
class ReturnedMail:
    kind: Kind
    message_id: str  # of the report itself
    envelope: str  # the report's To/Delivered-To/... values, joined
    original_headers: str  # the returned message's headers, as text
    recipients: tuple[RecipientStatus, ...] = ()
    feedback_type: str = ""  # ARF: abuse, fraud, not-spam...
    feedback_recipient: str = ""  # ARF: Original-Rcpt-To / Removed-Recipient
    sender: str = ""  # the report's From
    subject: str = ""
    return_path: str = ""  # ``<>`` for mail from a mail server's bounce machinery
    auto: tuple[str, ...] = ()  # "Auto-Submitted: auto-replied", "Precedence: bulk"...
    text: str = ""  # what the report says to people, without the returned message


def clean_address(value: str) -> str:
    """The address in a recipient field or line, without brackets or punctuation, or ``""``.

    ``rfc822; <Ann@Example.org>:`` -> ``Ann@Example.org``. Anything that is not an
    address (an X.400 name, a bare user name, ``<>``) gives ``""`` so nobody records a
    recipient that is only punctuation.
    """
    typed = _ADDRESS_TYPE.match(value)
    text = typed.group(2) if typed else value
    text = _EXCHANGE_PREFIX.sub("", text)
    match = ADDRESS.search(text)
    if not match:
        return ""
    address = match.group(0).strip(".!?`*")
    local, _, domain = address.rpartition("@")
    domain = domain.strip(".-")
    if not local or _CONTROL.search(local) or not _DOMAIN.fullmatch(domain):
        return ""
    return f"{local}@{domain}"


def _address_type(value: str) -> str:
    typed = _ADDRESS_TYPE.match(value)
    return typed.group(1).lower() if typed else ""


def _dsn_recipient(final: str, original: str) -> str:
    """The failed address: Original-Recipient (what we sent to) when the report gives it,
    else Final-Recipient when it is an Internet address. X.400 gateways, forwarders and
    internal relays rewrite the final one into something no reader would recognise."""
    original_address = clean_address(original) if _address_type(original) in ("rfc822", "") else ""
    final_address = clean_address(final) if _address_type(final) in ("rfc822", "") else ""
    return original_address or final_address


def _clean(value: object) -> str:
    return " ".join(str(value or "").split())


def _header(value: object) -> str:
    """A header as people read it: RFC 2047 words decoded, on one line."""
    try:
        return _clean(str(make_header(decode_header(str(value or "")))))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return _clean(value)


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
        final = _clean(group.get("Final-Recipient") or group.get("X-Actual-Recipient"))
        original = _clean(group.get("Original-Recipient"))
        action = _clean(group.get("Action")).lower()
        if not (final or original or action):
            continue
        out.append(
            RecipientStatus(
                recipient=_dsn_recipient(final, original),
                action=action.split()[0].rstrip(";,") if action else "failed",
                status=_clean(group.get("Status")),
                diagnostic=_clean(group.get("Diagnostic-Code")).split(";", 1)[-1].strip(),
                remote_mta=_clean(group.get("Remote-MTA")).split(";", 1)[-1].strip(),
            )
        )
    return tuple(out)


def _decode(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:  # a charset Python does not know (ansi_x3.110-1983...)
        return raw.decode("latin-1")


def _strip_html(html: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</h\d>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"&nbsp;|&#160;", " ", text).replace("&lt;", "<").replace("&gt;", ">")


def _human_text(msg: Message) -> str:
    """The report's own words: text parts outside any returned copy of our message.

    HTML is read only when there is no plain text (Microsoft 365 sends both). A
    single-part bounce is cut where the copy of the returned message starts.
    """
    plain: list[str] = []
    html: list[str] = []

    def walk(part: Message) -> None:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/delivery-status"):
            return
        if part.is_multipart():
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    walk(sub)
            return
        if ctype == "text/plain" or (ctype == "text/x-unknown" or not part.get("Content-Type")):
            plain.append(_decode(part))
        elif ctype == "text/html":
            html.append(_strip_html(_decode(part)))

    walk(msg)
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html)
    text = text[:_TEXT_LIMIT]
    cut = _COPY_STARTS.search(text)
    if cut and cut.start() > 0:
        text = text[: cut.start()]
    return text


def parse(raw: bytes) -> ReturnedMail:
    """Read one returned message; never raises on malformed input (kind ``other``)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    envelope = " ".join(_clean(v) for h in ENVELOPE_HEADERS for v in msg.get_all(h) or [])
    message_id = _clean(msg.get("Message-ID"))
    original = ""
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not original:
            original = _headers_text(part)
    base = ReturnedMail(
        "other",
        message_id,
        envelope,
        original,
        sender=_header(msg.get("From")),
        subject=_header(msg.get("Subject")),
        return_path=_clean(msg.get("Return-Path")),
        auto=tuple(f"{h}: {_clean(v)}" for h in AUTO_HEADERS for v in msg.get_all(h) or []),
        text=_human_text(msg),
    )
    report_type = (
        (msg.get_param("report-type") or "") if msg.get_content_type() == "multipart/report" else ""
    )
    report_type = str(report_type).lower()
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            recipients = _dsn_recipients(_status_fields(part))
            if recipients:
                return replace(base, kind="dsn", recipients=recipients)
        if ctype == "message/feedback-report" or (
            report_type == "feedback-report"
            and ctype == "text/plain"
            and part is not msg
            and "feedback-type" in str(part.get_payload()).lower()
        ):
            fields = _status_fields(part)
            first = fields[0] if fields else Message()
            rcpt = first.get("Original-Rcpt-To") or first.get("Removed-Recipient") or ""
            return replace(
                base,
                kind="arf",
                feedback_type=_clean(first.get("Feedback-Type")).lower(),
                feedback_recipient=clean_address(str(rcpt)) if rcpt else "",
            )
    return base
