"""The fast quoted-printable paths give exactly the bytes of the straightforward one.

The reference encodes each source line run by run (``_quote_blank_pieces``) or with
one ``b2a_qp`` call; the fast paths (one marked ``b2a_qp`` call per line, a template
encoded once with only its personal lines redone, or redone piece by piece) must
match it byte for byte on any text, including dots, NULs, tabs and runs of blanks
next to the slots, where ``b2a_qp`` has special cases.
"""

from __future__ import annotations

import quopri

from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter.mail.qp import (
    PartTemplate,
    _inner,
    _PartEncoder,
    _piece,
    _quote_blank_pieces,
    _quote_blanks,
    encode_text,
)

# Characters around which quoted-printable has special cases, and long words.
TRICKY = st.sampled_from(
    [" ", " ", "  ", "\t", ".", ".", "\x00", "=", "_", "a", "é", "’", "\x7f", "\xa0", "x" * 37]
)
TEXT = st.lists(TRICKY, max_size=60).map("".join)
LINES = st.lists(st.one_of(TRICKY, st.just("\n"), st.just("\r\n")), max_size=80).map("".join)
# Values like the personal ones (names, addresses, escaped URLs), sometimes hostile.
VALUE = st.one_of(
    st.lists(
        st.sampled_from(["a", "Zoë", "/", "?", "&amp;", "=", ".", " ", "x" * 30]), max_size=12
    ).map("".join),
    LINES,
)
NAMES = ("name", "link")


@settings(max_examples=500)
@given(TEXT)
@example("a  .")
@example("\t.\x00  b")
@example("x" * 74 + "  .")
def test_marked_blank_runs_match_the_run_by_run_encoding(text: str) -> None:
    raw = text.encode()
    if b"  " in raw or b"\t" in raw:
        assert _quote_blanks(raw) == _quote_blank_pieces(raw)


def template(pieces: list[str], names: list[str]) -> PartTemplate:
    parts: list[str] = []
    slots = []
    for piece, name in zip(pieces, names, strict=False):
        parts.append(piece)
        slots.append((len(parts), name))
        parts.append(name)
    parts.append(pieces[-1])
    return PartTemplate(parts, slots)


@settings(max_examples=400)
@given(
    st.lists(LINES, min_size=1, max_size=5),
    st.lists(st.sampled_from(NAMES), min_size=4, max_size=4),
    st.fixed_dictionaries(dict.fromkeys(NAMES, VALUE)),
)
@example(["Dear ", ",\nstatic line\n"], ["name"], {"name": "Zoë", "link": "x"})
@example(['a\n<a href="', '">  x.</a> ', "."], ["link", "name"], {"name": ".", "link": "u"})
@example(["x" * 70, "=\n"], ["name"], {"name": "abc", "link": "x"})  # 76, ends =3D
@example(["  " + "x" * 66, "=\n"], ["name"], {"name": "abc", "link": "x"})  # the same, blanks
@example(["é=" * 40 + "x" * 3, " " + "z" * 90 + "\n"], ["name"], {"name": "a", "link": "x"})
def test_a_template_encodes_as_its_filled_in_text(
    pieces: list[str], names: list[str], values: dict[str, str]
) -> None:
    part = template(pieces, names)
    assert part.encode(values) == encode_text(part.fill(values))


@settings(max_examples=300)
@given(
    st.lists(LINES, min_size=1, max_size=5),
    st.lists(st.sampled_from(NAMES), min_size=4, max_size=4),
    st.fixed_dictionaries(dict.fromkeys(NAMES, VALUE)),
    VALUE,
)
@example(["x" * 80, "=\n"], ["link", "name"], {"name": "abc", "link": "x"}, "x")
def test_a_template_with_a_fixed_value_encodes_as_its_filled_in_text(
    pieces: list[str], names: list[str], values: dict[str, str], other: str
) -> None:
    """A value fixed for the campaign is encoded with the static lines; a copy that
    brings another value (which a campaign never does) still gets its own bytes."""
    parts = template(pieces, names)
    known: dict[str, bytes] = {}
    fixed = PartTemplate(parts._parts, parts._slots, fixed={"link": values["link"]}, known=known)
    again = PartTemplate(parts._parts, parts._slots, fixed={"link": values["link"]}, known=known)
    assert fixed.encode(values) == encode_text(fixed.fill(values))
    assert again.encode(values) == fixed.encode(values)  # its lines from the shared cache
    moved = {**values, "link": other}
    assert fixed.encode(moved) == encode_text(fixed.fill(moved))


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
@example("https://news.example.org/donate?c=112&amp;t=ab.cd")
def test_a_plain_ascii_value_is_the_piece_b2a_qp_makes(value: str) -> None:
    """The shortcut for links and plain names gives what the full encoding gives."""
    found = _piece(value)
    if found is not None:
        assert found == (_inner(value.encode()), "  " in value)


def test_the_personal_lines_are_encoded_piece_by_piece() -> None:
    """The digest's shape: most lines static, a few with a slot inside long lines."""
    static = "".join(f"<p>Paragraph {n}: the same for everyone.</p>\n" for n in range(30))
    pieces = [
        static + '<p style="margin:0">Dear ',
        ',</p>\n          <a href="',
        '" style="color:#374151;">Unsubscribe</a> · ' + "long words " * 12 + "end\n" + static,
    ]
    part = template(pieces, ["name", "link"])
    assert all(line.segments is not None for line in part._lines)  # no line falls back
    for n in range(20):
        values = {"name": f"Reader {n}" + "é" * n, "link": "https://x.org/u?t=" + "A" * n * 5}
        encoded = part.encode(values)
        assert encoded == encode_text(part.fill(values))
        decoded = quopri.decodestring(encoded).decode().replace("\r\n", "\n")
        assert decoded == part.fill(values) + "\n"


@settings(max_examples=300)
@given(st.lists(LINES, min_size=1, max_size=6))
def test_the_line_cache_gives_the_straightforward_bytes(texts: list[str]) -> None:
    encoder = _PartEncoder(limit=5)
    for text in texts + texts:  # the second round finds lines in the cache
        assert encoder.encode(text) == encode_text(text)


def test_a_template_that_cannot_be_encoded_fails_per_copy_like_the_plain_path() -> None:
    """A lone surrogate in the literal text: building the template must not fail (the
    campaign would not even start); each copy then fails as the plain path does."""
    part = template(["Dear ", " \ud800 end\n"], ["name"])
    values = {"name": "Ann"}
    try:
        encode_text(part.fill(values))
    except Exception as plain:
        expected: type[BaseException] = type(plain)
    else:
        raise AssertionError("the plain path encoded a lone surrogate")
    try:
        part.encode(values)
    except expected:
        pass
    else:
        raise AssertionError("the template encoded what the plain path could not")
