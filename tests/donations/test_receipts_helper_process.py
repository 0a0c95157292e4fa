"""Receipts mailed from the helper process: delivered, failures reported, no orphans."""

from __future__ import annotations

import email
import mailbox
import os
import subprocess
import sys
import time
from datetime import date
from email.policy import default
from pathlib import Path

import pytest

from newsletter import wiring
from newsletter.config import Settings
from newsletter.donations.receipts.content import Receipt
from newsletter.donations.receipts.helper_process import ProcessMailer
from newsletter.errors import NewsletterError

RECEIPT = Receipt(7, "bo@example.org", "Bo", "£12", "once", date(2026, 11, 28), "cs_test_1", 3)


def test_a_receipt_is_written_by_the_helper_process(settings: Settings) -> None:
    mailer = ProcessMailer(settings, wiring.donor_mailer)
    try:
        mailer.send(RECEIPT)
    finally:
        mailer.close()
    [message] = list(mailbox.Maildir(str(settings.outbox_dir), create=False))
    assert message["To"] == "Bo <bo@example.org>"
    parsed = email.message_from_bytes(message.as_bytes(), policy=default)
    text = parsed.get_body(("plain",))
    assert text is not None and "£12" in text.get_content()


def test_a_failure_in_the_helper_reaches_the_caller(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    mailer = ProcessMailer(
        settings.model_copy(update={"outbox_dir": blocker / "outbox"}), wiring.donor_mailer
    )
    try:
        with pytest.raises(NewsletterError, match="outbox"):
            mailer.send(RECEIPT)
    finally:
        mailer.close()


HOLDER = """
import os, pathlib, sys
from newsletter import wiring
from newsletter.config import Settings
from newsletter.donations.receipts.helper_process import ProcessMailer
from tests.donations.test_receipts_helper_process import RECEIPT
mailer = ProcessMailer(Settings(_env_file=None, outbox_dir=sys.argv[1]), wiring.donor_mailer)
mailer.send(RECEIPT)
tasks = pathlib.Path("/proc/self/task").iterdir()
print(*(pid for t in tasks for pid in (t / "children").read_text().split()), flush=True)
os.kill(os.getpid(), 9)
"""


def test_the_helper_leaves_when_the_web_process_is_killed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path / "outbox")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    helpers = [int(pid) for pid in done.stdout.split()]  # the helper (and any tracker)
    assert helpers
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in helpers)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited already
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
