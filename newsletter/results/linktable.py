"""A campaign's link table, and copies whose links point to ``/r/{token}``.

At the start of a send the links of the rendered digest are numbered in order of
first appearance and stored (``campaign_links``); ``/r/`` redirects only to a URL in
that table, so it can never be used as an open redirect. The rewriting is one step of
composition, done on the digest's pre-split templates:

- ``aggregate``: a token names the campaign, the link and the copy by a random nonce
  drawn per copy (``k``). The nonce is not derived from the reader and is never
  stored: it only lets a click burst be judged per copy, so readers behind one office
  address are not taken for a scanner. Each link is a slot filled per copy (one HMAC
  per link).
- ``person``: a token names the reader instead of a nonce, also one HMAC per link.
- ``off``: the digest is returned unchanged.
"""

from __future__ import annotations

import dataclasses
import html
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter import tokens
from newsletter.config import Settings
from newsletter.digest.personalise import SplitTemplate
from newsletter.digest.render import Digest
from newsletter.results.models import CampaignLink

CLICK = "click"
OPEN = "open"
COPY = "k"  # the payload key of the per-copy nonce (aggregate mode)
COPY_BYTES = 6  # 48 random bits: copies sharing one would only share a burst window
_HREF = re.compile(r'<a\s[^>]*?\bhref="(https?://[^"\s]+)"', re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_END = re.compile(r"</a\s*>", re.IGNORECASE)
_URL_TAIL = r"(?![A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%])"
TEXT_MAX = 400


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    text: str


def _anchor_text(part: str, after: int) -> str:
    close = part.find(">", after)
    end = _END.search(part, close + 1) if close >= 0 else None
    if end is None:
        return ""
    words = html.unescape(_TAGS.sub(" ", part[close + 1 : end.start()])).split()
    return " ".join(words)[:TEXT_MAX]


def _literals(template: SplitTemplate) -> list[tuple[int, str]]:
    names = dict(template.slots)
    return [(i, part) for i, part in enumerate(template.parts) if i not in names]


def extract(digest: Digest) -> list[Link]:
    """The briefing's links in order of first appearance (personal links are slots,
    so unsubscribe, preferences, donate and the web copy are never in here)."""
    seen: dict[str, Link] = {}
    for _, part in _literals(digest.html_template):
        for match in _HREF.finditer(part):
            url = html.unescape(match.group(1))
            if url not in seen:
                seen[url] = Link(url, _anchor_text(part, match.end()))
    return list(seen.values())


def store(session: Session, campaign_id: int, found: Sequence[Link]) -> list[Link]:
    """Store the table once; a later call (another worker, a resumed send) gets the
    stored one, so an index always means the same URL."""
    stored = load(session, campaign_id)
    if stored or not found:
        return stored
    session.add_all(
        CampaignLink(campaign_id=campaign_id, idx=i, url=link.url, text=link.text)
        for i, link in enumerate(found)
    )
    session.flush()
    return list(found)


def load(session: Session, campaign_id: int) -> list[Link]:
    rows = session.execute(
        select(CampaignLink.url, CampaignLink.text)
        .where(CampaignLink.campaign_id == campaign_id)
        .order_by(CampaignLink.idx)
    )
    return [Link(url, text) for url, text in rows]


def click_token(settings: Settings, campaign_id: int, idx: int, reader: int | None) -> str:
    payload = {"c": campaign_id, "l": idx}
    if reader is not None:
        payload["s"] = reader
    return tokens.sign(settings.secret, CLICK, payload)


def open_token(settings: Settings, campaign_id: int, reader: int | None) -> str:
    payload = {"c": campaign_id} if reader is None else {"c": campaign_id, "s": reader}
    return tokens.sign(settings.secret, OPEN, payload)


def _pixel(src: str) -> str:
    return f'<img src="{src}" width="1" height="1" alt="" style="display:block;border:0">'


PerCopy = Callable[[int], dict[str, str]]
Piece = str | tuple[str]  # literal text, or a 1-tuple naming a slot


@dataclass(frozen=True)
class Tracked:
    """The digest to compose copies from, and the per-copy slot values (person mode)."""

    digest: Digest
    per_copy: PerCopy | None


def _rewrite(
    template: SplitTemplate,
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], list[Piece]],
) -> SplitTemplate:
    """Rewrite the literal parts; a 1-tuple in a replacement becomes a new slot."""
    names = dict(template.slots)
    parts: list[str] = []
    slots: list[tuple[int, str]] = []
    current: list[str] = []

    def add(piece: Piece) -> None:
        if isinstance(piece, str):
            current.append(piece)
            return
        parts.append("".join(current))
        current.clear()
        slots.append((len(parts), piece[0]))
        parts.append(piece[0])

    for i, part in enumerate(template.parts):
        if i in names:
            add((names[i],))
            continue
        pos = 0
        for match in pattern.finditer(part):
            add(part[pos : match.start()])
            for piece in replace(match):
                add(piece)
            pos = match.end()
        add(part[pos:])
    parts.append("".join(current))
    return SplitTemplate(tuple(parts), tuple(slots))


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def track(settings: Settings, digest: Digest, campaign_id: int, table: Sequence[Link]) -> Tracked:
    """The digest with tracked links (and the open pixel if asked for)."""
    clicks = settings.tracking != "off" and bool(table)
    if not clicks and not settings.track_opens:
        return Tracked(digest, None)
    base, secret = settings.public_base_url, settings.secret
    person = settings.tracking == "person"
    index = {link.url: i for i, link in enumerate(table)}

    def target(i: int) -> Piece:
        return (f"link{i}",)

    html_t, text_t = digest.html_template, digest.text_template
    if clicks:

        def in_html(match: re.Match[str]) -> list[Piece]:
            i = index.get(html.unescape(match.group(1)))
            if i is None:
                return [match.group(0)]
            whole, start = match.group(0), match.start()
            return [whole[: match.start(1) - start], target(i), whole[match.end(1) - start :]]

        urls = sorted(index, key=len, reverse=True)
        plain = re.compile("(" + "|".join(re.escape(u) for u in urls) + ")" + _URL_TAIL)
        html_t = _rewrite(html_t, _HREF, in_html)
        text_t = _rewrite(text_t, plain, lambda match: [target(index[match.group(1)])])
    if settings.track_opens:
        src: Piece = ("open",) if person else f"{base}/o/{open_token(settings, campaign_id, None)}"
        pixel: list[Piece] = ['<img src="', src, '" width="1" height="1" alt="" style="border:0">']
        done: list[bool] = []

        def at_end(match: re.Match[str]) -> list[Piece]:
            if done:
                return [match.group(0)]
            done.append(True)
            return [*pixel, match.group(0)]

        html_t = _rewrite(html_t, _BODY_END, at_end)
    tracked = dataclasses.replace(digest, html_template=html_t, text_template=text_t)
    numbers = list(index.values()) if clicks else []
    if not person and not numbers:
        return Tracked(tracked, None)
    opens = person and settings.track_opens
    issued = int(time.time())
    sign = tokens.sign_encoded
    # Payload JSON per link, sorted keys, around what differs per copy:
    # person '{"c":5,"iat":..,"l":3,"s":' + id + '}', aggregate '{"c":5,"iat":..,"k":"' + nonce
    # + '","l":3}'.
    start = f'{{"c":{campaign_id},"iat":{issued},'
    if person:
        shapes = [(f"link{i}", f'{start}"l":{i},"s":', "}") for i in numbers]
    else:
        shapes = [(f"link{i}", f'{start}"{COPY}":"', f'","l":{i}}}') for i in numbers]

    def per_copy(reader: int) -> dict[str, str]:
        middle = str(int(reader)) if person else secrets.token_urlsafe(COPY_BYTES)
        values = {
            slot: f"{base}/r/{sign(secret, CLICK, head + middle + tail)}"
            for slot, head, tail in shapes
        }
        if opens:
            values["open"] = f"{base}/o/{open_token(settings, campaign_id, reader)}"
        return values

    return Tracked(tracked, per_copy)


def prepare(
    settings: Settings, sessions: sessionmaker[Session], campaign_id: int, digest: Digest
) -> Tracked:
    """Store (or load) the campaign's link table and track the digest's links."""
    if settings.tracking == "off" and not settings.track_opens:
        return Tracked(digest, None)
    found = extract(digest)
    try:
        with sessions.begin() as session:
            table = store(session, campaign_id, found)
    except IntegrityError:  # another worker stored it first: use theirs
        with sessions() as session:
            table = load(session, campaign_id)
    return track(settings, digest, campaign_id, table)
