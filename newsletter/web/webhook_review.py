"""Signed Stripe events that no sane Stripe would send: refused with 400, kept for review.

The signature proves the body came from someone holding the webhook secret, not that
it is well formed. A body nested thousands of levels deep (Python's parser gives up
with ``RecursionError``) or a timestamp such as ``created=1e30`` (no database column
holds it) used to answer 500, which Stripe retries for three days. Such a body is
refused with 400 so the retries stop, and written to ``NEWSLETTER_WEBHOOK_REVIEW_DIR``
so staff can see what came in (a leaked webhook secret would show up here first).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

MAX_DEPTH = 32  # Stripe's objects nest about six levels deep
MAX_INTEGER = 2**53  # Stripe's amounts and counts are JavaScript-safe integers
MAX_TIMESTAMP = 2**31 - 1  # Unix time as Stripe's events carry it (and as it is stored)
NESTED_TOO_DEEPLY = "nested too deeply"  # what Python's parser could not read
_TIME_SUFFIXES = ("_at", "_start", "_end", "_date", "_anchor")


def _is_time(key: str) -> bool:
    return key == "created" or key.endswith(_TIME_SUFFIXES)


def problem(payload: bytes) -> str | None:
    """Why ``payload`` cannot be a genuine Stripe event, or None when it could be."""
    try:
        data: Any = json.loads(payload)
    except RecursionError:
        return NESTED_TOO_DEEPLY
    except ValueError:
        return None  # not JSON at all: the event parser refuses it with its own message
    return problem_in(data)


def problem_in(data: Any) -> str | None:
    """``problem`` for a body already parsed."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((v, str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, key, depth + 1) for v in value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{key or 'a value'} is not a finite number"
        elif isinstance(value, int | float):
            if _is_time(key) and not 0 <= value <= MAX_TIMESTAMP:
                return f"{key} is not a plausible Unix time: {value!r}"
            if abs(value) > MAX_INTEGER:
                return f"{key or 'a number'} is out of range: {value!r}"
    return None


def keep(directory: Path, payload: bytes, signature: str, reason: str) -> Path:
    """Write the refused delivery to ``directory``, one JSON file per distinct body
    (named by its digest), and return its path. A body that comes again (Stripe
    retries) keeps its first file, which says when it first came."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(payload).hexdigest()[:16]
    path = directory / f"{digest}.json"
    record = {
        "received_at": int(time.time()),
        "reason": reason,
        "stripe_signature": signature,
        "body": payload.decode("utf-8", errors="replace"),
    }
    with contextlib.suppress(FileExistsError), path.open("x", encoding="utf-8") as out:
        out.write(json.dumps(record, indent=1))
    return path
