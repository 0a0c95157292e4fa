"""Whether a database is plainly at the newest schema, answered without Alembic.

Every command opens the database through ``database.open_database``, which checks the
schema first, and importing Alembic (Mako and Pygments with it) and loading its scripts
takes a good part of a short command's start. So the heads are first read straight from
the migration scripts' ``revision`` and ``down_revision`` lines: when the database stores
exactly those heads, every script is applied (a stored revision implies its ancestors).
Anything else, an older database or a script this reading does not understand, is left
to Alembic's full answer.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


def plainly_current(engine: Engine, versions: Path) -> bool:
    """True when the stored heads are exactly the scripts' heads; False when unsure."""
    heads = script_heads(versions)
    if heads is None:
        return False
    try:
        with engine.connect() as conn:
            stored = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    except DBAPIError:  # no table yet, or no database: the full check says which
        return False
    return stored == heads


@lru_cache(maxsize=4)
def script_heads(versions: Path) -> frozenset[str] | None:
    """Revisions no script names as its ``down_revision`` (None: a script not understood)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        found = _assignments(ast.parse(path.read_text(encoding="utf-8")))
        revision, down = found.get("revision"), found.get("down_revision", ...)
        if not isinstance(revision, str) or revision in revisions or down is ...:
            return None
        if isinstance(down, str):
            down = (down,)
        if down is not None and not (
            isinstance(down, tuple | list) and all(isinstance(d, str) for d in down)
        ):
            return None
        revisions.add(revision)
        parents.update(down or ())
    heads = revisions - parents
    return frozenset(heads) if heads and parents <= revisions else None


def _assignments(module: ast.Module) -> dict[str, object]:
    """Top-level ``revision`` and ``down_revision`` values that are plain literals."""
    out: dict[str, object] = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                out[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                out[target.id] = ...  # computed: not understood here
    return out
