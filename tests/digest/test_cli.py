"""``newsletter briefing render`` end to end, through the real entry point."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.cli import run_cli as _run
from tests.conftest import EXAMPLE_BRIEFING


def test_render_writes_every_file_and_prints_sizes(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = _run(
        ["briefing", "render", str(EXAMPLE_BRIEFING), "--out", str(out)], monkeypatch, tmp_path
    )
    printed = capsys.readouterr().out
    assert code == 0
    for name in ("digest.mjml", "digest.html", "digest.txt", "web.html", "preview.eml"):
        assert (out / name).stat().st_size > 1000
        assert name in printed
    assert "kB" in printed
    assert "Nothing was published" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no archive, no database

    message = email.message_from_bytes(
        (out / "preview.eml").read_bytes(), policy=email.policy.strict
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "https://news.example.org/donate?t=" in plain.get_content()
    assert "https://news.example.org/u/" in html.get_content()


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), ("just some text\n", "front matter")],
)
def test_bad_input_is_one_clear_line(monkeypatch, tmp_path, capsys, content, expected) -> None:
    source = tmp_path / "briefing.md"
    if content is not None:
        source.write_text(content)
    code = _run(
        ["briefing", "render", str(source), "--out", str(tmp_path / "o")], monkeypatch, tmp_path
    )
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert not (tmp_path / "o").exists()


def test_preview_is_dkim_signed_when_a_key_is_configured(monkeypatch, tmp_path) -> None:
    import dkim

    from newsletter.mail.dkim import generate_rsa

    pem, record = generate_rsa(2048)
    (tmp_path / "dkim.pem").write_bytes(pem)
    monkeypatch.setenv("NEWSLETTER_DKIM_SELECTOR", "news")
    monkeypatch.setenv("NEWSLETTER_DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("NEWSLETTER_DKIM_KEY_FILE", str(tmp_path / "dkim.pem"))
    out = tmp_path / "out"
    args = ["briefing", "render", str(EXAMPLE_BRIEFING), "--out", str(out)]
    assert _run(args, monkeypatch, tmp_path) == 0
    raw = (out / "preview.eml").read_bytes()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news._domainkey.example.org."
        return record.encode()

    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=dns)


def test_an_unwritable_output_is_one_clear_line(monkeypatch, tmp_path, capsys) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output directory should go")
    args = ["briefing", "render", str(EXAMPLE_BRIEFING), "--out", str(blocker)]
    assert _run(args, monkeypatch, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "taken" in err and "Traceback" not in err
