"""A Word paper whose author left two links to fill in (``#``), as papers often arrive."""

from __future__ import annotations

from dataclasses import replace

from tests.briefing import documents as docs

PLACEHOLDERS = ("SIPRI Arms Transfers Database", "Council's own annual report")
REAL = {
    "SIPRI Arms Transfers Database": "https://www.sipri.org/databases/armstransfers",
    "Council's own annual report": "https://eur-lex.example.eu/annual-report-2024",
}


def _unlinked(block: docs.Block) -> docs.Block:
    pieces = tuple(
        ("a", x[1], "#") if isinstance(x, tuple) and x[0] == "a" and x[1] in PLACEHOLDERS else x
        for x in block.pieces
    )
    return replace(block, pieces=pieces)


def docx_with_placeholders() -> bytes:
    return docs.to_docx([_unlinked(b) for b in docs.POLICY_BRIEF])
