"""Builds the bytes of one email: multipart/alternative, list headers, DKIM last.

Why not ``email.message``: a campaign builds thousands of nearly identical
messages, and the stdlib re-folds and re-encodes everything for each one. Here
everything that is the same for a whole campaign (From, List-Id, boundaries, part
headers, and the quoted-printable form of every body line that repeats) is made once
per ``Identity``; a message then costs a few look-ups, one hash and the signature.
Tests parse every shape back with the stdlib parser in strict mode.

Rules kept here (RFC 5322, 2045-2047, 2369, 8058):
* text/plain first, then text/html, both UTF-8 quoted-printable (lines <= 76);
* exactly one From, To, Subject, Date, Message-ID; no header line over 998;
* ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` written verbatim, never as
  encoded words; ``List-Unsubscribe-Post`` only for an https:// URL (RFC 8058 3.1);
* non-ASCII names and subjects as RFC 2047 encoded words;
* any CR, LF or other control character in a value raises ``HeaderInjection``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from functools import cached_property, lru_cache

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import HeaderInjection, InvalidAddress
from newsletter.mail.dkim import Signer
from newsletter.mail.qp import Filled, MessageError, PartTemplate, _PartEncoder

__all__ = [
    "Filled",
    "Identity",
    "MessageError",
    "PartTemplate",
    "build_message",
    "check_address",
]

MAX_LINE = 998

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
)
_PHRASE_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_URI = re.compile(r"[!-;=?-~]+")  # printable ASCII without space, '<' and '>'
_MSGID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")

# Set by the caller's own headers only; ``extra_headers`` may never repeat them.
_RESERVED = frozenset(
    (
        "from", "to", "cc", "bcc", "sender", "subject", "date", "message-id", "reply-to",
        "mime-version", "content-type", "content-transfer-encoding", "list-id",
        "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "auto-submitted",
        "precedence", "return-path", "dkim-signature",
    )
)  # fmt: skip


def check_value(what: str, value: str) -> str:
    """Refuse any character that could end a header line (CR, LF and other controls)."""
    found = _BREAKS.search(value)
    if found:
        kind = "a line break" if found.group() in "\r\n\x85\u2028\u2029" else "a control character"
        raise HeaderInjection(f"{what} contains {kind} ({found.group()!r}): {value[:60]!r}")
    return value


def check_address(address: str, what: str = "address") -> str:
    """A syntactically valid ASCII address (IDN domains become punycode), or ``InvalidAddress``."""
    check_value(what, address)
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match and len(address) <= 254 and len(match["local"]) <= 64:
        return address
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{what} {address!r} is not a usable email address: {exc}") from None
    if not valid.ascii_email:  # pragma: no cover - allow_smtputf8=False guarantees it
        raise InvalidAddress(f"{what} {address!r} needs SMTPUTF8, which is not supported")
    return valid.ascii_email


def _encoded_words(text: str, width: int = 66) -> list[str]:
    """RFC 2047 words (UTF-8) of at most ``width`` characters, never splitting a character.

    66 keeps "Subject: " plus the first word within 78 columns. Display names use one
    word of up to 75 where they can: decoders disagree about the space between two
    encoded words inside a name (RFC 2047 drops it, Python's parser keeps one).
    """
    room = width - len("=?utf-8?q??=")
    mostly_ascii = sum(ch > "\x7f" for ch in text) * 3 <= len(text)
    words: list[str] = []
    if mostly_ascii:
        current = ""
        for ch in text:
            piece = "".join(
                chr(b) if b in _Q_SAFE else ("_" if b == 0x20 else f"={b:02X}")
                for b in ch.encode("utf-8")
            )
            if len(current) + len(piece) > room:
                words.append(f"=?utf-8?q?{current}?=")
                current = ""
            current += piece
        words.append(f"=?utf-8?q?{current}?=")
        return words
    chunk = ""
    limit = room // 4 * 3  # base64: every 3 bytes become 4 characters
    for ch in text:
        if len((chunk + ch).encode("utf-8")) > limit:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?=")
            chunk = ""
        chunk += ch
    words.append(f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?=")
    return words


@lru_cache(maxsize=1024)
def _phrase(name: str) -> str:
    """A display name: bare atoms, a quoted string, or encoded words when not ASCII."""
    if _PHRASE_ATOMS.fullmatch(name) and "=?" not in name:
        return name
    if name.isascii() and "=?" not in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\r\n ".join(_encoded_words(name, 75))


def _mailbox(what: str, name: str, address: str) -> str:
    address = check_address(address, what)
    name = " ".join(check_value(f"{what} name", name).split())
    return f"{_phrase(name)} <{address}>" if name else address


@lru_cache(maxsize=256)
def _unstructured(value: str) -> str:
    """Free text (Subject, custom fields): verbatim if plain ASCII, else encoded words."""
    if value.isascii() and "=?" not in value and len(value) <= 900:
        return value
    return "\r\n ".join(_encoded_words(value))


def _uri(what: str, value: str, schemes: tuple[str, ...]) -> str:
    check_value(what, value)
    if not value.startswith(schemes) or not _URI.fullmatch(value):
        raise MessageError(
            f"{what} must be a {' or '.join(schemes)} URL in plain ASCII without spaces or "
            f"angle brackets: {value[:80]!r}"
        )
    return value


_date_cache: tuple[int, str] = (0, "")


def _date(when: datetime | None) -> str:
    global _date_cache
    if when is not None:
        return format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
    return _date_cache[1]


@dataclass(frozen=True)
class _Skeleton:
    from_line: bytes
    reply_to_line: bytes
    list_id_line: bytes
    feedback_line: bytes
    content_type_line: bytes
    text_head: bytes
    html_head: bytes
    tail: bytes
    text: _PartEncoder
    html: _PartEncoder


@dataclass(frozen=True)
class Identity:
    """Who a campaign's messages come from; build one per campaign and reuse it.

    ``list_id`` is the bare list identifier (``briefings.example.org``) or a
    ``Name <id>`` form; ``feedback_id`` is the whole Feedback-ID value, stable for
    the campaign (``campaign:kind:sender``), never per message.
    """

    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    list_id: str = ""
    feedback_id: str = ""
    domain: str = ""

    def __post_init__(self) -> None:
        check_address(self.from_address, "sender address")
        check_value("sender name", self.from_name)
        if self.reply_to:
            check_address(self.reply_to, "reply-to address")
        check_value("list id", self.list_id)
        check_value("feedback id", self.feedback_id)
        if not self.feedback_id.isascii():
            raise MessageError(f"the Feedback-ID must be ASCII: {self.feedback_id!r}")
        if not self.domain:
            object.__setattr__(self, "domain", self.from_address.rpartition("@")[2])
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", self.domain):
            raise MessageError(f"not a usable Message-ID domain: {self.domain!r}")
        self._list_id_value()  # refuse a bad List-Id now, not at the first message

    def _list_id_value(self) -> str:
        list_id = self.list_id.strip()
        if not list_id:
            return ""
        name, _, ident = list_id.rpartition("<")
        ident = ident.rstrip(">").strip()
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+", ident) or "." not in ident:
            raise MessageError(f"list id must look like briefings.example.org: {list_id!r}")
        name = " ".join(name.split())
        return f"{_phrase(name)} <{ident}>" if name else f"<{ident}>"

    @cached_property
    def _skeleton(self) -> _Skeleton:
        boundary = f"=_{secrets.token_hex(12)}"  # '=_' cannot occur in quoted-printable
        part = '--{b}\r\nContent-Type: text/{t}; charset="utf-8"\r\n'
        part += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        reply = f"Reply-To: {_mailbox('reply-to', '', self.reply_to)}\r\n" if self.reply_to else ""
        list_id = self._list_id_value()
        return _Skeleton(
            from_line=f"From: {_mailbox('sender', self.from_name, self.from_address)}\r\n".encode(),
            reply_to_line=reply.encode(),
            list_id_line=f"List-Id: {list_id}\r\n".encode() if list_id else b"",
            feedback_line=(
                f"Feedback-ID: {self.feedback_id}\r\n".encode() if self.feedback_id else b""
            ),
            content_type_line=(
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode()
            ),
            text_head=part.format(b=boundary, t="plain").encode(),
            html_head=part.format(b=boundary, t="html").encode(),
            tail=f"--{boundary}--\r\n".encode(),
            text=_PartEncoder(),
            html=_PartEncoder(),
        )


_MIME = b"MIME-Version: 1.0\r\n"


class CrlfMessage(bytes):
    """A message as ``build_message`` makes it: every line already ends in CRLF.

    The type carries that fact to the transport, across process boundaries too (it
    pickles as itself), so SMTP need not search each copy for bare LFs: a noticeable
    share of the sending process's CPU, which bounds the rate it sends at.
    """


_AUTO = b"Auto-Submitted: auto-generated\r\n"
_BULK = b"Precedence: bulk\r\n"
_ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"


def _extra(headers: Mapping[str, str]) -> list[bytes]:
    lines = []
    for name, value in headers.items():
        check_value("header name", name)
        if not _HEADER_NAME.fullmatch(name):
            raise MessageError(f"not a valid header name: {name!r}")
        if name.lower() in _RESERVED:
            raise MessageError(f"the {name} header is set by the message builder itself")
        lines.append(f"{name}: {_unstructured(check_value(name, value))}\r\n".encode())
    return lines


def build_message(
    identity: Identity,
    *,
    to_address: str,
    to_name: str,
    subject: str,
    html: str | Filled,
    text: str | Filled,
    unsubscribe_url: str | None,
    unsubscribe_mailto: str | None,
    message_id: str | None = None,
    return_path: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    signer: Signer | None = None,
    date: datetime | None = None,
) -> CrlfMessage:
    """The complete message as CRLF bytes, DKIM-signed last when ``signer`` is given.

    A message with an unsubscribe URL is bulk mail (List-Id, RFC 8058 one-click
    headers when the URL is https://, ``Precedence: bulk``); without one it is
    transactional (a confirmation, a receipt). ``return_path`` is only validated: the
    envelope sender belongs to the transport, and RFC 5321 leaves the Return-Path
    field to the final delivery server.
    """
    sk = identity._skeleton
    if return_path is not None:
        check_address(return_path, "return path")
    if message_id is None:
        message_id = make_msgid(domain=identity.domain)
    else:
        check_value("Message-ID", message_id)
        if not message_id.startswith("<"):
            message_id = f"<{message_id}>"
        if not _MSGID.fullmatch(message_id):
            raise MessageError(f"not a valid Message-ID: {message_id!r}")
    lines = [
        sk.from_line,
        f"To: {_mailbox('recipient', to_name, to_address)}\r\n".encode(),
        f"Subject: {_unstructured(check_value('subject', subject))}\r\n".encode(),
        f"Date: {_date(date)}\r\n".encode(),
        f"Message-ID: {message_id}\r\n".encode(),
        _MIME,
    ]
    if sk.reply_to_line:
        lines.append(sk.reply_to_line)
    bulk = unsubscribe_url is not None or unsubscribe_mailto is not None
    if bulk:
        if sk.list_id_line:
            lines.append(sk.list_id_line)
        targets = []
        if unsubscribe_url is not None:
            targets.append(_uri("unsubscribe URL", unsubscribe_url, ("https://", "http://")))
        if unsubscribe_mailto is not None:
            targets.append(_uri("unsubscribe mailto", unsubscribe_mailto, ("mailto:",)))
        lines.append(f"List-Unsubscribe: <{'>, <'.join(targets)}>\r\n".encode())
        if unsubscribe_url is not None and unsubscribe_url.startswith("https://"):
            # RFC 8058 3.1: one-click only for an HTTPS URI (a local http:// demo gets none).
            lines.append(_ONE_CLICK)
    if sk.feedback_line:
        lines.append(sk.feedback_line)
    lines.append(_AUTO)
    if bulk:
        lines.append(_BULK)
    if extra_headers:
        lines.extend(_extra(extra_headers))
    lines.append(sk.content_type_line)
    for line in lines:
        if len(line) > MAX_LINE + 2 and max(map(len, line.split(b"\r\n"))) > MAX_LINE:
            name = line.partition(b":")[0].decode()
            raise MessageError(f"the {name} header would be longer than {MAX_LINE} characters")

    text_qp = sk.text.encode(text)
    html_qp = sk.html.encode(html)
    body = (sk.text_head, text_qp, sk.html_head, html_qp, sk.tail)
    if signer is None:
        return CrlfMessage(b"".join((*lines, b"\r\n", *body)))
    # The body is built in relaxed canonical form (see _quote), so it is hashed as it
    # is: no second, canonicalised copy of every message.
    digest = hashlib.sha256()
    for part in body:
        digest.update(part)
    bh = digest.digest()
    return CrlfMessage(b"".join((signer.signature_fields(lines, bh), *lines, b"\r\n", *body)))
