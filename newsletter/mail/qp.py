"""Quoted-printable body parts, in DKIM relaxed form, built as cheaply as possible.

A campaign sends thousands of copies of one digest that differ in a few lines (the
greeting, the personal links). ``_PartEncoder`` remembers the encoded form of lines
it has seen twice; ``PartTemplate`` goes further for a template with known holes:
every line without a hole is encoded once, and a copy only encodes the lines that
hold a personal value. Both give exactly the bytes of encoding the filled-in text
line by line with ``_quote``, which the tests check.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from newsletter.errors import NewsletterError

__all__ = ["Filled", "MessageError", "PartTemplate", "encode_text"]

CACHE_LINES = 20_000  # repeated body lines remembered per campaign (a few MB at most)
_BLANK_RUN = re.compile(rb"([ \t]{2,}|\t)")


class MessageError(NewsletterError, ValueError):
    """A message that cannot be built as asked (reserved header, over-long line, bad URL)."""


def _quote(line: str) -> bytes:
    """One source line as quoted-printable physical lines, CRLF-terminated.

    The output is already in DKIM "relaxed" body form: quoted-printable never ends a
    line in a blank, and runs of blanks (indentation) and tabs are written as ``=20``
    / ``=09`` so there is nothing to collapse. Signing then hashes the body as it is.
    """
    try:
        raw = line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MessageError(f"body text is not valid Unicode ({exc.reason})") from None
    if b"  " in raw or b"\t" in raw:
        return _quote_blanks(raw)
    return binascii.b2a_qp(raw, istext=True).replace(b"\n", b"\r\n") + b"\r\n"


def _quote_blanks(raw: bytes) -> bytes:
    """Quoted-printable (lines <= 76) keeping only single spaces literal.

    Each run of blanks becomes one literal space and ``=20``/``=09`` for the rest.
    The blanks to encode are marked with 0xFF (space) and 0xFE (tab), bytes UTF-8
    never holds, so one ``b2a_qp`` call (in C) encodes the whole line, and their
    ``=FF``/``=FE`` become ``=20``/``=09``. ``b2a_qp`` encodes a dot that ends its
    input or precedes a NUL (at a line start); where the run-by-run encoding could
    meet such a dot, it is used instead, so both always give the same bytes.
    """
    if b"." in raw and (
        raw.endswith(b".") or b".  " in raw or b".\t" in raw or b". \t" in raw or b".\0" in raw
    ):
        return _quote_blank_pieces(raw)
    encoded = binascii.b2a_qp(_mark(raw), istext=True).replace(b"=\n", b"")
    return _wrap(encoded.replace(b"=FF", b"=20").replace(b"=FE", b"=09"))


def _mark(raw: bytes) -> bytes:
    """Tabs as 0xFE, and as 0xFF every space that follows a blank (see _quote_blanks)."""
    if b"  " not in raw and b"\t" not in raw:
        return raw
    marked = raw.replace(b"\t", b"\xfe").replace(b"  ", b" \xff")
    while b"\xff " in marked or b"\xfe " in marked:
        marked = marked.replace(b"\xff ", b"\xff\xff").replace(b"\xfe ", b"\xfe\xff")
    return marked


def _inner(raw: bytes) -> bytes:
    """The unwrapped encoding of text inside a line, neither end of it the line's end.

    The "a" after it stands for what follows: so a last dot or blank is not taken as
    the end of the line (``b2a_qp`` encodes those there). Callers keep blanks off the
    ends, so no run of blanks reaches across two pieces.
    """
    encoded = binascii.b2a_qp(_mark(raw) + b"a", istext=True).replace(b"=\n", b"")[:-1]
    return encoded.replace(b"=FF", b"=20").replace(b"=FE", b"=09")


def _quote_blank_pieces(raw: bytes) -> bytes:
    """``_quote_blanks`` run by run: each run of blanks and each text between runs."""
    pieces = []
    for i, part in enumerate(_BLANK_RUN.split(raw)):
        if i % 2:  # a run of blanks, or a tab
            head = b" " if part[0] == 0x20 else b"=09"
            pieces.append(head + part[1:].replace(b" ", b"=20").replace(b"\t", b"=09"))
        elif part:
            pieces.append(binascii.b2a_qp(part, istext=True).replace(b"=\n", b""))
    return _wrap(b"".join(pieces))


def _wrap(encoded: bytes, *, like_b2a: bool = False) -> bytes:
    """Soft line breaks every 75 characters at most, never inside an ``=XX``.

    A last line of 76 is kept whole; ``like_b2a`` breaks it when it ends in an
    ``=XX``, as ``b2a_qp`` itself does, so its output is reproduced exactly.
    """
    if len(encoded) < 76:
        return encoded + b"\r\n"
    lines = []
    start, end = 0, len(encoded)
    while end - start > 76 or (like_b2a and end - start == 76 and encoded[end - 3] == 0x3D):
        cut = start + 75  # room for the soft break's "="; never split an "=XX"
        if encoded[cut - 1] == 0x3D:
            cut -= 1
        elif encoded[cut - 2] == 0x3D:
            cut -= 2
        lines.append(encoded[start:cut] + b"=")
        start = cut
    lines.append(encoded[start:])
    return b"\r\n".join(lines) + b"\r\n"


class _PartEncoder:
    """Quoted-printable for one body part, remembering the lines that repeat.

    Personalised copies differ in a handful of lines (greeting, links); the rest of a
    50 KB digest comes from the cache instead of being encoded again. A line enters
    the cache the second time it is seen, so one-off personal lines never fill it.
    Safe to share between threads: entries are only ever added.
    """

    def __init__(self, limit: int = CACHE_LINES) -> None:
        self._qp: dict[str, bytes] = {}
        self._seen_once: set[str] = set()
        self._limit = limit

    def encode(self, text: str | Filled) -> bytes:
        """The quoted-printable body, CRLF-terminated."""
        if isinstance(text, Filled):
            return text.encode()
        lines = _lines(text)
        cache = self._qp
        try:  # every line seen before: one look-up per line
            return b"".join(map(cache.__getitem__, lines))
        except KeyError:
            pass
        fresh: dict[str, bytes] = {}
        seen = self._seen_once
        for line in set(lines).difference(cache):
            quoted = _quote(line)
            if line in seen and len(cache) < self._limit:
                cache[line] = quoted
            else:
                fresh[line] = quoted
                if len(seen) >= self._limit:
                    seen.clear()
                seen.add(line)
        if not fresh:
            return b"".join(map(cache.__getitem__, lines))
        get = cache.get  # an encoded line is never empty: it ends in CRLF
        return b"".join([get(line) or fresh[line] for line in lines])


def _lines(text: str) -> list[str]:
    """The source lines of a body part: any of CRLF, CR, LF ends a line."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def encode_text(text: str) -> bytes:
    """The straightforward encoding of a whole part (no cache): the reference."""
    return b"".join(map(_quote, _lines(text)))


_BLANKS = (" ", "\t")


@dataclass(frozen=True, slots=True)
class _Line:
    """A line that holds personal values, and what of it is encoded in advance.

    ``pieces`` are its literal texts, empty at the ``holes`` ((index, slot name)).
    When it can be encoded piece by piece, ``segments`` are the pieces encoded (empty
    at the holes) and ``head`` the soft-broken physical lines at its start that no
    value can move: a copy then wraps only the rest (see ``_prewrap``).
    """

    index: int  # where it goes among the part's chunks
    pieces: tuple[str, ...]
    holes: tuple[tuple[int, str], ...]
    segments: tuple[bytes, ...] | None
    blanks: bool  # runs of blanks: _quote_blanks encodes it, else b2a_qp
    head: bytes = b""


def _dot_before_blanks(text: str) -> bool:
    """A dot then a run of blanks: ``_quote_blanks`` may encode that dot (see there)."""
    return "." in text and (".  " in text or ".\t" in text or ". \t" in text)


def _piecewise(row: list[str | tuple[str]]) -> tuple[bytes, ...] | None:
    """A line's pieces encoded once, slots left empty; None if it must be whole.

    Piece by piece is exact when no run of blanks reaches across a slot (values
    never start or end with a blank), the line does not end in a blank or a dot,
    no dot precedes a run of blanks, and there is no NUL (``b2a_qp`` may encode a
    dot before one). Values are checked likewise.
    """
    out: list[bytes] = []
    last = len(row) - 1
    for j, piece in enumerate(row):
        if not isinstance(piece, str):
            out.append(b"")
            continue
        if "\0" in piece or _dot_before_blanks(piece):
            return None
        if j == last and piece.endswith((*_BLANKS, ".")):
            return None
        out.append(_inner(piece.encode("utf-8")) if piece else b"")
    return tuple(out)


def _prewrap(first: bytes) -> tuple[bytes, bytes]:
    """The physical lines ``_wrap`` cuts from the start of a line beginning ``first``,
    whatever follows, and the rest of ``first`` after them.

    A cut looks only at the 75 characters before it, and ``_wrap`` cuts again while
    more than 76 remain: so every cut made while 77 or more of ``first`` remain is
    the same for any continuation, and wrapping the rest alone gives the rest.
    """
    lines = []
    start = 0
    while len(first) - start > 76:
        cut = start + 75
        if first[cut - 1] == 0x3D:
            cut -= 1
        elif first[cut - 2] == 0x3D:
            cut -= 2
        lines.append(first[start:cut] + b"=\r\n")
        start = cut
    return b"".join(lines), first[start:]


@lru_cache(maxsize=256)  # a copy's values recur in its other part (and lines)
def _piece(value: str) -> tuple[bytes, bool] | None:
    """A value's encoding as a piece of a line and whether it holds a run of blanks;
    None if it cannot be a piece (see ``_piecewise``)."""
    if (
        not value
        or value.startswith(_BLANKS)
        or value.endswith((*_BLANKS, "."))
        or "\0" in value
        or _dot_before_blanks(value)
        or "\n" in value
        or "\r" in value
    ):
        return None
    if value.isascii() and value.isprintable() and "  " not in value:
        # Links, addresses, most names: only "=" needs encoding (``_inner`` agrees, tested).
        return value.encode("ascii").replace(b"=", b"=3D"), False
    try:
        return _inner(value.encode("utf-8")), "  " in value or "\t" in value
    except UnicodeEncodeError:
        return None


def _whole(line: _Line, values: Mapping[str, str]) -> bytes:
    """A line with its values in, encoded as one (where pieces would not be exact)."""
    pieces = list(line.pieces)
    for j, name in line.holes:
        pieces[j] = values[name]
    return _quote("".join(pieces))


def _quote_all(lines: list[str], known: dict[str, bytes] | None) -> bytes:
    """``_quote`` of each line, those already in ``known`` looked up (and new ones added)."""
    if known is None:
        return b"".join(map(_quote, lines))
    out = []
    for line in lines:
        quoted = known.get(line)
        if quoted is None:
            quoted = _quote(line)
            if len(known) < CACHE_LINES:
                known[line] = quoted
        out.append(quoted)
    return b"".join(out)


class PartTemplate:
    """A body part with holes, encoded once except for the lines that hold a hole.

    ``parts`` alternates literal text and slot names as ``re.split`` with one group
    gives them (``slots`` lists the (index, name) of the names). A copy then costs the
    encoding of a few lines and one join. Values with a line break in them would
    change the line structure, so such a copy (and a template with CR in it, or one
    that cannot be encoded at all) takes the straightforward path instead.

    ``fixed`` are values every copy has (a campaign's archive link): their lines are
    encoded once like the static ones; a copy whose values differ takes the
    straightforward path, so the bytes never depend on it. ``known`` is a cache of
    encoded lines shared by templates that repeat most of their lines (the same
    email in another order of its sections): only the lines new to it are encoded.
    """

    __slots__ = ("_chunks", "_fast", "_fixed", "_lines", "_names", "_parts", "_slots")

    def __init__(
        self,
        parts: Sequence[str],
        slots: Sequence[tuple[int, str]],
        *,
        fixed: Mapping[str, str] | None = None,
        known: dict[str, bytes] | None = None,
    ) -> None:
        self._parts = tuple(parts)
        self._slots = tuple(slots)
        self._fixed = dict(fixed or {})
        self._chunks: list[bytes] = []
        self._lines: list[_Line] = []
        names = {i: name for i, name in self._slots if name not in self._fixed}
        self._names = tuple(sorted(set(names.values())))
        literals = (p for i, p in enumerate(self._parts) if i not in names)
        self._fast = not any("\r" in p for p in (*literals, *self._fixed.values()))
        if self._fast:
            try:
                self._compile(names, known)
            except (MessageError, UnicodeEncodeError):  # not encodable: every copy fails alike
                self._fast = False

    def _compile(self, names: dict[int, str], known: dict[str, bytes] | None) -> None:
        fixed = {i: self._fixed[name] for i, name in self._slots if i not in names}
        static: list[str] = []  # lines without a hole, since the last line with one
        row: list[str | tuple[str]] = []  # the current line's pieces; a slot is a 1-tuple

        def end_row() -> None:
            if all(isinstance(piece, str) for piece in row):
                static.append("".join(piece for piece in row if isinstance(piece, str)))
                return
            if static:
                self._chunks.append(_quote_all(static, known))
                static.clear()
            pieces = tuple(p if isinstance(p, str) else "" for p in row)
            holes = tuple((j, p[0]) for j, p in enumerate(row) if not isinstance(p, str))
            blanks = any("  " in p or "\t" in p for p in pieces)
            segments = _piecewise(row)
            head = b""
            if segments is not None:
                head, rest = _prewrap(segments[0])
                segments = (rest, *segments[1:])
            self._lines.append(_Line(len(self._chunks), pieces, holes, segments, blanks, head))
            self._chunks.append(b"")

        for i, part in enumerate(self._parts):
            if i in names:
                row.append((names[i],))
                continue
            text = fixed.get(i, part)
            first, *more = text.split("\n")
            if row and isinstance(row[-1], str):  # a fixed value joins the text around it
                row[-1] += first
            else:
                row.append(first)
            if not more:
                continue
            end_row()
            *middle, last = more
            static.extend(middle)
            row = [last]
        end_row()
        if static:
            self._chunks.append(_quote_all(static, known))

    def fill(self, values: Mapping[str, str]) -> str:
        """The filled-in text, as the straightforward path sees it."""
        out = list(self._parts)
        for index, name in self._slots:
            out[index] = values[name]
        return "".join(out)

    def encode(self, values: Mapping[str, str]) -> bytes:
        """The quoted-printable part for these values, CRLF-terminated."""
        pieces = [_piece(values[name]) for name in self._names] if self._fast else [None]
        if None in pieces:
            if (
                not self._fast
                or any("\n" in v or "\r" in v for v in values.values())
                or any(values.get(name) != value for name, value in self._fixed.items())
            ):
                return encode_text(self.fill(values))
            return self._encode_lines(values)
        if any(values.get(name) != value for name, value in self._fixed.items()):
            return encode_text(self.fill(values))
        encoded = dict(zip(self._names, pieces, strict=True))
        out = self._chunks.copy()
        for line in self._lines:
            if line.segments is None:
                out[line.index] = _whole(line, values)
                continue
            if len(line.holes) == 1:  # the usual line: text, one value, text
                before, _, after = line.segments
                piece, blanks = encoded[line.holes[0][1]]  # type: ignore[misc]
                joined = before + piece + after
            else:
                filled = list(line.segments)
                blanks = False
                for j, name in line.holes:
                    filled[j], blanky = encoded[name]  # type: ignore[misc]
                    blanks = blanks or blanky
                joined = b"".join(filled)
            # A line with runs of blanks goes through _quote_blanks, others b2a_qp.
            out[line.index] = line.head + _wrap(joined, like_b2a=not (blanks or line.blanks))
        return b"".join(out)

    def _encode_lines(self, values: Mapping[str, str]) -> bytes:
        """A copy with a value that cannot be a piece: its lines encoded whole."""
        out = self._chunks.copy()
        for line in self._lines:
            out[line.index] = _whole(line, values)
        return b"".join(out)


@dataclass(frozen=True, slots=True)
class Filled:
    """A body part given as a template and its values instead of as finished text."""

    template: PartTemplate
    values: Mapping[str, str]

    def encode(self) -> bytes:
        return self.template.encode(self.values)

    def text(self) -> str:
        return self.template.fill(self.values)
