"""Returned mail is read from a Maildir, an mbox, a folder of .eml files or one file."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from newsletter.campaigns.bounces import mailbox as source
from newsletter.campaigns.bounces.parse import parse
from newsletter.errors import NotFound

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = ("postfix_user_unknown.eml", "arf_abuse.eml")


def _ids(messages: list[bytes]) -> list[str]:
    return sorted(parse(raw).message_id for raw in messages)


def test_every_kind_of_source_yields_the_same_messages(tmp_path: Path) -> None:
    expected = _ids([(FIXTURES / name).read_bytes() for name in SAMPLES])
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    folder = tmp_path / "eml"
    folder.mkdir()
    for name in SAMPLES:
        raw = (FIXTURES / name).read_bytes()
        box.add(raw)
        maildir.add(raw)
        (folder / name).write_bytes(raw)
    box.close()  # written to disk, and its file released
    for where in (tmp_path / "bounces.mbox", tmp_path / "Maildir", folder):
        assert _ids(list(source.read(str(where)))) == expected
    assert len(list(source.read(str(FIXTURES / SAMPLES[0])))) == 1


def test_a_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        list(source.read(str(tmp_path / "nowhere")))
