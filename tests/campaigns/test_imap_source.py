"""Returned mail is read from a real IMAP server (a private Dovecot), read-only, as staff would."""

from __future__ import annotations

import imaplib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from newsletter.campaigns.bounces import mailbox as source
from newsletter.campaigns.bounces.mailbox import MailboxError
from newsletter.campaigns.bounces.parse import parse
from newsletter.campaigns.bounces.process import events_from_report
from newsletter.campaigns.models import BounceEvent
from newsletter.campaigns.states import BounceKind
from newsletter.cli import common
from newsletter.cli.app import app
from newsletter.config import Settings
from newsletter.errors import ConfigError
from tests.campaigns.imapserver import (
    PASSWORD,
    USER,
    DovecotUnavailable,
    ImapServer,
    running_dovecot,
)
from tests.local import missing

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = {
    "rfc3464_user_unknown.eml": BounceKind.HARD,
    "postfix_user_unknown.eml": BounceKind.HARD,
    "exim_mailbox_full.eml": BounceKind.HARD,  # 552 5.2.2: final
    "outlook_blocked.eml": BounceKind.POLICY,
    "arf_abuse.eml": BounceKind.COMPLAINT,
    "out_of_office.eml": BounceKind.AUTO_REPLY,  # read and kept, never counted
}
SAMPLES = {name: (FIXTURES / name).read_bytes() for name in EXPECTED}


@pytest.fixture(scope="module")
def imap() -> Iterator[ImapServer]:
    """One private Dovecot for the module; each test uses folders of its own."""
    try:
        with running_dovecot() as server:
            yield server
    except DovecotUnavailable as exc:
        missing(f"no private Dovecot to test IMAP against: {exc}")


@pytest.fixture
def no_extra_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the system's CAs are trusted, whatever the developer's shell says."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _kinds(settings: Settings, messages: list[bytes]) -> Counter[BounceKind | None]:
    kinds: Counter[BounceKind | None] = Counter()
    for raw in messages:
        events = events_from_report(settings, parse(raw), raw)
        found: list[BounceKind | None] = [e.kind for e in events]
        kinds.update(found or [None])
    return kinds


def _recorded(engine: Engine) -> Counter[BounceKind]:
    with engine.connect() as conn:
        return Counter(BounceKind(kind) for kind in conn.scalars(select(BounceEvent.kind)))


def _flags(imap: ImapServer, folder: str) -> list[bytes]:
    """Each message's flags, looked at through a second, read-only session."""
    client = imaplib.IMAP4("127.0.0.1", imap.port)
    try:
        client.login(USER, PASSWORD)
        status, _ = client.select(f'"{folder}"', readonly=True)
        assert status == "OK"
        _, data = client.fetch("1:*", "(FLAGS)")
        return [item for item in data if isinstance(item, bytes)]
    finally:
        client.logout()


def _ends(imap: ImapServer, user: str) -> list[str]:
    """How each session of ``user`` ended, in short: "Logged out" after a LOGOUT,
    "Connection closed (...)" when the client dropped the connection instead."""
    ends = imap.session_ends(user)
    return [end.removeprefix("Disconnected: ").split(" in=")[0] for end in ends]


def _numbered(count: int) -> list[bytes]:
    """``count`` distinct messages (a header line apart)."""
    body = SAMPLES["out_of_office.eml"]
    return [b"X-Serial: %d\n" % n + body for n in range(count)]


def test_a_folder_with_a_space_is_read_classified_and_left_unread(
    imap: ImapServer, settings: Settings, no_extra_ca: None
) -> None:
    imap.deliver("INBOX", [SAMPLES["out_of_office.eml"]])
    imap.deliver("Returned mail", list(SAMPLES.values()))
    on_disk = imap.files("Returned mail")

    first = list(source.read(imap.url("Returned mail")))
    second = list(source.read(imap.url("Returned mail")))

    # Exactly what was delivered (LF endings, as a Maildir holds it), nothing from INBOX.
    assert sorted(first) == sorted(SAMPLES.values())
    assert second == first
    assert _kinds(settings, first) == Counter(EXPECTED.values())
    assert list(source.read(imap.url("INBOX"))) == [SAMPLES["out_of_office.eml"]]
    # Read-only: no \Seen flag, and the files on disk keep their names and bytes.
    flags = _flags(imap, "Returned mail")
    assert len(flags) == len(SAMPLES) and not any(b"\\Seen" in f for f in flags)
    assert imap.files("Returned mail") == on_disk


def test_processing_the_folder_twice_records_each_bounce_once(
    imap: ImapServer, engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = f"Bounces {tmp_path.name}"  # one per database backend
    imap.deliver(folder, list(SAMPLES.values()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789")
    common.settings.cache_clear()
    try:
        runner = CliRunner()
        url = imap.url(folder)
        first = runner.invoke(app, ["bounces", "process", url])
        assert first.exit_code == 0, first.output
        # No readers here: an auto-reply about nobody of ours is not kept, bounces are.
        expected = Counter(k for k in EXPECTED.values() if k not in (None, BounceKind.AUTO_REPLY))
        assert _recorded(engine) == expected
        again = runner.invoke(app, ["bounces", "process", url])
        assert again.exit_code == 0, again.output
        assert _recorded(engine) == expected
        with engine.connect() as conn:
            bob = conn.execute(
                select(BounceEvent.kind, BounceEvent.status).where(
                    BounceEvent.email == "bob@mail.example.net"
                )
            ).all()
        assert [tuple(row) for row in bob] == [(BounceKind.HARD, "5.1.1")]
    finally:
        common.settings.cache_clear()


def test_a_non_ascii_folder_name_is_found(imap: ImapServer) -> None:
    # Dovecot names Maildir folders in IMAP's modified UTF-7 (RFC 3501): "Rückläufer".
    imap.deliver("R&APw-ckl&AOQ-ufer", [SAMPLES["arf_abuse.eml"]])
    assert list(source.read(imap.url("Rückläufer"))) == [SAMPLES["arf_abuse.eml"]]


def test_a_wrong_password_is_one_clean_line(imap: ImapServer, tmp_path: Path) -> None:
    url = imap.url(password="not the password")
    with pytest.raises(MailboxError) as caught:
        list(source.read(url))
    message = str(caught.value)
    assert message.startswith("cannot read 127.0.0.1/INBOX over IMAP: ")
    assert "Authentication failed" in message
    assert "\n" not in message and "not the password" not in message and "b'" not in message

    # The installed command prints that line alone: no traceback, exit status 1.
    env = dict(os.environ, NEWSLETTER_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    command = [sys.executable, "-c", "from newsletter.cli.app import main; main()"]
    done = subprocess.run(
        [*command, "bounces", "process", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {message}"]
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_folder_is_an_error_and_the_session_is_logged_out(imap: ImapServer) -> None:
    user = imap.user()
    with pytest.raises(MailboxError, match=r"/Nowhere over IMAP: .*Nowhere"):
        list(source.read(imap.url("Nowhere", user=user)))
    assert _ends(imap, user) == ["Logged out"]
    # Processing that fails part-way through leaves no session open either.
    imap.deliver("Stop early", [SAMPLES["arf_abuse.eml"], SAMPLES["out_of_office.eml"]])
    user = imap.user()
    with pytest.raises(RuntimeError):  # noqa: PT012 -- failing mid-read is the case under test
        for _raw in source.read(imap.url("Stop early", user=user)):
            raise RuntimeError("processing failed")
    assert _ends(imap, user) == ["Logged out"]


def test_a_large_folder_is_fetched_in_batches_as_it_is_read(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered = _numbered(250)
    imap.deliver("Many", delivered)
    fetches: list[int] = []
    real_uid = imaplib.IMAP4.uid

    def counting_uid(client: imaplib.IMAP4, command: str, *args: str) -> tuple[str, list[Any]]:
        if command == "FETCH":
            fetches.append(len(args[0].split(",")))
        return real_uid(client, command, *args)

    monkeypatch.setattr(imaplib.IMAP4, "uid", counting_uid)
    messages = source.read(imap.url("Many"))
    first = next(messages)
    assert fetches == [100]  # one batch asked for, not the whole folder
    rest = list(messages)
    assert fetches == [100, 100, 50]
    assert sorted([first, *rest]) == sorted(delivered)


def test_a_refused_search_is_an_error_not_an_empty_folder(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap.deliver("Unsearchable", [SAMPLES["arf_abuse.eml"]])
    real_uid = imaplib.IMAP4.uid

    def refusing_search(client: imaplib.IMAP4, command: str, *args: str) -> tuple[str, list[Any]]:
        if command == "SEARCH":  # as a server answers when its index is broken
            return "NO", [b"Search failed: index is corrupted"]
        return real_uid(client, command, *args)

    monkeypatch.setattr(imaplib.IMAP4, "uid", refusing_search)
    user = imap.user()
    with pytest.raises(
        MailboxError, match=r"Unsearchable over IMAP: the search failed: .*corrupted"
    ):
        list(source.read(imap.url("Unsearchable", user=user)))
    assert _ends(imap, user) == ["Logged out"]


def test_a_message_the_server_cannot_read_is_an_error_not_skipped(imap: ImapServer) -> None:
    imap.deliver("Unreadable", [SAMPLES["arf_abuse.eml"], SAMPLES["exim_mailbox_full.eml"]])
    victim = next((imap.maildir / ".Unreadable" / "new").iterdir())
    victim.chmod(0)  # listed, but its body cannot be read: FETCH ends with NO
    user = imap.user()
    with pytest.raises(MailboxError, match="Unreadable over IMAP: fetching messages failed: "):
        list(source.read(imap.url("Unreadable", user=user)))
    assert _ends(imap, user) == ["Logged out"]


def test_imaps_verifies_the_certificate(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch, no_extra_ca: None
) -> None:
    imap.deliver("Over TLS", [SAMPLES["postfix_user_unknown.eml"]])
    url = imap.url("Over TLS", scheme="imaps")
    with pytest.raises(MailboxError, match="certificate verify failed"):
        list(source.read(url))
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.ca_file))
    assert list(source.read(url)) == [SAMPLES["postfix_user_unknown.eml"]]


def test_starttls_on_request_upgrades_even_to_this_machine(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch, no_extra_ca: None
) -> None:
    imap.deliver("Upgraded", [SAMPLES["exim_mailbox_full.eml"]])
    # The upgrade is attempted and the certificate checked: an unknown CA is refused
    # before the password is sent.
    refused = imap.user()
    with pytest.raises(MailboxError, match="certificate verify failed"):
        list(source.read(imap.url("Upgraded", user=refused, query="starttls=1")))
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.ca_file))
    trusted = imap.user()
    url = imap.url("Upgraded", user=trusted, query="starttls=1")
    assert list(source.read(url)) == [SAMPLES["exim_mailbox_full.eml"]]
    # Dovecot itself saw the login arrive over TLS; without the option it stays plain.
    [login] = imap.logins(trusted)
    assert ", TLS," in login
    plain = imap.user()
    assert list(source.read(imap.url("Upgraded", user=plain))) == [SAMPLES["exim_mailbox_full.eml"]]
    [login] = imap.logins(plain)
    assert "TLS" not in login
    assert imap.logins(refused, count=0) == []


def test_plain_imap_to_another_host_upgrades_with_starttls(
    imap: ImapServer, monkeypatch: pytest.MonkeyPatch, no_extra_ca: None
) -> None:
    # The private server listens on 127.0.0.1 only; the address stands in for another host.
    monkeypatch.setattr(source, "_is_local", lambda host: False)
    imap.deliver("Remote", [SAMPLES["rfc3464_user_unknown.eml"]])
    with pytest.raises(MailboxError, match="certificate verify failed"):
        list(source.read(imap.url("Remote")))
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.ca_file))
    user = imap.user()
    assert list(source.read(imap.url("Remote", user=user))) == [SAMPLES["rfc3464_user_unknown.eml"]]
    [login] = imap.logins(user)
    assert ", TLS," in login


def test_a_server_without_starttls_is_refused_before_the_password_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        with running_dovecot(tls=False) as plain_only:
            plain_only.deliver("Plain", [SAMPLES["arf_abuse.eml"]])
            # To this machine, plain IMAP is allowed: the server works.
            assert list(source.read(plain_only.url("Plain"))) == [SAMPLES["arf_abuse.eml"]]
            asked = plain_only.user()
            with pytest.raises(MailboxError, match="offers no STARTTLS"):
                list(source.read(plain_only.url("Plain", user=asked, query="starttls=1")))
            monkeypatch.setattr(source, "_is_local", lambda host: False)
            remote = plain_only.user()
            with pytest.raises(MailboxError, match="offers no STARTTLS"):
                list(source.read(plain_only.url("Plain", user=remote)))
            # Both sessions logged out politely without a login attempt, and once Dovecot
            # has logged that, the absence of a login line means something.
            assert len(plain_only.login_refusals(count=2)) == 2, plain_only.log
            assert plain_only.logins(asked, count=0) == plain_only.logins(remote, count=0) == []
    except DovecotUnavailable as exc:
        missing(f"no private Dovecot to test IMAP against: {exc}")


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("mail.example.org", False),
        ("localhost.example.org", False),
    ],
)
def test_only_loopback_counts_as_this_machine(host: str, local: bool) -> None:
    assert source._is_local(host) is local


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("imap://u:pw@127.0.0.1/INBOX?starttls=yes", "takes only the value 1"),
        ("imap://u:pw@127.0.0.1/INBOX?starttls=1&starttls=0", "takes only the value 1"),
        ("imap://u:pw@127.0.0.1/INBOX?startls=1", "unknown IMAP URL option 'startls'"),
        ("imaps://u:pw@127.0.0.1/INBOX?starttls=1", "imaps:// is already encrypted"),
    ],
)
def test_a_bad_imap_url_option_is_a_config_error(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        list(source.read(url))


@pytest.mark.parametrize(
    "url",
    ["imap://example.org/INBOX", "imaps://user:pw@/INBOX", "imaps://user:pw@host:port/INBOX"],
)
def test_a_malformed_imap_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="imaps://user:password@host"):
        list(source.read(url))
