"""Delivery through a real SMTP server, one connection reused across messages.

URL forms (``NEWSLETTER_SMTP_URL``)::

    smtp://user:pass@host:587?starttls=1&timeout=30   STARTTLS required, then AUTH
    smtps://user:pass@host:465                        implicit TLS
    smtp://host:25                                    plain (STARTTLS used if offered)

Query options: ``starttls`` (1/0/auto), ``timeout`` (seconds), ``verify`` (0 to
accept any certificate: tests only), ``cafile`` (extra CA certificates), ``helo``.

When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go in one write
and their three replies come back together: two round trips per message, not four.

Replies map to what a campaign must do next: 2xx sent; 4xx transient (try later);
5xx permanent for this recipient. What is not about the recipient raises instead:
unreachable, timed out, 421, a 4xx to AUTH or to MAIL FROM -> ``TransportUnavailable``;
bad login (535), a sender or session refused by policy (5.7.x, also when refused at RCPT)
-> ``TransportRejected``.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.errors import ConfigError, TransportError
from newsletter.mail.message import CrlfMessage, check_value
from newsletter.mail.transports.base import (
    ClosesOnExit,
    Delivery,
    DeliveryStatus,
    TransportRejected,
    TransportUnavailable,
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_OPTIONS = {"starttls", "timeout", "verify", "cafile", "helo"}
_POLICY = re.compile(r"^5\.7\.\d{1,3}\b")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool | None = None  # None: use it when the server offers it
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    verify: bool = True
    cafile: str | None = None
    helo: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse an ``smtp://`` / ``smtps://`` URL; any mistake is one clear ``ConfigError``."""
        shown = _redact(url)
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"bad SMTP URL {shown}: {exc}") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError(
                f"bad SMTP URL {shown}: it must start with smtp:// or smtps:// "
                "(or leave NEWSLETTER_SMTP_URL empty for the local outbox)"
            )
        if not parts.hostname:
            raise ConfigError(f"bad SMTP URL {shown}: no host name")
        if parts.path not in ("", "/"):
            raise ConfigError(f"bad SMTP URL {shown}: unexpected path {parts.path!r}")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - _OPTIONS
        if unknown:
            raise ConfigError(
                f"bad SMTP URL {shown}: unknown option(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(_OPTIONS))})"
            )
        option = {key: values[-1] for key, values in query.items()}
        implicit = parts.scheme == "smtps"
        starttls = _flag(shown, "starttls", option.get("starttls", "auto"), allow_auto=True)
        if implicit and starttls:
            raise ConfigError(f"bad SMTP URL {shown}: smtps:// is already TLS; drop starttls")
        try:
            timeout = float(option.get("timeout", "30"))
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise ConfigError(f"bad SMTP URL {shown}: timeout must be a number of seconds")
        username = unquote(parts.username) if parts.username else None
        if parts.password is not None and username is None:
            raise ConfigError(f"bad SMTP URL {shown}: a password without a user name")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=starttls,
            username=username,
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=timeout,
            verify=bool(_flag(shown, "verify", option.get("verify", "1"))),
            cafile=option.get("cafile") or None,
            helo=option.get("helo") or None,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _flag(shown: str, name: str, value: str, *, allow_auto: bool = False) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    if allow_auto and lowered in ("", "auto"):
        return None
    raise ConfigError(f"bad SMTP URL {shown}: {name} must be 1 or 0, not {value!r}")


def _redact(url: str) -> str:
    """The URL as it may be printed: never the password."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class _Disconnected(TransportUnavailable):
    """The server went away before the message itself was sent: safe to retry."""


class SmtpTransport(ClosesOnExit):
    """One SMTP session reused for every message; not shared between threads."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpTransport:
        return cls(SmtpConfig.from_url(url))

    # -- the session -------------------------------------------------------------------

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        conn: smtplib.SMTP | None = None
        try:
            if cfg.implicit_tls:
                conn = smtplib.SMTP_SSL(
                    cfg.host,
                    cfg.port,
                    local_hostname=cfg.helo,
                    timeout=cfg.timeout,
                    context=cfg.tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    cfg.host, cfg.port, local_hostname=cfg.helo, timeout=cfg.timeout
                )
            conn.ehlo_or_helo_if_needed()
            if not cfg.implicit_tls and cfg.starttls is not False:
                if conn.has_extn("starttls"):
                    conn.starttls(context=cfg.tls_context())
                    conn.ehlo()
                elif cfg.starttls:
                    raise TransportRejected(f"{cfg.where} does not offer STARTTLS (starttls=1)")
            if cfg.username is not None:
                if not conn.has_extn("auth"):
                    raise TransportRejected(
                        f"{cfg.where} offers no login (AUTH) on this connection"
                        + ("" if cfg.implicit_tls or cfg.starttls else "; try starttls=1")
                    )
                conn.login(cfg.username, cfg.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(conn)
            # 454 is the server's trouble checking the password (try later), not a bad login.
            kind = TransportRejected if exc.smtp_code >= 500 else TransportUnavailable
            raise kind(
                f"{cfg.where} refused the login for {cfg.username}: {exc.smtp_code} "
                f"{_text(exc.smtp_error)}"
            ) from None
        except TransportError:
            _close_quietly(conn)
            raise
        except ssl.SSLCertVerificationError as exc:
            _close_quietly(conn)
            raise TransportRejected(
                f"the TLS certificate of {cfg.where} cannot be trusted: {exc.verify_message}"
            ) from None
        except smtplib.SMTPConnectError as exc:
            _close_quietly(conn)
            raise TransportUnavailable(
                f"{cfg.where} would not talk to us: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            _close_quietly(conn)
            kind = TransportRejected if exc.smtp_code >= 500 else TransportUnavailable
            raise kind(f"{cfg.where} answered {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS failure
            _close_quietly(conn)
            raise TransportUnavailable(
                f"cannot reach the SMTP server {cfg.where}: {exc or type(exc).__name__}"
            ) from None
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _close_quietly(conn)

    def _unavailable(self, message: str) -> TransportUnavailable:
        self._drop()
        return TransportUnavailable(f"{self.config.where}: {message}")

    def send(self, sender: str, recipient: str, message: bytes) -> Delivery:
        check_value("envelope sender", sender)
        check_value("envelope recipient", recipient)
        reused = self._conn is not None
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._open()
            try:
                return self._transaction(self._conn, sender, recipient, message)
            except _Disconnected as exc:
                # An idle connection the server closed: reconnect once and try again.
                self._drop()
                if attempt == 2 or not reused:
                    raise TransportUnavailable(
                        f"{self.config.where} closed the connection: {exc}"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(
        self, conn: smtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> Delivery:
        try:
            envelope = _envelope_commands(sender, recipient)
        except UnicodeEncodeError:
            return Delivery(
                DeliveryStatus.PERMANENT, 553, "5.6.7 non-ASCII address: needs SMTPUTF8"
            )
        try:
            if conn.has_extn("pipelining"):
                # RFC 2920: MAIL, RCPT and DATA in one write, three replies in one read.
                conn.send(envelope)
                mail_code, mail_reply = conn.getreply()
                rcpt_code, rcpt_reply = conn.getreply()
                data_code, data_reply = conn.getreply()
            else:
                mail_code, mail_reply = conn.mail(sender)
                rcpt_code, rcpt_reply, data_code, data_reply = 503, b"", 503, b""
                if mail_code < 400:
                    rcpt_code, rcpt_reply = conn.rcpt(recipient)
                    if rcpt_code < 400:
                        data_code, data_reply = conn.docmd("DATA")
        except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            raise _Disconnected(str(exc) or type(exc).__name__) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._unavailable(str(exc) or type(exc).__name__) from None
        refused = self._envelope_refused(
            conn, sender, (mail_code, _text(mail_reply)), (rcpt_code, _text(rcpt_reply)), data_code
        )
        if refused is not None:
            return refused
        if data_code != 354:
            return self._final(conn, data_code, _text(data_reply))
        try:
            conn.send(_dot_stuffed(message))
            code, reply = conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            # The message may or may not have been taken: report, never resend blindly.
            raise self._unavailable(f"lost during DATA: {exc or type(exc).__name__}") from None
        return self._final(conn, code, _text(reply))

    def _envelope_refused(
        self,
        conn: smtplib.SMTP,
        sender: str,
        mail: tuple[int, str],
        rcpt: tuple[int, str],
        data_code: int,
    ) -> Delivery | None:
        """The delivery when MAIL or RCPT failed (None: both accepted).

        A pipelining server answers every command of the group, so a DATA that it
        accepted in spite of the refused recipient is ended with an empty message.
        """
        (mail_code, mail_text), (rcpt_code, rcpt_text) = mail, rcpt
        if mail_code < 400 and rcpt_code < 400:
            return None
        if 421 in (mail_code, rcpt_code, data_code):
            raise self._unavailable(f"421 {mail_text if mail_code == 421 else rcpt_text}")
        if data_code == 354:
            self._abandon_data(conn)
        if mail_code >= 500:
            self._reset(conn)
            raise TransportRejected(
                f"{self.config.where} refused the sender {sender}: {mail_code} {mail_text}"
            )
        if mail_code >= 400:
            # About our sender or session (a rate limit, say), not this recipient: charging
            # every recipient a retry would use up their budgets while the server cools off.
            raise self._unavailable(f"the sender {sender} was deferred: {mail_code} {mail_text}")
        if rcpt_code == 530 or (
            rcpt_code >= 500 and _POLICY.match(rcpt_text) and "relay" in rcpt_text.lower()
        ):
            self._reset(conn)
            raise TransportRejected(
                f"{self.config.where} will not relay for us: {rcpt_code} {rcpt_text}"
            )
        if _about_sender(rcpt_text, sender):
            self._reset(conn)
            refusal = f"the sender {sender} (at RCPT, so for every recipient): {rcpt_code}"
            if rcpt_code < 500:  # for now (greylisting, a lookup that timed out): back off
                raise self._unavailable(f"{refusal} {rcpt_text}")
            raise TransportRejected(f"{self.config.where} refused {refusal} {rcpt_text}")
        self._reset(conn)
        status = DeliveryStatus.TRANSIENT if rcpt_code < 500 else DeliveryStatus.PERMANENT
        return Delivery(status, rcpt_code, rcpt_text)

    def _abandon_data(self, conn: smtplib.SMTP) -> None:
        try:
            conn.send(b".\r\n")
            conn.getreply()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _final(self, conn: smtplib.SMTP, code: int, text: str) -> Delivery:
        """What the reply to the message (or to DATA itself) means for this recipient."""
        if code == 421:
            raise self._unavailable(f"421 {text}")
        if 200 <= code < 300:
            return Delivery(DeliveryStatus.SENT, code, text)
        self._reset(conn)
        if code >= 500 and _POLICY.match(text):
            raise TransportRejected(f"{self.config.where} refused our message: {code} {text}")
        status = DeliveryStatus.TRANSIENT if code < 500 else DeliveryStatus.PERMANENT
        return Delivery(status, code, text)

    def _reset(self, conn: smtplib.SMTP) -> None:
        """Abort the transaction so the connection can carry the next message."""
        try:
            code, _ = conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()
            return
        if code != 250:
            self._drop()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()


def _about_sender(text: str, sender: str) -> bool:
    """Is a RCPT refusal really about our sender (Postfix checks sender rules at RCPT)?

    ``553 5.7.1 <bounces+...>: Sender address rejected: not owned by user`` would
    come back for every recipient, so it must not be taken as each one's failure;
    ``5.7.1 Recipient address rejected: Access denied`` is about the recipient.
    """
    lowered = text.lower()
    if "sender address rejected" in lowered:
        return True
    return bool(_POLICY.match(text)) and ("sender" in lowered or sender.lower() in lowered)


def _envelope_commands(sender: str, recipient: str) -> bytes:
    """MAIL, RCPT and DATA as one write (addresses already checked for CR/LF)."""
    return f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii")


# The start of a line that begins with a dot. A compiled pattern finds it faster than
# ``bytes.find`` in a body whose every line ends in "\n" (``bench/send.py`` measures
# the sending path).
_DOT_LINE = re.compile(rb"\n\.")


def _dot_stuffed(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, dot-stuffed, ended by a lone dot.

    smtplib's own ``data()`` runs a regular expression over every message and sends
    bare LFs of a bytes message as they are. Here a message from ``build_message``
    is known to be CRLF throughout; any other is normalised with two replacements.
    The few lines that start with a dot (MJML's style sheet, a soft line break
    before ".org") are stuffed by joining the slices around them: one copy.
    """
    if not isinstance(message, CrlfMessage) and message.count(b"\n") != message.count(b"\r\n"):
        message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    view = memoryview(message)
    pieces: list[bytes | memoryview] = [b"."] if message.startswith(b".") else []
    start = 0
    for line in _DOT_LINE.finditer(message):
        pieces += (view[start : line.start() + 1], b".")
        start = line.start() + 1
    pieces.append(view[start:])
    if not message.endswith(b"\r\n"):
        pieces.append(b"\r\n")
    pieces.append(b".\r\n")
    return b"".join(pieces)


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
