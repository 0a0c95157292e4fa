"""Bounces made by a real Postfix, applied end to end.

A private Postfix instance (its own configuration, queue and port; never the system's)
takes a campaign from our SMTP transport and relays it to a small "internet" server that
answers each reader's address the way real receivers do: unknown user, mailbox full,
blocked as spam, or accepted. Postfix writes the bounces itself and sends them to the
VERP return paths, which the same server keeps in a Maildir; ``bounces process`` reads it.
"""

from __future__ import annotations

import mailbox
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner, Result

from newsletter.campaigns.models import BounceEvent
from newsletter.campaigns.states import BounceKind
from newsletter.cli.app import app
from subscribers.models import Status, Subscriber
from tests.campaigns.conftest import CLEAN_SOURCE, seed_audience
from tests.local import free_port, missing

POSTFIX = "/usr/sbin/postfix"
ANSWERS = {  # the receiving servers' replies to RCPT TO, by the reader's local part
    "gone": "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
    "full": "552 5.2.2 <{rcpt}>: Mailbox full, quota exceeded",
    "blocked": "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
}
READERS = ["gone@reader.test", "full@reader.test", "blocked@reader.test", "fine@reader.test"]


class Internet:
    """Every other mail server: refuses some readers, keeps returned mail in a Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.returned = mailbox.Maildir(maildir, create=True)
        self.delivered: list[str] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        answer = ANSWERS.get(address.partition("@")[0])
        if answer:
            return answer.format(rcpt=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                if rcpt.startswith("bounces+"):
                    self.returned.add(
                        b"Delivered-To: %s\n%s" % (rcpt.encode(), envelope.original_content)
                    )
                else:
                    self.delivered.append(rcpt)
        return "250 OK: queued"

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.returned), len(self.delivered)


@pytest.fixture
def internet(tmp_path: Path) -> Iterator[tuple[Internet, int]]:
    handler = Internet(tmp_path / "returned")
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mx.reader.test"
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""
_MAIN = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
myhostname = mx.newsletter.test
mydomain = newsletter.test
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{relay}
smtputf8_enable = no
smtp_tls_security_level = none
"""


@pytest.fixture
def postfix(internet: tuple[Internet, int]) -> Iterator[int]:
    """A private Postfix on a port of its own, relaying everything to ``internet``."""
    if not os.access(POSTFIX, os.X_OK):
        missing("Postfix is not installed (Debian package postfix)")
    if os.geteuid() != 0:
        missing("a private Postfix instance needs root to start its master")
    try:
        owner = pwd.getpwnam("postfix").pw_uid
    except KeyError:
        missing("no postfix user (install Debian's postfix package)")
    # Short path: Postfix's UNIX sockets live under the queue and sun_path is ~100 bytes.
    root = Path(f"/tmp/nlpf-{os.getpid()}-{free_port()}")  # noqa: S108 -- must be short (above); runs as root only
    (root / "conf").mkdir(parents=True)
    (root / "queue").mkdir()
    (root / "data").mkdir()
    os.chown(root / "data", owner, -1)
    port = free_port()
    (root / "conf" / "main.cf").write_text(_MAIN.format(root=root, relay=internet[1]))
    (root / "conf" / "master.cf").write_text(_MASTER.format(port=port))
    conf = str(root / "conf")
    started = subprocess.run([POSTFIX, "-c", conf, "start"], capture_output=True, text=True)
    if started.returncode != 0:
        log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"the private Postfix did not start: {started.stderr}{log}")
    try:
        yield port
    finally:
        subprocess.run([POSTFIX, "-c", conf, "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _wait_for(what: str, condition: Any, timeout: float = 120.0) -> None:
    """Postfix works on its own clock: wait for the outcome, however slow the machine."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Postfix never {what}")
        time.sleep(0.05)


def test_bounces_from_a_real_postfix_mark_only_the_dead_address(
    cli_env: Path,
    engine: Engine,
    internet: tuple[Internet, int],
    postfix: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = seed_audience(engine, len(READERS))
    with engine.begin() as conn:
        for sid, address in zip(ids, READERS, strict=True):
            conn.execute(
                update(Subscriber)
                .where(Subscriber.id == sid)
                .values(email=address, email_key=address)
            )
    briefing = cli_env / "briefing.md"
    briefing.write_text(CLEAN_SOURCE, encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{postfix}/?timeout=30")
    campaign = _run("campaign", "create", str(briefing), "--list", "All briefings", "-q").output
    _run("campaign", "send", campaign.strip())

    handler = internet[0]
    _wait_for("returned or delivered every message", lambda: handler.count() == (3, 1))
    out = " ".join(_run("bounces", "process", str(cli_env / "returned")).output.split())
    assert "suppressed gone@reader.test (hard-bounce)" in out

    with engine.connect() as conn:
        statuses = dict(conn.execute(select(Subscriber.email, Subscriber.status)).all())
        kinds = dict(conn.execute(select(Subscriber.email, BounceEvent.kind).join(
            BounceEvent, BounceEvent.subscriber_id == Subscriber.id)).all())  # fmt: skip
    assert statuses == {
        "gone@reader.test": Status.BOUNCED,
        "full@reader.test": Status.BOUNCED,  # 552 5.2.2: the server gave up on it for good
        "blocked@reader.test": Status.ACTIVE,  # a block list refused *our* mail
        "fine@reader.test": Status.ACTIVE,
    }
    assert kinds == {
        "gone@reader.test": BounceKind.HARD,
        "full@reader.test": BounceKind.HARD,
        "blocked@reader.test": BounceKind.POLICY,
    }
