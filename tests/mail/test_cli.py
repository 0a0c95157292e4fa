"""``newsletter send-test`` and ``newsletter dkim keygen`` through the real entry point."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import dkim
import pytest

from tests.cli import run_cli as run
from tests.conftest import EXAMPLE_BRIEFING
from tests.mail.conftest import parse
from tests.mail.smtpserver import Server


def published(output: str) -> dict[str, bytes]:
    """The TXT records printed by keygen, as a DNS server would answer them."""
    records = {}
    for name, strings in re.findall(r"^(\S+\._domainkey\.\S+) IN TXT (.*)$", output, re.M):
        records[name] = "".join(re.findall(r'"([^"]*)"', strings)).encode()
    return records


def test_keygen_then_send_test_gives_a_signed_personal_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        ["dkim", "keygen", "--selector", "nl1", "--domain", "example.org", "--ed25519"],
        monkeypatch,
        tmp_path,
    )
    printed = capsys.readouterr().out
    assert code == 0
    key = tmp_path / "var/dkim/nl1.example.org.rsa.pem"
    ed_key = tmp_path / "var/dkim/nl1-ed.example.org.ed25519.pem"
    for path in (key, ed_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    records = published(printed)
    assert set(records) == {"nl1._domainkey.example.org", "nl1-ed._domainkey.example.org"}
    assert records["nl1._domainkey.example.org"].startswith(b"v=DKIM1; k=rsa; p=MII")
    assert max(len(s) for s in re.findall(r'"([^"]*)"', printed)) <= 255

    code = run(
        ["send-test", str(EXAMPLE_BRIEFING), "--to", "zoe@example.com", "--name", "Zoë Ødegård"],
        monkeypatch,
        tmp_path,
        dkim_selector="nl1",
        dkim_domain="example.org",
        dkim_key_file=str(key),
        dkim_ed25519_selector="nl1-ed",
        dkim_ed25519_key_file=str(ed_key),
    )
    assert code == 0, capsys.readouterr().err
    assert "zoe@example.com" in capsys.readouterr().out
    (delivered,) = (tmp_path / "var/outbox/new").iterdir()
    raw = delivered.read_bytes()

    def lookup(name: bytes, **_: object) -> bytes:
        return records[name.decode().rstrip(".")]

    assert dkim.DKIM(raw).verify(idx=0, dnsfunc=lookup)
    assert dkim.DKIM(raw).verify(idx=1, dnsfunc=lookup)
    message = parse(raw)
    assert message["To"].addresses[0].display_name == "Zoë Ødegård"
    assert message["Subject"].startswith("Foreign Ministers renew pledges")  # the title
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Zoë Ødegård" in text
    unsubscribe = re.search(r"<(https://news\.example\.org/u/[^>]+)>", message["List-Unsubscribe"])
    assert unsubscribe and unsubscribe[1] in text


def test_send_test_through_smtp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Server() as server:
        url = f"smtp://127.0.0.1:{server.port}?timeout=5"
        code = run(
            ["send-test", str(EXAMPLE_BRIEFING), "--to", "sam@example.net"],
            monkeypatch,
            tmp_path,
            smtp_url=url,
        )
        assert code == 0, capsys.readouterr().err
        (got,) = server.handler.received
        assert got.recipients == ["sam@example.net"]
        assert parse(got.data)["To"] == "sam@example.net"
        server.handler.rcpt_replies = {"gone@example.net": "550 5.1.1 No such user"}
        code = run(
            ["send-test", str(EXAMPLE_BRIEFING), "--to", "gone@example.net"],
            monkeypatch,
            tmp_path,
            smtp_url=url,
        )
    err = capsys.readouterr().err
    assert code == 1
    assert "permanent" in err and "550" in err


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["send-test", "missing.md", "--to", "a@example.com"], {}, "no such file"),
        (["send-test", "{bad}", "--to", "a@example.com"], {}, "front matter"),
        (["send-test", "{example}", "--to", "a@example.com"], {"smtp_url": "mail:25"}, "SMTP URL"),
        (["send-test", "{example}", "--to", "not-an-address"], {}, "not-an-address"),
        (
            ["send-test", "{example}", "--to", "a@example.com"],
            {"smtp_url": "smtp://127.0.0.1:9?timeout=2"},
            "cannot reach",
        ),
        (
            ["send-test", "{example}", "--to", "a@example.com"],
            {"dkim_selector": "s", "dkim_key_file": "missing.pem"},
            "DKIM key",
        ),
    ],
)
def test_bad_input_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    complaint: str,
) -> None:
    (tmp_path / "bad.md").write_text("# no front matter\n\nJust text.\n")
    files = {"{bad}": str(tmp_path / "bad.md"), "{example}": str(EXAMPLE_BRIEFING)}
    code = run([files.get(a, a) for a in args], monkeypatch, tmp_path, **env)
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert complaint in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_keygen_will_not_overwrite_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["dkim", "keygen", "--selector", "k", "--domain", "example.org", "--out", "keys"]
    assert run(args, monkeypatch, tmp_path) == 0
    first = (tmp_path / "keys/k.example.org.rsa.pem").read_bytes()
    capsys.readouterr()
    assert run(args, monkeypatch, tmp_path) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "keys/k.example.org.rsa.pem").read_bytes() == first
    assert run([*args, "--force"], monkeypatch, tmp_path) == 0
    assert (tmp_path / "keys/k.example.org.rsa.pem").read_bytes() != first
    assert run(["dkim", "keygen", "--selector", "bad selector"], monkeypatch, tmp_path) == 1
