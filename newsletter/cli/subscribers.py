"""``newsletter subscribers ...``: staff manage people, imports, exports and erasure.

Lists and topics (``subscribers lists``) and tags (``subscribers tag``) have their own modules.

Thin: parse arguments, call ``subscribers.*`` in one transaction, print with Rich.
"""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from newsletter import privacy, readers, wiring
from newsletter.cli import lists as cli_lists
from newsletter.cli import memberships, tuning
from newsletter.cli import tags as cli_tags
from newsletter.cli.common import console, settings
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from newsletter.staff import audit
from subscribers import (
    consent,
    csvfile,
    exporter,
    formats,
    importer,
    importreport,
    lists,
    people,
    tags,
)
from subscribers.models import Status, Subscriber

app = typer.Typer(
    help="People on the list, lists and topics, import and export.", no_args_is_help=True
)
app.add_typer(cli_lists.app, name="lists")
app.command("edit")(memberships.edit)
app.add_typer(cli_tags.app, name="tag")


def _sessions() -> sessionmaker[Session]:
    return wiring.sessions(settings())


def _staff(form: str, wording: str = "") -> consent.Context:
    """The consent context of a staff action: which command, by which system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return consent.Context(
        form=f"cli:{form}", wording=wording, user_agent=f"newsletter-cli ({user})"
    )


def _status(value: str | None) -> Status | None:
    if value is None:
        return None
    try:
        return Status(value.lower())
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise NewsletterError(f"unknown status {value!r} (choose from {choices})") from None


def _describe(session: Session, person: Subscriber) -> str:
    on_lists, following = people.memberships(session, person)
    names = ", ".join(m.name for m in on_lists) or "-"
    chosen = f"; topics: {', '.join(m.name for m in following)}" if following else ""
    return f"{person.email} ({person.status}; lists: {names}{chosen})"


@app.command("add")
def add(
    address: str = typer.Argument(..., help="Email address."),
    name: str = typer.Option("", help="The person's name."),
    language: str = typer.Option("", help="Language tag such as en or fr."),
    topic: list[str] = typer.Option([], "--topic", "-t", help="A topic (repeatable)."),
    list_name: list[str] = typer.Option(
        [], "--list", help="A list to join (repeatable; default: NEWSLETTER_DEFAULT_LIST)."
    ),
    pending: bool = typer.Option(False, help="Add as pending (not mailed until confirmed)."),
) -> None:
    """Add one person who gave their consent (active unless --pending), on the default list."""
    readers.address(address)  # refused here, as on the subscribe form, if it cannot be mailed
    with transaction(_sessions()) as session:
        joined = [lists.get_list(session, n) for n in list_name] or [
            lists.ensure_default(session, settings().default_list)
        ]
        person = people.add(
            session,
            address,
            _staff("add", "Added by staff with the person's consent"),
            name=readers.name(name),
            language=language or settings().language,
            topics=topic,
            lists=joined,
            status=Status.PENDING if pending else Status.ACTIVE,
        )
        console.print(f"added #{person.id} {_describe(session, person)}", highlight=False)


@app.command("list")
def list_people(
    status: str | None = typer.Option(None, help="pending, active, unsubscribed, bounced..."),
    topic: str | None = typer.Option(None, "--topic", "-t", help="Only people on this list."),
    search: str = typer.Option("", "--search", "-s", help="Part of the address or name."),
    limit: int = typer.Option(100, min=1, help="At most this many rows."),
) -> None:
    """Show people, filtered by status, topic and search text."""
    with transaction(_sessions()) as session:
        chosen = lists.get(session, topic) if topic else None
        found = people.search(
            session, status=_status(status), topic=chosen, text=search, limit=limit
        )
        names = {m.id: m.name for m in lists.all_lists(session, include_archived=True)}
        table = Table("id")
        table.add_column("email", overflow="fold")
        for title in ("name", "status", "lists", "since"):
            table.add_column(title)
        for person in found:
            subscribed = [names[s.list_id] for s in person.subscriptions if s.subscribed]
            table.add_row(
                str(person.id),
                person.email,
                person.name,
                person.status,
                ", ".join(sorted(subscribed)),
                person.created_at.date().isoformat(),
            )
    console.print(table)
    console.print(f"{len(found)} shown" + (f" (limit {limit})" if len(found) == limit else ""))


@app.command("show")
def show(address: str = typer.Argument(..., help="Email address or #id.")) -> None:
    """Everything about one person: details, lists and consent history."""
    with transaction(_sessions()) as session:
        person = people.lookup(session, address)
        on_lists, following = people.memberships(session, person)
        console.print(f"[bold]#{person.id} {person.email}[/]", highlight=False)
        for label, value in [
            ("name", person.name or "-"),
            ("language", person.language),
            ("status", person.status),
            ("source", person.source or "-"),
            ("created", person.created_at.isoformat(timespec="seconds")),
            (
                "confirmed",
                person.confirmed_at.isoformat(timespec="seconds") if person.confirmed_at else "-",
            ),
            ("lists", ", ".join(m.name for m in on_lists) or "-"),
            ("topics", ", ".join(m.name for m in following) or "-"),
        ]:
            console.print(f"  {label:<10} {value}", highlight=False)
        table = Table("when", "action", "lists", "form", "ip", title="consent log")
        for event in consent.history(session, person.id):
            table.add_row(
                event.at.isoformat(timespec="seconds"),
                event.action,
                ", ".join(event.lists),
                event.form,
                event.ip,
            )
        console.print(table)


@app.command("remove")
def remove(
    address: str = typer.Argument(..., help="Email address or #id."),
    list_name: str | None = typer.Option(None, "--list", help="Only take them off this list."),
) -> None:
    """Delete a person added by mistake, or with --list take them off one list.

    To stop mail to someone use `unsubscribe`; to forget them for good use `erase`.
    """
    with transaction(_sessions()) as session:
        person = people.lookup(session, address)
        if list_name:
            target = lists.get(session, list_name)
            changed = people.leave_list(session, person, target, _staff("remove"))
            note = "removed from" if changed else "was not on"
            archived = " (an archived list)" if target.archived else ""
            console.print(f"{person.email} {note} {target.name}{archived}", highlight=False)
            return
        email = person.email
        people.remove(session, person)
        audit.record(session, audit.cli_actor(), "subscriber.remove", email)
    console.print(f"deleted {email} (not suppressed: they may be added again)", highlight=False)


@app.command("unsubscribe")
def unsubscribe(address: str = typer.Argument(..., help="Email address or #id.")) -> None:
    """Stop all mail to a person now (they asked by phone, letter, reply...)."""
    with transaction(_sessions()) as session:
        person = people.lookup(session, address)
        changed = people.unsubscribe(
            session, person, _staff("unsubscribe", "Asked staff to unsubscribe")
        )
        if changed:
            audit.record(session, audit.cli_actor(), "subscriber.unsubscribe", person.email)
        note = "unsubscribed" if changed else f"was already not receiving mail ({person.status})"
        console.print(f"{person.email} {note}", highlight=False)


@app.command("reactivate")
def reactivate(address: str = typer.Argument(..., help="Email address or #id.")) -> None:
    """Bring back someone who unsubscribed, bounced or complained (with their new consent)."""
    with transaction(_sessions()) as session:
        person = people.lookup(session, address)
        people.reactivate(session, person, _staff("reactivate", "Person asked staff to resume"))
        audit.record(session, audit.cli_actor(), "subscriber.reactivate", person.email)
        console.print(f"reactivated {_describe(session, person)}", highlight=False)


@app.command("erase")
def erase(
    address: str = typer.Argument(..., help="Email address."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Right to erasure: remove the person, their bounce reports and the address in the
    send records; keep only a suppression hash.

    Donation and Gift Aid records are kept: the charity must be able to show them to
    HMRC, which can check Gift Aid claims for six years after the accounting period.
    """
    if not yes and not typer.confirm(f"Erase everything about {address}? This cannot be undone"):
        raise typer.Exit(1)
    with transaction(_sessions()) as session:
        done = privacy.erase(session, address, _staff("erase", "Erasure request"))
        # The trail keeps no erased address: only that an erasure happened, and when.
        audit.record(
            session,
            audit.cli_actor(),
            "subscriber.erase",
            detail="a subscriber erased" if done.person else "an unknown address suppressed",
        )
    what = "erased" if done.person else "was not on the list; now suppressed"
    console.print(
        f"{address.strip()} {what} (its hash stays on the suppression list); "
        f"{done.bounce_events:,} bounce reports emptied (kept only so the same report "
        "is not stored again), "
        f"address removed from {done.sends_removed:,} send records",
        highlight=False,
    )
    if done.gifts_kept or done.declarations_kept:
        console.print(
            f"kept {done.gifts_kept:,} gifts and {done.declarations_kept:,} Gift Aid "
            f"declarations: {privacy.DONATIONS_KEPT}",
            highlight=False,
        )


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", "-o", help="CSV file to write."),
    list_name: str | None = typer.Option(None, "--list", help="Only people on this list."),
    status: str = typer.Option("active", help="Status to export, or 'all'."),
    tag: str | None = typer.Option(None, "--tag", help="Only people with this tag."),
) -> None:
    """Write people to CSV (same columns the importer reads).

    A cell starting with = + - @ (or a tab or carriage return) gets a ' in front,
    so a spreadsheet shows it as text instead of running it as a formula; `import`
    takes that ' off again.
    """
    chosen_status = None if status.lower() == "all" else _status(status)
    with transaction(_sessions()) as session:
        chosen = lists.get(session, list_name) if list_name else None
        chosen_tag = tags.get(session, tag) if tag else None
        try:
            count = exporter.export_csv(
                session, output, mailing_list=chosen, status=chosen_status, tag=chosen_tag
            )
        except OSError as exc:
            raise NewsletterError(f"cannot write {output}: {exc.strerror}") from None
        audit.record(
            session, audit.cli_actor(), "subscribers.export", f"status={status}", f"{count} people"
        )
    console.print(f"wrote {count:,} people to {output}", highlight=False)


@app.command("export-person")
def export_person(
    address: str = typer.Argument(..., help="Email address."),
    output: Path | None = typer.Option(None, "--output", "-o", help="JSON file (default: print)."),
) -> None:
    """Right of access: everything held about one person, as JSON (details, lists,
    consent log, briefings sent, bounce reports, donations and Gift Aid declarations)."""
    with transaction(_sessions()) as session:
        record = privacy.export_person(session, address)
        audit.record(session, audit.cli_actor(), "subscriber.export-person", address.strip())
    text = json.dumps(record, indent=2, ensure_ascii=False)
    if output is None:
        print(text)
    else:
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise NewsletterError(f"cannot write {output}: {exc.strerror}") from None
        console.print(f"wrote {output}", highlight=False)


@app.command("import")
def import_file(
    file: Path = typer.Argument(
        ...,
        help="CSV file: a Mailchimp or listmonk export, our own export, or any CSV with an "
        "email column (name, language, topics, tags optional).",
    ),
    list_name: str | None = typer.Option(
        None, "--list", help="Subscribe everyone to this list too."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, change nothing."),
    errors: Path | None = typer.Option(None, "--errors", help="Where to write rejected rows."),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="mailchimp, listmonk, newsletter or generic (default: recognised from the header).",
    ),
    mapping: str | None = typer.Option(
        None,
        "--map",
        help='Which column is which, e.g. "E-mail=email,Vorname=first_name" (fields: email, '
        "name, first_name, last_name, language, tags, status, lists or topics, ignore).",
    ),
    status: str | None = typer.Option(
        None,
        "--status",
        help="Status of people whose file does not give one: subscribed (needs --consent), "
        "unsubscribed, cleaned, complained or pending.",
    ),
    topics_from: str | None = typer.Option(
        None,
        "--topics-from",
        help='A column of interests (e.g. Mailchimp\'s "Topics of interest") whose values become '
        "topics, hidden from the subscribe form until `subscribers lists publish`.",
    ),
    consent_basis: str = typer.Option(
        "",
        "--consent",
        help='How these people agreed to be mailed, e.g. "Signed up at our 2024 conference"; '
        "kept in each person's consent log.",
    ),
) -> None:
    """Import people from CSV in one transaction: it completes or changes nothing.

    Nobody who unsubscribed, bounced or is suppressed becomes active. A file that does
    not record each person's status (any CSV but a Mailchimp, listmonk or our own
    export) needs --consent, or --status for people who are not to be mailed.
    """
    if fmt is not None and fmt.lower() not in formats.FORMATS:
        raise NewsletterError(f"unknown --format {fmt!r} (choose {', '.join(formats.FORMATS)})")
    size = csvfile.require_file(file)
    chosen_format = fmt.lower() if fmt else None
    columns_map = formats.parse_map(mapping) if mapping is not None else None
    if topics_from:
        columns_map = {**(columns_map or {}), formats.label(topics_from): "topics"}
    importer.check(  # refuse before the progress bar starts
        file, fmt=chosen_format, mapping=columns_map, status=status, consent=consent_basis
    )
    sessions = _sessions()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TextColumn("{task.fields[rate]:>8,.0f} rows/s"),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    # Drawn as each batch is done (a few times a second), not by rich's own refresh
    # thread: on a terminal that thread's wake-ups took the interpreter lock from the
    # import a thousand times a second under the import's short switch interval.
    with Progress(*columns, console=console, transient=False, auto_refresh=False) as progress:
        task = progress.add_task("importing", total=max(size, 1), rows=0, rate=0.0)

        def report(rows: int, read: int) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-6)
            # After the last batch the import still indexes and commits: say so, as the
            # bar stands at 100% meanwhile.
            last = read >= size
            progress.update(
                task,
                completed=read,
                rows=rows,
                rate=rate,
                description="saving" if last else "importing",
                refresh=True,
            )

        with tuning.bulk_import():
            summary = importer.import_csv(
                sessions,
                file,
                list_name=list_name,
                dry_run=dry_run,
                errors_path=errors,
                default_language=settings().language,
                progress=report,
                fmt=chosen_format,
                mapping=columns_map,
                status=status,
                consent=consent_basis,
            )
        # The bar stays on screen: it ends saying what was done, not "saving".
        progress.update(
            task, completed=max(size, 1), description="checked" if dry_run else "imported"
        )
    if not dry_run:
        with transaction(sessions) as session:
            audit.record(
                session,
                audit.cli_actor(),
                "subscribers.import",
                list_name or "",
                f"{file.name}: {summary.added} added, {summary.updated} updated of {summary.rows}",
            )
    _print_summary(summary)


_ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with byte-order mark)",
    csvfile.WINDOWS_1252: "Windows-1252",
}


def _print_summary(summary: importreport.Summary) -> None:
    title = "dry run: nothing was changed" if summary.dry_run else "import complete"
    table = Table("", "rows", title=title, title_justify="left")
    rows, notes = importreport.report(summary)
    for label, count in rows:
        table.add_row(label, f"{count:,}")
    console.print(table)
    delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(summary.delimiter)
    encoding = _ENCODINGS.get(summary.encoding, summary.encoding)
    shape = f"{delimiter}-separated" if delimiter else "JSON"
    console.print(f"read as {encoding}, {shape}", highlight=False)
    for note in notes:
        console.print(note, highlight=False)
    if summary.errors_path:
        console.print(f"rejected rows written to {summary.errors_path}", highlight=False)
