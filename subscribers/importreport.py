"""What an import did (or, for a dry run, would have done), and the words staff read for it.

The command line and the console show the same rows and notes (``report``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Why a row was skipped, as staff read it.
SUPPRESSED = "suppressed"
CUT_OFF = "file ends mid-row"
NO_STATUS = "no status"
NEVER_SUBSCRIBED = "never subscribed"
NO_BASIS = "subscribed without a stated consent basis"


@dataclass
class Summary:
    """What an import did (or, for a dry run, would have done)."""

    path: Path
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows repeating an address met earlier in the file (merged into it)
    skipped: Counter[str] = field(default_factory=Counter)
    lists_created: list[str] = field(default_factory=list)
    errors_path: Path | None = None
    dry_run: bool = False
    kind: str = ""  # what the file is: "Mailchimp export of cleaned contacts"
    added_as: Counter[str] = field(default_factory=Counter)  # new people by status
    lowered: Counter[str] = field(default_factory=Counter)  # people the file took off mailing
    suppressed: int = 0  # addresses this import put on the suppression list
    tags_created: list[str] = field(default_factory=list)
    tagged: int = 0  # people who got at least one tag from the file
    history: int = 0  # consent events carried over from the old tool
    not_imported: list[str] = field(default_factory=list)  # columns (and attributes) left out


def report(summary: Summary) -> tuple[list[tuple[str, int]], list[str]]:
    """What an import did, as (label, count) rows and notes, worded for staff: the command
    line and the console show the same words."""
    would = "would be " if summary.dry_run else ""
    rows = [(f"{would}added as {status}", n) for status, n in sorted(summary.added_as.items())]
    rows = rows or [(f"{would}added", 0)]
    rows.append((f"{would}updated", summary.updated))
    rows += [
        (f"{would}updated: now {s} (not mailed)", n) for s, n in sorted(summary.lowered.items())
    ]
    rows += [("unchanged", summary.unchanged), ("duplicates merged", summary.duplicates)]
    rows += [(f"skipped: {reason}", n) for reason, n in sorted(summary.skipped.items())]
    rows.append(("total rows", summary.rows))
    notes = [f"recognised as: {summary.kind}"] if summary.kind else []
    if summary.suppressed:
        notes.append(f"{would}added to the suppression list: {summary.suppressed:,}")
    if summary.history:
        notes.append(f"consent events {would}carried over: {summary.history:,}")
    if summary.tagged:
        notes.append(f"people {would}tagged: {summary.tagged:,}")
    if summary.lists_created:
        notes.append(
            f"new lists and topics: {', '.join(summary.lists_created)} (a new topic is hidden "
            "from the subscribe form until staff publish it)"
        )
    if summary.tags_created:
        notes.append(f"new tags (private): {', '.join(summary.tags_created)}")
    notes += [f"not imported: {what}" for what in summary.not_imported]
    return rows, notes
