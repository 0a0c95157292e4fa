"""The local Maildir outbox (the default transport) and the in-memory one."""

from __future__ import annotations

import mailbox
import shutil
import stat
from collections.abc import Callable
from email.header import decode_header, make_header
from pathlib import Path

import dkim
import pytest

from newsletter import wiring
from newsletter.config import Settings
from newsletter.errors import ConfigError, HeaderInjection
from newsletter.mail import identities
from newsletter.mail.dkim import Signer
from newsletter.mail.message import Identity, build_message
from newsletter.mail.transports.base import DeliveryStatus, TransportUnavailable
from newsletter.mail.transports.maildir import MaildirTransport
from newsletter.mail.transports.memory import MemoryTransport
from newsletter.mail.transports.smtp import SmtpTransport
from tests.mail.dkimcheck import verify_all


def message_for(identity: Identity, to: str, signer: Signer | None = None) -> bytes:
    return build_message(
        identity,
        to_address=to,
        to_name="Zoë Reader",
        subject="Briefing 112: Türkiye",
        html="<p>Dear Zoë</p>\n",
        text="Dear Zoë\n",
        unsubscribe_url="https://news.example.org/u/token",
        unsubscribe_mailto=None,
        signer=signer,
    )


def test_maildir_files_are_readable_and_still_signed(
    tmp_path: Path,
    identity: Identity,
    signer: Signer,
    dnsfunc: Callable[..., bytes | None],
    records: dict[str, str],
) -> None:
    outbox = tmp_path / "outbox"
    with MaildirTransport(outbox) as transport:
        for to in ("zoe@example.com", "sam@example.net"):
            result = transport.send("bounces@example.org", to, message_for(identity, to, signer))
            assert result.status is DeliveryStatus.SENT
            assert str(outbox / "new") in result.reply
    box = mailbox.Maildir(outbox, create=False)
    messages = sorted(box, key=lambda m: str(m["Delivered-To"]))
    assert [m["Delivered-To"] for m in messages] == ["sam@example.net", "zoe@example.com"]
    assert all(m["Return-Path"] == "<bounces@example.org>" for m in messages)
    assert str(make_header(decode_header(messages[1]["Subject"]))) == "Briefing 112: Türkiye"
    assert list((outbox / "tmp").iterdir()) == []
    for path in (outbox / "new").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        raw = path.read_bytes()
        assert dkim.DKIM(raw).verify(idx=0, dnsfunc=dnsfunc)
        assert dkim.DKIM(raw).verify(idx=1, dnsfunc=dnsfunc)
        assert len(verify_all(raw, records)) == 2


def test_maildir_that_cannot_be_written_is_unavailable(tmp_path: Path, identity: Identity) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TransportUnavailable, match="outbox"):
        MaildirTransport(blocker / "outbox").send(
            "b@example.org", "a@example.com", message_for(identity, "a@example.com")
        )


def test_maildir_removed_after_first_delivery_is_made_again(
    tmp_path: Path, identity: Identity
) -> None:
    """Transports are made per message and remember outboxes they made: one that was
    deleted since (a staff member emptying it) is made again, not an error."""
    outbox = tmp_path / "outbox"
    message = message_for(identity, "a@example.com")
    MaildirTransport(outbox).send("b@example.org", "a@example.com", message)
    shutil.rmtree(outbox)
    delivery = MaildirTransport(outbox).send("b@example.org", "a@example.com", message)
    assert delivery.status is DeliveryStatus.SENT
    assert len(list((outbox / "new").iterdir())) == 1
    shutil.rmtree(outbox / "new")  # only the folder read by mail clients
    delivery = MaildirTransport(outbox).send("b@example.org", "a@example.com", message)
    assert delivery.status is DeliveryStatus.SENT
    assert len(list((outbox / "new").iterdir())) == 1 and not list((outbox / "tmp").iterdir())


def test_envelope_line_breaks_are_refused(tmp_path: Path, identity: Identity) -> None:
    with pytest.raises(HeaderInjection):
        MaildirTransport(tmp_path).send(
            "b@example.org", "a@example.com\nX-Evil: 1", message_for(identity, "a@example.com")
        )


def test_memory_transport_records_and_answers_as_told(identity: Identity) -> None:
    memory = MemoryTransport()
    memory.answer("full@example.com", DeliveryStatus.TRANSIENT)
    memory.answer("gone@example.com", DeliveryStatus.PERMANENT, 550, "5.1.1 gone")
    results = {
        to: memory.send("b@example.org", to, message_for(identity, to))
        for to in ("ok@example.com", "FULL@example.com", "gone@example.com")
    }
    assert results["ok@example.com"].status is DeliveryStatus.SENT
    assert (results["FULL@example.com"].status, results["FULL@example.com"].code) == (
        DeliveryStatus.TRANSIENT,
        451,
    )
    assert results["gone@example.com"].reply == "5.1.1 gone"
    assert [s.recipient for s in memory.sent] == ["ok@example.com"]
    assert memory.to("OK@example.com")[0].message.startswith(b"From: ")
    memory.failure = TransportUnavailable("down")
    with pytest.raises(TransportUnavailable):
        memory.send("b@example.org", "ok@example.com", b"x")
    with memory:
        pass
    assert memory.closed


def test_wiring_picks_the_transport(settings: Settings) -> None:
    outbox = wiring.transport(settings)
    assert isinstance(outbox, MaildirTransport)
    assert outbox.directory == settings.outbox_dir
    smtp = wiring.transport(
        settings.model_copy(update={"smtp_url": "smtp://relay.example.org:587"})
    )
    assert isinstance(smtp, SmtpTransport)
    assert smtp.config.port == 587
    with pytest.raises(ConfigError, match="smtp://"):
        wiring.transport(settings.model_copy(update={"smtp_url": "mail.example.org"}))


def test_wiring_identity_is_stable_per_campaign(settings: Settings) -> None:
    one = identities.identity(settings, campaign=112)
    assert one.feedback_id == "112:digest:newsletter"
    assert one.list_id == "NATO Watch <briefings.example.org>"
    assert one.domain == "example.org"
    assert identities.identity(settings, campaign=112) == one
    assert identities.identity(settings, kind="confirm").feedback_id == "0:confirm:newsletter"
