"""A real SMTP server (aiosmtpd) in the test process that can be told how to misbehave."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.local import free_port as free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    session: int


@dataclass
class ScriptedHandler:
    """Accepts everything unless told otherwise, and remembers what arrived."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    data_reply: str | None = None
    messages_per_session: int | None = None  # then "421" on MAIL
    pipelining: bool = True  # advertise PIPELINING (RFC 2920) in the EHLO reply
    # For each MAIL: had the client already sent RCPT and DATA behind it (one write)?
    grouped: list[bool] = field(default_factory=list)
    _per_session: dict[int, int] = field(default_factory=dict)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        self.grouped.append(b"RCPT TO:" in waiting and b"DATA\r\n" in waiting)
        done = self._per_session.get(id(session), 0)
        if self.messages_per_session is not None and done >= self.messages_per_session:
            return "421 4.7.0 Too many messages on one connection, closing"
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self._per_session[id(session)] = self._per_session.get(id(session), 0) + 1
        self.received.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, id(session)
            )
        )
        return "250 2.0.0 Message accepted"

    @property
    def sessions(self) -> set[int]:
        return {r.session for r in self.received}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Server:
    """A running aiosmtpd server on 127.0.0.1 with ``handler`` and optional AUTH/STARTTLS."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        implicit_tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.handler = ScriptedHandler()
        self.auth_reply: str | None = None  # then AUTH fails with this reply, e.g. "454 ..."
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            self.credentials = credentials
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls is not None)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            kwargs.update(tls_context=context, require_starttls=True)
        if implicit_tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*implicit_tls)
            kwargs.update(ssl_context=context)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if self.auth_reply is not None:
            return AuthResult(success=False, handled=False, message=self.auth_reply)
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.credentials
        )
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
