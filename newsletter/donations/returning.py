"""Scalar subqueries a statement's RETURNING carries, on SQLite as on PostgreSQL.

The busy webhook path reads what a gift needs (its receipt's extras, the donor's
subscriber, early refunds) in the RETURNING of the statement that writes it, saving a
round trip each. SQLAlchemy writes SQLite's RETURNING columns without their table,
and would do so inside such a subquery too, where an unqualified name can mean the
wrong table: this keeps the subquery's names qualified.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ScalarSelect


class Returned(ScalarSelect[Any]):
    """A scalar subquery with qualified column names wherever it is written."""

    inherit_cache = True


@compiles(Returned)
def _qualified(element: Returned, compiler: SQLCompiler, **kw: Any) -> str:
    kw["include_table"] = True
    text: str = compiler.visit_grouping(element, **kw)  # type: ignore[no-untyped-call]
    return text


def returned(query: Select[Any], outer: FromClause | None) -> Returned:
    """``query`` as a value in a RETURNING clause of a statement writing ``outer`` (or
    standing alone: None)."""
    return Returned(query.correlate(outer) if outer is not None else query)
