"""``newsletter subscribers lists ...``: show, create, rename and archive lists and topics.

Putting people on them, and publishing topics, are in ``memberships``. Thin: one
transaction through ``subscribers.lists``, one line or table of output.
"""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter import wiring
from newsletter.cli import memberships
from newsletter.cli.common import console, settings
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from subscribers import lists
from subscribers.models import Kind

app = typer.Typer(
    help="Lists and topics: show, create, rename, archive, publish; put people on them."
)
app.command("add")(memberships.add_to)
app.command("remove")(memberships.remove_from)
app.command("publish")(memberships.publish)
app.command("unpublish")(memberships.unpublish)


@app.callback(invoke_without_command=True)
def show_lists(ctx: typer.Context) -> None:
    """Show every list and topic with the people who may be mailed (subcommands change them)."""
    if ctx.invoked_subcommand is not None:
        return
    with transaction(wiring.sessions(settings())) as session:
        counts = lists.active_counts(session)
        table = Table("name", "kind", "slug", "may be mailed", "state")
        for item in lists.all_lists(session, include_archived=True):
            state = ["archived"] if item.archived else []
            if item.is_topic and not item.public:
                state.append("hidden from the form")
            table.add_row(
                item.name, item.kind, item.slug, f"{counts.get(item.id, 0):,}", ", ".join(state)
            )
    console.print(table)
    console.print(
        "A campaign goes to everyone on a list; topics only narrow it when --topic is given."
    )


@app.command("create")
def create_list(
    name: str = typer.Argument(..., help='For example "Nuclear weapons".'),
    description: str = typer.Option("", help="Shown to staff."),
    topic: bool = typer.Option(False, "--topic", help="Create a topic instead of a list."),
    hidden: bool = typer.Option(False, "--hidden", help="A topic kept off the public forms."),
) -> None:
    """Create a list, or a topic (--topic, public unless --hidden)."""
    if hidden and not topic:
        raise NewsletterError("--hidden is for topics: add --topic")
    with transaction(wiring.sessions(settings())) as session:
        kind = Kind.TOPIC if topic else Kind.LIST
        made = lists.create(session, name, description, kind=kind, public=not hidden)
        what = f"topic, {'hidden' if hidden else 'public'}" if topic else "list"
        console.print(f"created {made.name} ({made.slug}; {what})", highlight=False)


@app.command("rename")
def rename_list(old: str = typer.Argument(...), new: str = typer.Argument(...)) -> None:
    """Rename a list (its subscribers stay)."""
    with transaction(wiring.sessions(settings())) as session:
        changed = lists.rename(session, old, new)
        console.print(f"renamed to {changed.name} ({changed.slug})", highlight=False)


@app.command("archive")
def archive_list(
    name: str = typer.Argument(...),
    undo: bool = typer.Option(False, "--undo", help="Bring an archived list back."),
) -> None:
    """Hide a list from forms; subscriptions are kept."""
    with transaction(wiring.sessions(settings())) as session:
        changed = lists.archive(session, name, archived=not undo)
        console.print(f"{changed.name} {'restored' if undo else 'archived'}", highlight=False)
