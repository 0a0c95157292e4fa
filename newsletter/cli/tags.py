"""``newsletter subscribers tag add|remove|list``: staff's private labels on people.

Thin: one transaction through ``subscribers.tags``, one line or table of output.
"""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter import wiring
from newsletter.cli.common import console, settings
from newsletter.database import transaction
from subscribers import people, tags

app = typer.Typer(
    help="Tags: staff's private labels on people (never shown to them).", no_args_is_help=True
)


@app.command("add")
def tag_add(
    address: str = typer.Argument(..., help="Email address or #id."),
    names: list[str] = typer.Argument(..., help="One or more tags."),
) -> None:
    """Tag a person (the tag is created if new)."""
    with transaction(wiring.sessions(settings())) as session:
        person = people.lookup(session, address)
        added = tags.add(session, person, names)
        mine = tags.of(session, [person.id]).get(person.id, [])
    note = f"tagged {', '.join(added)}" if added else "already had these tags"
    console.print(f"{person.email}: {note} (tags: {', '.join(mine)})", highlight=False)


@app.command("remove")
def tag_remove(
    address: str = typer.Argument(..., help="Email address or #id."),
    names: list[str] = typer.Argument(..., help="One or more tags."),
) -> None:
    """Take tags off a person."""
    with transaction(wiring.sessions(settings())) as session:
        person = people.lookup(session, address)
        removed = tags.remove(session, person, names)
        mine = tags.of(session, [person.id]).get(person.id, [])
    note = f"removed {', '.join(removed)}" if removed else "had none of these tags"
    console.print(f"{person.email}: {note} (tags: {', '.join(mine) or '-'})", highlight=False)


@app.command("list")
def tag_list(
    address: str | None = typer.Argument(None, help="Only this person's tags."),
) -> None:
    """Every tag with how many people carry it, or one person's tags."""
    with transaction(wiring.sessions(settings())) as session:
        if address is not None:
            person = people.lookup(session, address)
            mine = tags.of(session, [person.id]).get(person.id, [])
            console.print(f"{person.email}: {', '.join(mine) or 'no tags'}", highlight=False)
            return
        table = Table("tag", "people", title="tags (private to staff)", title_justify="left")
        for tag, count in tags.all_tags(session):
            table.add_row(tag.name, f"{count:,}")
    console.print(table)
