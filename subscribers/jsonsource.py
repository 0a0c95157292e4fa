"""listmonk's subscribers as its API returns them (JSON), read like a CSV file.

listmonk's CSV export leaves out which lists a person is on and how (unconfirmed,
confirmed, unsubscribed); its API (``GET /api/subscribers?per_page=all``) gives
them for each person. Without them an "enabled" person who unsubscribed from every
list would look mailable. The whole response is read at once: it is what the API
returned in one piece anyway.

Lists are not imported (a listmonk list may be private, and lists and topics are
chosen by staff here); their subscription statuses decide each person's status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from subscribers.csvfile import BAD_STATUS, CsvFileError, Row, require_file
from subscribers.formats import LISTMONK, Event, Layout, parse_time, split_tags

HEADER = ["email", "name", "status", "lists"]


def looks_like_json(path: Path) -> bool:
    """Whether the file starts (after blanks and a byte-order mark) with { or [."""
    with path.open("rb") as raw:
        start = raw.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return start[:1] in (b"{", b"[")


def _results(data: Any) -> list[Any]:
    if isinstance(data, dict):
        data = data.get("data", data)
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        raise ValueError
    return data


def person_status(subscriber: dict[str, Any]) -> str:
    """Our status for one listmonk subscriber, from its status and its subscriptions.

    Blocklisted and disabled people left; an enabled person unsubscribed from every
    list left too. Confirmed anywhere, or unconfirmed on a list known to be single
    opt-in (which listmonk mails), is active; otherwise unconfirmed is pending.
    """
    word = str(subscriber.get("status", "")).lower()
    if word in ("blocklisted", "disabled"):
        return "unsubscribed"
    if word != "enabled":
        return f"{BAD_STATUS}unknown status {word[:40]!r}"
    subscriptions = [s for s in subscriber.get("lists") or [] if isinstance(s, dict)]
    states = [str(s.get("subscription_status", "")) for s in subscriptions]
    if not subscriptions:
        return "active"
    if all(state == "unsubscribed" for state in states):
        return "unsubscribed"
    for sub, state in zip(subscriptions, states, strict=True):
        if state == "confirmed" or (state == "unconfirmed" and sub.get("optin") == "single"):
            return "active"
    return "pending"


class JsonSource:
    """The same interface as ``CsvSource`` for a listmonk API response."""

    encoding = "utf-8"
    delimiter = ""
    truncated_line = 0

    def __init__(self, path: Path) -> None:
        self.size = require_file(path)
        self.path = path
        try:
            self._people = _results(json.loads(path.read_text(encoding="utf-8-sig")))
        except (ValueError, UnicodeDecodeError):
            raise CsvFileError(
                f"{path}: not a listmonk subscriber list (expected the JSON of "
                "GET /api/subscribers, with data.results)"
            ) from None
        self.columns = Layout(
            header=HEADER, format=LISTMONK, email=0, name=1, status=2, kind="listmonk API export"
        )
        self.attribute_names: set[str] = set()
        self.list_names: set[str] = set()
        self.bytes_read = 0

    def close(self) -> None:
        self._people = []

    def __enter__(self) -> JsonSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[Row]:
        total = max(len(self._people), 1)
        for index, item in enumerate(self._people, start=1):
            self.bytes_read = self.size * index // total
            if not isinstance(item, dict):
                yield Row(index, [str(item)[:200]], "", "", "")
                continue
            subscriptions = [s for s in item.get("lists") or [] if isinstance(s, dict)]
            self.list_names.update(str(s.get("name", "")) for s in subscriptions)
            lists_cell = "; ".join(
                f"{s.get('name', '')}: {s.get('subscription_status', '')}" for s in subscriptions
            )
            email, name = str(item.get("email") or "").strip(), str(item.get("name") or "")
            attributes = item.get("attribs") or item.get("attributes") or {}
            tags: tuple[str, ...] = ()
            if isinstance(attributes, dict):
                found = attributes.get("tags")
                if isinstance(found, list):
                    tags = split_tags(";".join(str(t) for t in found))
                self.attribute_names.update(k for k in attributes if k != "tags")
            history: tuple[Event, ...] = ()
            created = parse_time(str(item.get("created_at") or ""))
            if created is not None:
                history = (("subscribe", created, ""),)
            status = person_status(item)
            cells = [email, name, str(item.get("status", "")), lists_cell]
            yield Row(index, cells, email, " ".join(name.split()), "", (), status, tags, history)
