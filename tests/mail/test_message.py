"""The message a subscriber receives, parsed back the way a strict client would."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.errors import HeaderInjection, InvalidAddress
from newsletter.mail.dkim import relaxed_body
from newsletter.mail.message import CrlfMessage, Identity, MessageError, build_message
from tests.mail.conftest import parse

UNSUB = "https://news.example.org/u/" + "eyJzIjo0MiwiYyI6MTEyfQ" * 10 + ".c2lnbmF0dXJl"
MAILTO = "mailto:briefings@example.org?subject=unsubscribe"
TEXT = "Dear Zoë,\n\nThe ministers met in Brussels.\nDonate: https://news.example.org/donate\n"
HTML = (
    '<p style="font-size:16px">Dear Zoë,</p>\n'
    '<p><a href="https://news.example.org/donate">Donate now</a></p>\n'
)


def bulk(identity: Identity, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "to_address": "zoe@example.com",
        "to_name": "Zoë Smith",
        "subject": "Briefing 112: Foreign ministers in Brussels",
        "html": HTML,
        "text": TEXT,
        "unsubscribe_url": UNSUB,
        "unsubscribe_mailto": MAILTO,
    }
    args.update(overrides)
    return build_message(identity, **args)  # type: ignore[arg-type]


def header_lines(message: bytes) -> list[bytes]:
    return message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def field(message: bytes, name: str) -> list[bytes]:
    """The raw (unfolded) values of every ``name`` field."""
    head = message.split(b"\r\n\r\n", 1)[0]
    found = re.findall(
        rb"(?im)^" + name.encode() + rb":[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head
    )
    return [re.sub(rb"\r\n(?=[ \t])", b"", value) for value in found]


def test_parts_are_text_then_html_both_utf8_quoted_printable(identity: Identity) -> None:
    message = bulk(identity)
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part, source in zip(parts, (TEXT, HTML), strict=True):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content().replace("\r\n", "\n") == source
    assert all(len(line) <= 998 for line in message.split(b"\r\n"))
    assert message.isascii()


def test_quoted_printable_lines_stay_within_76(identity: Identity) -> None:
    long_line = "word " * 100 + "é" * 50 + "\t \n"
    message = bulk(identity, text=long_line, html=f"<p>{long_line}</p>")
    body = message.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    parsed = parse(message)
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == long_line  # type: ignore[union-attr]


def test_exactly_one_of_each_address_and_id_header(identity: Identity) -> None:
    message = bulk(identity)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id"):
        assert len(field(message, name)) == 1, name
    parsed = parse(message)
    assert parsed["From"].addresses[0].addr_spec == "briefings@example.org"
    assert parsed["From"].addresses[0].display_name == "NATO Watch Briefings"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.com"
    assert parsed["Reply-To"].addresses[0].addr_spec == "office@example.org"
    assert re.fullmatch(r"<[^@<>]+@example\.org>", parsed["Message-ID"])
    assert parsed["MIME-Version"] == "1.0"
    assert parse(bulk(identity))["Message-ID"] != parsed["Message-ID"]


def test_given_message_id_and_date_are_used(identity: Identity) -> None:
    message = bulk(identity, message_id="abc.123@example.org", date=datetime(2026, 3, 1, 9, 30))
    parsed = parse(message)
    assert parsed["Message-ID"] == "<abc.123@example.org>"
    assert parsed["Date"].datetime.isoformat() == "2026-03-01T09:30:00+00:00"


def test_one_click_unsubscribe_headers_are_never_encoded_or_folded(identity: Identity) -> None:
    assert len(UNSUB) > 200
    message = bulk(identity)
    lines = header_lines(message)
    assert f"List-Unsubscribe: <{UNSUB}>, <{MAILTO}>".encode() in lines
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert b"=?" not in b"".join(field(message, "List-Unsubscribe"))
    parsed = parse(message)
    assert str(parsed["List-Unsubscribe"]) == f"<{UNSUB}>, <{MAILTO}>"
    assert parsed["List-Id"] == "NATO Watch <briefings.example.org>"


def test_one_click_is_offered_only_for_an_https_url(identity: Identity) -> None:
    """RFC 8058 3.1: the one-click POST needs HTTPS; a plain http:// link is still listed."""
    local = "http://127.0.0.1:8000/u/" + "x" * 40
    plain = parse(bulk(identity, unsubscribe_url=local))
    assert str(plain["List-Unsubscribe"]) == f"<{local}>, <{MAILTO}>"
    assert plain["List-Unsubscribe-Post"] is None
    secure = parse(bulk(identity, unsubscribe_mailto=None))
    assert str(secure["List-Unsubscribe"]) == f"<{UNSUB}>"
    assert secure["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mail_only = parse(bulk(identity, unsubscribe_url=None))
    assert mail_only["List-Unsubscribe-Post"] is None


def test_bulk_and_transactional_headers(identity: Identity) -> None:
    one, two = parse(bulk(identity)), parse(bulk(identity, to_address="sam@example.net"))
    assert one["Feedback-ID"] == two["Feedback-ID"] == "112:digest:natowatch"
    assert one["Auto-Submitted"] == "auto-generated"
    assert one["Precedence"] == "bulk"
    receipt = parse(bulk(identity, unsubscribe_url=None, unsubscribe_mailto=None))
    for absent in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Precedence"):
        assert receipt[absent] is None, absent
    assert receipt["Auto-Submitted"] == "auto-generated"


def test_non_ascii_names_and_subjects_become_encoded_words(identity: Identity) -> None:
    subject = "Briefing 112: Türkiye, Priština and the “Quad” — what was agreed"
    message = bulk(identity, to_name="Zoë Ødegård-Łukasz", subject=subject)
    assert message.isascii()
    assert b"=?utf-8?" in b"".join(field(message, "Subject"))
    assert all(len(line) <= 78 for line in header_lines(message) if line.startswith(b"Subject"))
    parsed = parse(message)
    assert parsed["Subject"] == subject
    assert parsed["To"].addresses[0].display_name == "Zoë Ødegård-Łukasz"


def test_cjk_subject_and_long_ascii_subject_round_trip(identity: Identity) -> None:
    for subject in ("北约外长会议简报 " * 12, "A very long subject " * 60):
        message = bulk(identity, subject=subject.strip())
        assert all(len(line) <= 998 for line in header_lines(message))
        assert parse(message)["Subject"] == subject.strip()


@pytest.mark.parametrize(
    "name", ["Smith, John", 'O"Brien \\ co', "Dr. A. N. Other (MP)", "=?utf-8?q?fake?="]
)
def test_ascii_names_with_special_characters_are_quoted(identity: Identity, name: str) -> None:
    parsed = parse(bulk(identity, to_name=name))
    assert parsed["To"].addresses[0].display_name == name
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.com"


@pytest.mark.parametrize(
    "override",
    [
        {"to_name": "Zoë\r\nBcc: victim@example.net"},
        {"to_name": "line\nbreak"},
        {"subject": "Hello\r\nX-Injected: yes"},
        {"subject": "Hello\rworld"},
        {"to_address": "zoe@example.com\r\nBcc: victim@example.net"},
        {"unsubscribe_url": "https://news.example.org/u/x\r\nX-Evil: 1"},
        {"unsubscribe_mailto": "mailto:a@example.org\nX-Evil: 1"},
        {"message_id": "<a@example.org>\r\nX-Evil: 1"},
        {"return_path": "bounce@example.org\nX-Evil: 1"},
        {"extra_headers": {"X-Campaign": "112\r\nBcc: victim@example.net"}},
        {"extra_headers": {"X-Evil\r\nBcc": "victim@example.net"}},
        {"subject": "nul \x00 byte"},
        {"to_name": "unicode line separator \u2028 here"},
    ],
)
def test_line_breaks_in_any_value_are_refused(
    identity: Identity, override: dict[str, object]
) -> None:
    with pytest.raises(HeaderInjection):
        bulk(identity, **override)


@pytest.mark.parametrize(
    "override",
    [{"from_name": "NATO Watch\r\nBcc: x@example.net"}, {"feedback_id": "1:2\n3"}],
)
def test_identity_refuses_line_breaks(override: dict[str, str]) -> None:
    args = {"from_address": "briefings@example.org", "from_name": "NATO Watch"} | override
    with pytest.raises(HeaderInjection):
        Identity(**args)


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "zoe@",
        "@example.org",
        "zo..e@example.org",
        "zoe@exa mple.org",
        "zoé@example.org",
    ],
)
def test_bad_recipient_addresses_are_refused(identity: Identity, address: str) -> None:
    with pytest.raises(InvalidAddress):
        bulk(identity, to_address=address)


def test_bad_sender_identity_is_refused_when_built() -> None:
    with pytest.raises(InvalidAddress):
        Identity(from_address="briefings at example.org")
    with pytest.raises(MessageError, match="list id"):
        Identity(from_address="briefings@example.org", list_id="not a list id")
    with pytest.raises(MessageError, match="domain"):
        Identity(from_address="briefings@example.org", domain="exa mple.org")


def test_international_domain_becomes_punycode(identity: Identity) -> None:
    parsed = parse(bulk(identity, to_address="zoe@bücher.example"))
    assert parsed["To"].addresses[0].addr_spec == "zoe@xn--bcher-kva.example"


def test_extra_headers_are_added_but_cannot_replace_ours(identity: Identity) -> None:
    parsed = parse(bulk(identity, extra_headers={"X-Campaign": "112", "X-Note": "für alle"}))
    assert parsed["X-Campaign"] == "112"
    assert parsed["X-Note"] == "für alle"
    for name in ("Subject", "to", "List-Unsubscribe", "DKIM-Signature"):
        with pytest.raises(MessageError):
            bulk(identity, extra_headers={name: "x"})


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://x.example/u/a b",
        "https://x.example/u/<a>",
        "https://x.example/ü",
    ],
)
def test_unusable_unsubscribe_urls_are_refused(identity: Identity, url: str) -> None:
    with pytest.raises(MessageError):
        bulk(identity, unsubscribe_url=url)


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
_name = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"], exclude_characters="\x85"),
    max_size=60,
)
_SHARED = Identity("briefings@example.org", "Ünïcode Sender", list_id="briefings.example.org")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, html=_text, subject=_name, name=_name)
def test_any_text_survives_the_trip(text: str, html: str, subject: str, name: str) -> None:
    """Whatever the digest holds comes out of a strict parser unchanged (same identity,
    so the line cache is exercised across many different bodies)."""
    message = build_message(
        _SHARED,
        to_address="reader@example.com",
        to_name=name,
        subject=subject,
        html=html,
        text=text,
        unsubscribe_url=UNSUB,
        unsubscribe_mailto=None,
    )
    assert all(len(line) <= 998 for line in message.split(b"\r\n"))
    # Its type promises the SMTP transport CRLF line ends throughout: no bare CR or LF.
    assert isinstance(message, CrlfMessage)
    assert message.count(b"\n") == message.count(b"\r") == message.count(b"\r\n")
    body = message.split(b"\r\n\r\n", 1)[1]
    assert relaxed_body(body) == body  # what the signer hashes without canonicalising
    parsed = parse(message)
    normalise = lambda s: s.replace("\r\n", "\n").replace("\r", "\n")  # noqa: E731
    assert normalise(parsed.get_body(("plain",)).get_content()) == normalise(text)  # type: ignore[union-attr]
    assert normalise(parsed.get_body(("html",)).get_content()) == normalise(html)  # type: ignore[union-attr]
    assert " ".join(parsed["Subject"].split()) == " ".join(subject.split())
    # Long names need several encoded words; parsers disagree on the space between them.
    assert "".join(parsed["To"].addresses[0].display_name.split()) == "".join(name.split())


def test_personalised_copies_share_one_identity_correctly(identity: Identity) -> None:
    """Copies built one after another (the campaign case) each carry their own lines."""
    static = "".join(
        f"<p>Paragraph {n} of the digest, the same for everyone.</p>\n" for n in range(50)
    )
    for n in range(6):
        html = f"<p>Dear Reader {n},</p>\n{static}<a href='https://news.example.org/u/{n}'>x</a>\n"
        parsed = parse(bulk(identity, html=html, text=f"Dear Reader {n}\n{static}"))
        assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == html  # type: ignore[union-attr]


def test_a_full_line_cache_still_encodes_correctly() -> None:
    import quopri

    from newsletter.mail.qp import _PartEncoder

    encoder = _PartEncoder(limit=2)
    for n in range(8):
        text = f"same line\nline {n}  with  blanks\n\tand tab {n % 2}\nsame line"
        decoded = quopri.decodestring(encoder.encode(text)).decode()
        assert decoded.replace("\r\n", "\n") == text + "\n"
