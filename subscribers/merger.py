"""Applying an import's rows to the database: merge with who is there, never re-subscribe.

One ``Merger`` per import, fed batch after batch of prepared rows (``batches``): it
looks up existing people and suppressions once per batch, inserts the new people and
fills in what the file adds about the others through the database's bulk ``Writer``,
and counts everything in the import's ``Summary``.
"""

from __future__ import annotations

import bisect
import functools
import json

from sqlalchemy.orm import Session

from subscribers import lists, suppression, tags
from subscribers.batches import Prepared, Record
from subscribers.bulk import Existing, Writer, writer_for
from subscribers.csvfile import CsvSource, Row
from subscribers.folding import key as search_key
from subscribers.formats import GENERIC, NOT_SUBSCRIBED, TOOLS, Layout
from subscribers.importreport import NEVER_SUBSCRIBED, NO_BASIS, NO_STATUS, SUPPRESSED, Summary
from subscribers.jsonsource import JsonSource
from subscribers.models import BLOCKED, Kind, MailingList, Status
from subscribers.orm import utcnow
from subscribers.people import clean_language
from subscribers.rejects import Rejects
from subscribers.slugs import slugify

_SUPPRESSION_REASON = {
    Status.UNSUBSCRIBED.value: suppression.UNSUBSCRIBED,
    Status.BOUNCED.value: suppression.HARD_BOUNCE,
    Status.COMPLAINED.value: suppression.COMPLAINT,
}


class Merger:
    """Merges one import's batches into the database, in the session's transaction."""

    def __init__(
        self,
        session: Session,
        source: CsvSource | JsonSource,
        summary: Summary,
        rejects: Rejects,
        *,
        list_name: str | None,
        default_language: str,
        default_status: str,
        consent_basis: str,
    ) -> None:
        self.session = session
        self.source = source
        self.summary = summary
        self.rejects = rejects
        self.default_language = clean_language(default_language)
        self.writer: Writer = writer_for(session)
        self.writer.start()  # before any statement: see ``Writer.start``
        self.label = f"import:{source.path.name}"[:100]
        self.default_status = default_status
        # A file of unknown origin that calls people "subscribed" proves nothing.
        self.active_needs_basis = source.columns.format == GENERIC and not consent_basis
        layout: Layout = source.columns
        tool = TOOLS[layout.format]
        self.history_form = f"import:{layout.format}"
        self.history_wording = (
            f"Recorded by {tool} before the move; imported by staff from {source.path.name}"
        )
        base = f"Imported by staff from {source.path.name}"
        self.wording = f"{base}: {consent_basis}" if consent_basis else base
        self.tool_note = f" (status as recorded by {tool})" if tool and tool != "newsletter" else ""
        self._tags: dict[str, int] = {}
        self._lists: dict[str, MailingList] = {}
        self._touched = bytearray()  # one bit per person id met in this file
        self._starts: list[int] = []  # ... and runs of ids it added, first and last
        self._ends: list[int] = []
        self._combos: dict[tuple[str, ...], tuple[tuple[int, ...], str]] = {}
        self._expected = False  # whether the writer was told the file's size (``batch``)
        self._later: list[dict[str, Record]] = []  # see ``batch``
        try:
            self.base: list[MailingList] = [self._list(list_name, Kind.LIST)] if list_name else []
            if self.base and self.base[0].is_topic:
                lists.get_list(session, self.base[0].name)  # refuses with the clear line
        except BaseException:
            self.writer.finish(verify=False)  # the pooled connection gets its settings back
            raise

    def _list(self, name: str, kind: Kind = Kind.TOPIC) -> MailingList:
        """The list or topic ``name``; a missing one is created as ``kind`` (the file's
        topics column makes topics, ``--list`` a list). A topic an import creates is hidden
        from the public form until staff publish it: a file's labels may be private."""
        found = self._lists.get(name)
        if found is not None:
            return found
        slug = slugify(name)
        found = self._lists.get(slug)
        if found is None:
            self.writer.drain()  # the session's statements come after the writer's
            found = lists.find(self.session, name)
            if found is None:
                found = lists.create(self.session, name, kind=kind, public=kind == Kind.LIST)
                self.summary.lists_created.append(found.name)
            self.writer.hold("lists", found.id)
            self._lists[slug] = found
        self._lists[name] = found
        return found

    def _added(self, ids: list[int]) -> None:
        """Mark people this import has just added as met: a run of consecutive ids (the
        usual case) is kept as one range instead of one bit at a time."""
        if ids and ids == list(range(ids[0], ids[0] + len(ids))):
            at = bisect.bisect_left(self._starts, ids[0])
            self._starts.insert(at, ids[0])
            self._ends.insert(at, ids[-1])
        else:
            for sid in ids:
                self._touch(sid)

    def _touch(self, sid: int) -> bool:
        """Mark a person as met in this file; True if they had been met already."""
        at = bisect.bisect_right(self._starts, sid) - 1
        if at >= 0 and sid <= self._ends[at]:
            return True
        if sid >= len(self._touched) * 8:
            self._touched.extend(bytes(max(sid // 8 + 1 - len(self._touched), 4096)))
        byte, bit = divmod(sid, 8)
        seen = bool(self._touched[byte] >> bit & 1)
        self._touched[byte] |= 1 << bit
        return seen

    def _skip(self, rows: list[Row], reason: str, detail: str = "") -> None:
        for row in rows:
            self.summary.skipped[reason] += 1
            self.rejects.add(row.line, detail or reason, row.cells)

    def batch(self, prepared: Prepared) -> None:
        if not self._expected:
            self._expected = True
            # The first batch is read before anything is written: the file's size over
            # the bytes it took says about how many rows follow.
            rows = prepared.rows * self.source.size // max(prepared.bytes_read, 1)
            self.writer.expect(max(rows, prepared.rows))
        for row, reason, detail in prepared.rejected:
            self._skip([row], reason, detail)
        records = prepared.records
        seen = self.writer.seen
        if seen is None:
            if records:
                self._merge(records)
            return
        # A first import (PostgreSQL): the addresses it has written are remembered, so a
        # batch's new addresses need no look-up, and one it may have written waits for
        # the end (``last``): a batch never waits for the server to finish the one
        # before it just to look an address up.
        later = {key: record for key, record in records.items() if key in seen}
        if later:
            self._later.append(later)
        new = {key: record for key, record in records.items() if key not in later}
        if new:
            self._merge(new, absent=True)

    def last(self) -> None:
        """Merge what ``batch`` held back, in the file's order: later rows still win."""
        later, self._later = self._later, []
        if later:
            self.writer.ready_to_look_up()
        for records in later:
            self._merge(records)

    def _combo(self, topics: tuple[str, ...]) -> tuple[tuple[int, ...], str]:
        """List ids and the consent log's JSON for one combination of topics (cached)."""
        found = self._combos.get(topics)
        if found is None:
            chosen = {m.id: m for m in [*self.base, *(self._list(t) for t in topics)]}
            names = json.dumps(sorted(m.name for m in chosen.values()))
            found = self._combos[topics] = (tuple(chosen), names)
        return found

    def _tag(self, name: str) -> int:
        found = self._tags.get(name)
        if found is None:
            self.writer.drain()  # the session's statements come after the writer's
            tag, created = tags.ensure(self.session, name)
            self.writer.hold("tags", tag.id)
            if created:
                self.summary.tags_created.append(tag.name)
            found = self._tags[name] = tag.id
        return found

    def _wording(self, status: str) -> str:
        if status == Status.ACTIVE:
            return self.wording
        return f"{self.wording}; imported as {status}{self.tool_note}"

    def _merge(self, records: dict[str, Record], *, absent: bool = False) -> None:
        """``absent``: none of these addresses can be in the database yet (see ``batch``)."""
        existing = {} if absent else self.writer.existing(list(records))
        suppressed = self.writer.suppressed_keys(list(records))
        stamp = self.writer.stamp(utcnow())
        new: list[tuple[Record, str]] = []
        known: list[tuple[Record, Existing, str]] = []
        default = self.default_status
        for key, record in records.items():
            target = record.status or default
            if not target:
                self._skip(record.rows, NO_STATUS, f"{NO_STATUS}: say which with --status")
                continue
            if target == NOT_SUBSCRIBED:
                self._skip(record.rows, NEVER_SUBSCRIBED, "never subscribed: not imported")
                continue
            if target == Status.ACTIVE and self.active_needs_basis:
                self._skip(record.rows, NO_BASIS, f"{NO_BASIS}: give --consent to import")
                continue
            found = existing.get(key)
            blocked = target in BLOCKED
            if found is not None and found[1] in BLOCKED and not blocked:
                self._skip(record.rows, found[1], f"{found[1]}: never re-subscribed by an import")
            elif key in suppressed and (found is None or not blocked):
                self._skip(record.rows, SUPPRESSED, "suppressed: asked never to be mailed")
            elif found is None:
                new.append((record, target))
            else:
                known.append((record, found, target))

        label, default_language = self.label, self.default_language
        language = _language
        ids = self.writer.insert_subscribers(
            [
                (r.email, r.key, r.name[:200], language(r.language or default_language), t, label)
                for r, t in new
            ],
            stamp,
        )
        if self.writer.seen is not None:
            self.writer.seen.update(r.key for r, _ in new)
        pairs: list[tuple[int, int]] = []
        consent: list[tuple[int, str]] = []
        add_pair, add_consent, combo = pairs.append, consent.append, self._combo
        self._added(ids)
        duplicates = 0
        active = Status.ACTIVE.value
        others: list[tuple[int, str, str]] = []  # people not active: id, names, status
        leaving: list[tuple[str, str, str]] = []  # suppressions: key, reason, evidence
        events: list[tuple[int, str, str, str]] = []
        tagging: list[tuple[int, int]] = []  # new people's: they have none yet
        retagging: list[tuple[int, int]] = []
        add_event, add_tag, tag_ids = events.append, tagging.append, self._tags
        for (record, target), sid in zip(new, ids, strict=True):
            list_ids, names = combo(tuple(record.topics))
            duplicates += len(record.rows) - 1
            if target == active:
                for list_id in list_ids:
                    add_pair((sid, list_id))
                add_consent((sid, names))
            else:
                self._other(sid, record, target, names, list_ids, others, leaving, pairs)
            for action, at, ip in record.history:
                add_event((sid, action, at, ip))
            if record.tags:
                for name in record.tags:
                    add_tag((sid, tag_ids.get(name) or self._tag(name)))
        self.summary.duplicates += duplicates
        self.summary.added += len(new)
        if len(new) and not others:
            self.summary.added_as[active] += len(new)
        else:
            self.summary.added_as.update(t for _, t in new)
        if known:
            self._update(known, pairs, consent, others, leaving, events, retagging, stamp)
        self.writer.insert_subscriptions(pairs, stamp)
        self.writer.insert_consent(consent, stamp, label, self.wording)
        for status in sorted({status for _, _, status in others}):
            group = [(sid, names) for sid, names, s in others if s == status]
            self.writer.insert_consent(group, stamp, label, self._wording(status))
        if leaving:
            fresh = [entry for entry in leaving if entry[0] not in suppressed]
            self.summary.suppressed += len({key for key, _, _ in fresh})
            self.writer.insert_suppressions(fresh, stamp)
        if events:
            self.summary.history += len(events)
            self.writer.insert_events(events, self.history_form, self.history_wording)
        if tagging or retagging:
            self.summary.tagged += len({sid for sid, _ in tagging} | {s for s, _ in retagging})
            self.writer.insert_tags(tagging, stamp, new=True)
            self.writer.insert_tags(retagging, stamp)

    def _other(
        self,
        sid: int,
        record: Record,
        target: str,
        names: str,
        list_ids: tuple[int, ...],
        others: list[tuple[int, str, str]],
        leaving: list[tuple[str, str, str]],
        pairs: list[tuple[int, int]],
    ) -> None:
        """A new person who is not active: pending people keep their lists; people who
        left or bounced are suppressed and get none."""
        others.append((sid, names, target))
        reason = _SUPPRESSION_REASON.get(target)
        if reason is None:
            pairs.extend((sid, list_id) for list_id in list_ids)
        else:
            leaving.append((record.key, reason, f"{self.label} ({target})"))

    def _update(
        self,
        known: list[tuple[Record, Existing, str]],
        pairs: list[tuple[int, int]],
        consent: list[tuple[int, str]],
        others: list[tuple[int, str, str]],
        leaving: list[tuple[str, str, str]],
        events: list[tuple[int, str, str, str]],
        tagging: list[tuple[int, int]],
        stamp: object,
    ) -> None:
        """People already in the database: fill in what the file adds, never raise their
        status (a pending person becomes active only on a row that is active), lower it
        when the file says they left or bounced, count the rest."""
        active = Status.ACTIVE.value
        have = self.writer.subscriptions([found[0] for _, found, _ in known])
        updates: list[dict[str, object]] = []
        for record, (sid, status, name, language), target in known:
            list_ids, names = self._combo(tuple(record.topics))
            change: dict[str, object] = {}
            leaves = target in BLOCKED
            if leaves:
                list_ids = ()
                reason = _SUPPRESSION_REASON[target]
                leaving.append((record.key, reason, f"{self.label} ({target})"))
                if status not in BLOCKED:
                    change["status"] = target
                    self.summary.lowered[target] += 1
            missing = [list_id for list_id in list_ids if (sid, list_id) not in have]
            if record.name and record.name[:200] != name:
                change["name"] = record.name[:200]
                change["search_key"] = search_key(record.key, record.name[:200])
            if record.language and _language(record.language) != language:
                change["language"] = _language(record.language)
            if status == Status.PENDING and target == active:
                change["status"] = active
                change["confirmed_at"] = stamp
            if record.tags:
                tagging.extend((sid, self._tag(tag)) for tag in record.tags)
            seen = self._touch(sid)
            self.summary.duplicates += len(record.rows) - (0 if seen else 1)
            if change or missing:
                self.summary.updated += 0 if seen else 1
                updates.append({"sid": sid, **change})
                pairs.extend((sid, list_id) for list_id in missing)
                if "status" in change and change["status"] != active:
                    others.append((sid, names, target))
                else:
                    consent.append((sid, names))
                if "status" in change and record.history:
                    events.extend((sid, *event) for event in record.history)
            elif not seen:
                self.summary.unchanged += 1
        self.writer.update_subscribers(updates, stamp)


_language = functools.lru_cache(maxsize=1024)(clean_language)
