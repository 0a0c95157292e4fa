"""What one live-preview request costs the server: the part form's fields rebuilt into
Markdown, parsed, linted and rendered as the sample reader's email (the work the console
does each time staff pause typing for 600 ms).

Prints CPU time per step and per request for the example briefing, best of R rounds of N
requests, and the requests a second one core could answer.

Run: ``.venv/bin/python -m bench.live [N] [--rounds R]`` (default N = 20, R = 3).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from newsletter import wiring
from newsletter.briefing import lint, markdown, parts
from newsletter.config import Settings
from newsletter.console.parts import check
from newsletter.digest import sample

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"


def per_call(count: int, rounds: int, body: Callable[[], object]) -> float:
    """CPU seconds per call, the best of ``rounds`` (the least disturbed by neighbours)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            body()
        best = min(best, (time.process_time() - start) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=20, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args()
    settings = Settings(_env_file=None, public_base_url="https://news.example.org")
    signer = wiring.signer(settings)
    base = markdown.load(EXAMPLE)
    fields = parts.parts_of(base)
    source = parts.rebuild(fields, base)
    briefing = markdown.parse(source)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("rebuild the Markdown from the fields", lambda: parts.rebuild(fields, base)),
        ("parse it", lambda: markdown.parse(source)),
        ("render the sample reader's message", lambda: sample.preview(briefing, settings, signer)),
        ("lint it", lambda: lint.lint(briefing, for_sending=True)),
        (
            "whole request body (rebuild + check)",
            lambda: check(parts.rebuild(fields, base), settings),
        ),
    ]
    print(
        f"bench.live: {EXAMPLE.name}, {len(source):,} characters of Markdown; one thread, "
        f"CPU time, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    whole = 0.0
    for name, body in steps:
        seconds = per_call(args.count, args.rounds, body)
        whole = seconds
        print(f"  {name:<40} {seconds * 1000:8.2f} ms")
    print(f"  one core answers about {1 / whole:,.0f} live previews a second")


if __name__ == "__main__":
    main()
