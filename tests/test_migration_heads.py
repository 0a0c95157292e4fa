"""The quick schema check: it says "current" only when Alembic would, and defers otherwise."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Engine

from newsletter import database
from newsletter.migration_heads import plainly_current, script_heads

VERSIONS = database.MIGRATIONS / "versions"


def _script(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(f'"""{name}"""\n\n{body}\n', encoding="utf-8")


def test_an_upgraded_database_is_current_and_an_older_one_is_left_to_alembic(
    engine: Engine,
) -> None:
    assert plainly_current(engine, VERSIONS)
    command.downgrade(database.alembic_config(engine), "camp_0004")
    assert not plainly_current(engine, VERSIONS)
    assert not database.is_current(engine)
    database.upgrade(engine)
    assert plainly_current(engine, VERSIONS) and database.is_current(engine)


def test_an_empty_database_is_not_current(tmp_path: Path) -> None:
    empty = database.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not plainly_current(empty, VERSIONS)


def test_heads_follow_branches_and_merges(tmp_path: Path) -> None:
    _script(tmp_path, "a1", 'revision = "a1"\ndown_revision = None')
    _script(tmp_path, "a2", 'revision = "a2"\ndown_revision = "a1"')
    _script(tmp_path, "b1", 'revision: str = "b1"\ndown_revision: str | None = None')
    _script(tmp_path, "m", 'revision = "m"\ndown_revision = ("a2", "b1")')
    _script(tmp_path, "c1", 'revision = "c1"\ndown_revision = None\ndepends_on = "a1"')
    assert script_heads(tmp_path) == frozenset({"m", "c1"})


def test_a_script_not_understood_defers_to_alembic(tmp_path: Path) -> None:
    _script(tmp_path, "a1", 'revision = "a1"\ndown_revision = None')
    _script(tmp_path, "a2", 'revision = "a2"\ndown_revision = PREVIOUS')
    assert script_heads(tmp_path) is None
    (tmp_path / "a2.py").unlink()
    _script(tmp_path, "a3", 'revision = "a3"\ndown_revision = "gone"')  # an unknown parent
    script_heads.cache_clear()
    assert script_heads(tmp_path) is None
