"""Delivery through a real SMTP server (aiosmtpd in this process)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import ConfigError
from newsletter.mail.dkim import Signer
from newsletter.mail.message import CrlfMessage, Identity, build_message
from newsletter.mail.transports.base import DeliveryStatus, TransportRejected, TransportUnavailable
from newsletter.mail.transports.smtp import SmtpConfig, SmtpTransport, _dot_stuffed
from tests.mail.conftest import parse
from tests.mail.dkimcheck import verify_all
from tests.mail.smtpserver import Server, free_port, self_signed

SENDER = "bounces@example.org"


def message_for(identity: Identity, to: str, signer: Signer | None = None) -> bytes:
    return build_message(
        identity,
        to_address=to,
        to_name="Zoë Reader",
        subject="Briefing 112: Türkiye",
        html="<p>Dear Zoë</p>\n.\n<p>.leading dot</p>\n",
        text="Dear Zoë\n.\n.leading dot\n",
        unsubscribe_url="https://news.example.org/u/" + "a" * 210,
        unsubscribe_mailto="mailto:briefings@example.org?subject=unsubscribe",
        signer=signer,
    )


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


def transport_for(server: Server, query: str = "timeout=5") -> SmtpTransport:
    return SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?{query}")


def test_message_arrives_intact_and_still_verifies(
    server: Server,
    identity: Identity,
    signer: Signer,
    dnsfunc: Callable[..., bytes | None],
    records: dict[str, str],
) -> None:
    message = message_for(identity, "zoe@example.com", signer)
    with transport_for(server) as transport:
        result = transport.send(SENDER, "zoe@example.com", message)
    assert result.status is DeliveryStatus.SENT and result.code == 250
    (got,) = server.handler.received
    assert (got.sender, got.recipients) == (SENDER, ["zoe@example.com"])
    assert got.data == message
    assert parse(got.data).get_body(("plain",)).get_content() == "Dear Zoë\r\n.\r\n.leading dot\r\n"  # type: ignore[union-attr]
    assert dkim.DKIM(got.data).verify(idx=0, dnsfunc=dnsfunc)
    assert dkim.DKIM(got.data).verify(idx=1, dnsfunc=dnsfunc)
    assert sorted(verify_all(got.data, records)) == ["ed25519-sha256", "rsa-sha256"]


def test_lf_messages_and_leading_dots_arrive_as_sent(server: Server) -> None:
    raw = b"From: a@example.org\nTo: b@example.com\nSubject: dots\n\n.\n..two\n.end"
    with transport_for(server) as transport:
        assert transport.send(SENDER, "b@example.com", raw).status is DeliveryStatus.SENT
    (got,) = server.handler.received
    assert got.data == raw.replace(b"\n", b"\r\n") + b"\r\n"


@given(
    lines=st.lists(
        st.sampled_from([b"", b".", b"..", b".x", b"a.b", b"\xc3\xab", b" ."]), min_size=1
    )
)
def test_dot_stuffing_is_rfc_5321_for_any_message(lines: list[bytes]) -> None:
    """RFC 5321 4.5.2: CRLF line ends, one more dot before each line that starts with a
    dot, then the lone dot; the same whether or not the message comes typed as CRLF."""
    crlf = b"".join(line + b"\r\n" for line in lines)
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    expected = b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"
    assert _dot_stuffed(CrlfMessage(crlf)) == expected
    assert _dot_stuffed(crlf) == expected
    assert _dot_stuffed(b"".join(line + b"\n" for line in lines)) == expected


def test_one_connection_carries_many_messages(server: Server, identity: Identity) -> None:
    with transport_for(server) as transport:
        for n in range(4):
            to = f"reader{n}@example.com"
            assert (
                transport.send(SENDER, to, message_for(identity, to)).status is DeliveryStatus.SENT
            )
    assert len(server.handler.received) == 4
    assert len(server.handler.sessions) == 1


def test_4xx_is_transient_and_5xx_permanent_and_the_session_goes_on(
    server: Server, identity: Identity
) -> None:
    server.handler.rcpt_replies = {
        "full@example.com": "452 4.2.2 Mailbox full",
        "gone@example.com": "550 5.1.1 No such user here",
    }
    with transport_for(server) as transport:
        full = transport.send(SENDER, "full@example.com", message_for(identity, "full@example.com"))
        gone = transport.send(SENDER, "gone@example.com", message_for(identity, "gone@example.com"))
        fine = transport.send(SENDER, "ok@example.com", message_for(identity, "ok@example.com"))
    assert (full.status, full.code) == (DeliveryStatus.TRANSIENT, 452)
    assert "Mailbox full" in full.reply
    assert (gone.status, gone.code) == (DeliveryStatus.PERMANENT, 550)
    assert "No such user" in gone.reply
    assert fine.status is DeliveryStatus.SENT
    assert [r.recipients for r in server.handler.received] == [["ok@example.com"]]
    assert len(server.handler.sessions) == 1


def test_data_replies_are_classified_too(server: Server, identity: Identity) -> None:
    with transport_for(server) as transport:
        server.handler.data_reply = "451 4.3.0 Queue busy"
        busy = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        server.handler.data_reply = "552 5.3.4 Message too big"
        big = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        server.handler.data_reply = "554 5.7.1 Rejected by policy: our IP is listed"
        with pytest.raises(TransportRejected, match=r"5\.7\.1"):
            transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
    assert (busy.status, busy.code) == (DeliveryStatus.TRANSIENT, 451)
    assert (big.status, big.code) == (DeliveryStatus.PERMANENT, 552)


def test_sender_refused_by_policy_stops_the_campaign(server: Server, identity: Identity) -> None:
    server.handler.mail_reply = "550 5.7.1 Sender not allowed"
    with transport_for(server) as transport, pytest.raises(TransportRejected, match="sender"):
        transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))


def test_421_makes_the_transport_unavailable_then_it_reconnects(
    server: Server, identity: Identity
) -> None:
    server.handler.messages_per_session = 2
    with transport_for(server) as transport:
        for to in ("a@example.com", "b@example.com"):
            assert (
                transport.send(SENDER, to, message_for(identity, to)).status is DeliveryStatus.SENT
            )
        with pytest.raises(TransportUnavailable, match="421"):
            transport.send(SENDER, "c@example.com", message_for(identity, "c@example.com"))
        again = transport.send(SENDER, "c@example.com", message_for(identity, "c@example.com"))
    assert again.status is DeliveryStatus.SENT
    assert len(server.handler.received) == 3
    assert len(server.handler.sessions) == 2


def test_a_dropped_connection_is_reopened(identity: Identity) -> None:
    port = free_port()
    first = Server()
    first.port = port
    first.controller.port = port
    with first:
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?timeout=5")
        assert transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
    second = Server()
    second.controller.port = port
    with second:
        result = transport.send(SENDER, "b@example.com", message_for(identity, "b@example.com"))
        transport.close()
    assert result.status is DeliveryStatus.SENT
    assert [r.recipients for r in second.handler.received] == [["b@example.com"]]


def test_pipelining_server_gets_each_envelope_in_one_write(
    server: Server, identity: Identity
) -> None:
    with transport_for(server) as transport:
        for n in range(3):
            to = f"reader{n}@example.com"
            assert transport.send(SENDER, to, message_for(identity, to)).status == "sent"
    assert server.handler.grouped == [True, True, True]
    assert [r.recipients for r in server.handler.received] == [
        [f"reader{n}@example.com"] for n in range(3)
    ]


def test_without_pipelining_commands_go_one_at_a_time(identity: Identity) -> None:
    with Server() as server:
        server.handler.pipelining = False
        server.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
        with transport_for(server) as transport:
            for to in ("a@example.com", "gone@example.com", "b@example.com"):
                transport.send(SENDER, to, message_for(identity, to))
        assert server.handler.grouped == [False, False, False]
        assert [r.recipients for r in server.handler.received] == [
            ["a@example.com"],
            ["b@example.com"],
        ]


def test_refused_recipient_inside_a_pipelined_group(server: Server, identity: Identity) -> None:
    """DATA is refused for lack of a recipient; the next group on the connection still works."""
    server.handler.rcpt_replies.update(
        {
            "busy@example.com": "452 4.2.2 Mailbox full, try later",
            "gone@example.com": "550 5.1.1 No such user",
        }
    )
    sent = ["ok1@example.com", "busy@example.com", "gone@example.com", "ok2@example.com"]
    with transport_for(server) as transport:
        results = [transport.send(SENDER, to, message_for(identity, to)) for to in sent]
    assert [(r.status, r.code) for r in results] == [
        (DeliveryStatus.SENT, 250),
        (DeliveryStatus.TRANSIENT, 452),
        (DeliveryStatus.PERMANENT, 550),
        (DeliveryStatus.SENT, 250),
    ]
    assert "No such user" in results[2].reply
    assert all(server.handler.grouped)
    assert [r.recipients for r in server.handler.received] == [
        ["ok1@example.com"],
        ["ok2@example.com"],
    ]
    assert len(server.handler.sessions) == 1


def test_refused_relay_and_deferred_sender_inside_a_pipelined_group(
    server: Server, identity: Identity
) -> None:
    server.handler.rcpt_replies["far@example.net"] = "554 5.7.1 Relay access denied"
    with transport_for(server) as transport:
        with pytest.raises(TransportRejected, match="relay"):
            transport.send(SENDER, "far@example.net", message_for(identity, "far@example.net"))
        server.handler.mail_reply = "451 4.7.1 Sender rate limit exceeded"
        with pytest.raises(TransportUnavailable, match=r"451 4\.7\.1 Sender rate limit"):
            transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        server.handler.mail_reply = None
        ok = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert ok.status is DeliveryStatus.SENT
    assert [r.recipients for r in server.handler.received] == [["a@example.com"]]


@pytest.mark.parametrize("pipelining", [True, False])
def test_sender_refused_at_rcpt_stops_or_defers_the_campaign_but_recipient_policy_does_not(
    identity: Identity, pipelining: bool
) -> None:
    verp = "bounces+c1-s2-abcdefghijklmnop@example.org"
    with Server() as server:
        server.handler.pipelining = pipelining
        server.handler.rcpt_replies = {
            "denied@example.com": (
                "554 5.7.1 <denied@example.com>: Recipient address rejected: Access denied"
            ),
            "a@example.com": (
                f"553 5.7.1 <{verp}>: Sender address rejected: not owned by user news@example.org"
            ),
            "b@example.com": f"550 5.7.1 <{verp}>... Not allowed to send from here",
            "c@example.com": f"450 4.1.8 <{verp}>: Sender address rejected: Domain not found",
        }
        with transport_for(server) as transport:
            denied = transport.send(
                verp, "denied@example.com", message_for(identity, "d@example.com")
            )
            assert (denied.status, denied.code) == (DeliveryStatus.PERMANENT, 554)
            for to in ("a@example.com", "b@example.com"):
                with pytest.raises(TransportRejected, match="refused the sender") as caught:
                    transport.send(verp, to, message_for(identity, to))
                assert verp in str(caught.value)
            # The same refusal for now: back off, charging no recipient a retry.
            with pytest.raises(TransportUnavailable, match="Sender address rejected"):
                transport.send(verp, "c@example.com", message_for(identity, "c@example.com"))
            ok = transport.send(verp, "ok@example.com", message_for(identity, "ok@example.com"))
        assert ok.status is DeliveryStatus.SENT
        assert [r.recipients for r in server.handler.received] == [["ok@example.com"]]


def test_sender_deferred_at_mail_is_unavailable_not_a_recipient_failure(
    identity: Identity,
) -> None:
    with Server() as server:
        server.handler.pipelining = False
        server.handler.mail_reply = "451 4.7.1 Sender rate limit exceeded"
        with transport_for(server) as transport:
            with pytest.raises(TransportUnavailable, match="rate limit"):
                transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
            server.handler.mail_reply = None
            ok = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert ok.status is DeliveryStatus.SENT


def test_refused_connection_is_unavailable(identity: Identity) -> None:
    transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{free_port()}?timeout=2")
    with pytest.raises(TransportUnavailable, match="cannot reach"):
        transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))


def test_silent_server_times_out(identity: Identity) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}?timeout=0.3")
        with pytest.raises(TransportUnavailable):
            transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))


def test_login_and_bad_login(identity: Identity) -> None:
    with Server(credentials=("mailer", "s3cret:/@")) as server:
        good = SmtpTransport.from_url(
            f"smtp://mailer:s3cret%3A%2F%40@127.0.0.1:{server.port}?starttls=0&timeout=5"
        )
        with good:
            sent = good.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert sent.status is DeliveryStatus.SENT
        bad = SmtpTransport.from_url(f"smtp://mailer:wrong@127.0.0.1:{server.port}?timeout=5")
        with pytest.raises(TransportRejected, match="535") as caught:
            bad.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert "wrong" not in str(caught.value)


def test_temporary_login_failure_is_unavailable_not_a_rejection(identity: Identity) -> None:
    with Server(credentials=("mailer", "pw")) as server:
        server.auth_reply = "454 4.7.0 Temporary authentication failure"
        transport = SmtpTransport.from_url(
            f"smtp://mailer:pw@127.0.0.1:{server.port}?starttls=0&timeout=5"
        )
        with pytest.raises(TransportUnavailable, match="454"):
            transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        server.auth_reply = None
        with transport:
            sent = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert sent.status is DeliveryStatus.SENT


def test_starttls_with_verified_certificate_and_login(tmp_path: Path, identity: Identity) -> None:
    cert, key = self_signed(tmp_path)
    with Server(credentials=("mailer", "pw"), tls=(cert, key)) as server:
        url = f"smtp://mailer:pw@127.0.0.1:{server.port}?starttls=1&timeout=5&cafile={cert}"
        with SmtpTransport.from_url(url) as transport:
            sent = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
        assert sent.status is DeliveryStatus.SENT
        untrusted = SmtpTransport.from_url(f"smtp://127.0.0.1:{server.port}?starttls=1&timeout=5")
        with pytest.raises(TransportRejected, match="certificate"):
            untrusted.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))


def test_implicit_tls(tmp_path: Path, identity: Identity) -> None:
    cert, key = self_signed(tmp_path)
    with Server(implicit_tls=(cert, key)) as server:
        url = f"smtps://127.0.0.1:{server.port}?timeout=5&cafile={cert}"
        with SmtpTransport.from_url(url) as transport:
            sent = transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))
    assert sent.status is DeliveryStatus.SENT
    assert len(server.handler.received) == 1


def test_required_starttls_missing_is_refused(server: Server, identity: Identity) -> None:
    transport = transport_for(server, "starttls=1&timeout=5")
    with pytest.raises(TransportRejected, match="STARTTLS"):
        transport.send(SENDER, "a@example.com", message_for(identity, "a@example.com"))


def test_url_forms() -> None:
    cfg = SmtpConfig.from_url("smtp://user%40x:p%40ss@mail.example.org:587?starttls=1&timeout=12")
    assert (cfg.host, cfg.port, cfg.starttls, cfg.implicit_tls) == (
        "mail.example.org",
        587,
        True,
        False,
    )
    assert (cfg.username, cfg.password, cfg.timeout) == ("user@x", "p@ss", 12.0)
    assert "p@ss" not in repr(cfg)
    tls = SmtpConfig.from_url("smtps://relay.example.org")
    assert (tls.port, tls.implicit_tls, tls.starttls) == (465, True, None)
    plain = SmtpConfig.from_url("smtp://localhost:25?starttls=0")
    assert (plain.port, plain.starttls, plain.username) == (25, False, None)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.org", "smtp://"),
        ("smtp://", "no host"),
        ("smtp://mail.example.org:99999", "bad SMTP URL"),
        ("smtp://mail.example.org:port", "bad SMTP URL"),
        ("smtp://mail.example.org?starttls=maybe", "starttls"),
        ("smtp://mail.example.org?timeout=soon", "timeout"),
        ("smtp://mail.example.org?tls=1", "unknown option"),
        ("smtps://mail.example.org?starttls=1", "already TLS"),
        ("smtp://:secret@mail.example.org", "password without"),
    ],
)
def test_bad_urls_are_one_clear_config_error(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        SmtpConfig.from_url(url)
    assert "secret" not in str(caught.value)
