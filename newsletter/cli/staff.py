"""``newsletter staff ...``: the people who may sign in to the console, and their roles.

The first owner can only be made here: the console never lets a stranger create an account.
Each command also writes the audit trail, naming the operating-system user.
"""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter import wiring
from newsletter.cli.common import console, settings
from newsletter.database import transaction
from newsletter.staff import accounts, audit

app = typer.Typer(help="Staff accounts of the web console: add, list, role, remove.")


def _link(token: str) -> str:
    return f"{settings().public_base_url.rstrip('/')}/admin/password/{token}"


@app.command("add")
def add(
    email: str = typer.Argument(..., help="The staff member's email address."),
    role: str = typer.Option("viewer", "--role", help="owner, editor or viewer."),
    name: str = typer.Option("", "--name", help="Their name, as the console shows it."),
) -> None:
    """Add a staff account and print a one-time link to choose its password."""
    with transaction(wiring.sessions(settings())) as session:
        member = accounts.add(session, email, accounts.role_of(role), name)
        token = accounts.issue_link(session, member, "welcome", accounts.utc_now())
        audit.record(session, audit.cli_actor(), "staff.add", member.email, f"role {member.role}")
        address, given = member.email, member.role
    console.print(f"added {address} as {given}. Send them this link (valid for 3 days, once):")
    console.print(_link(token), soft_wrap=True, highlight=False)


@app.command("list")
def list_staff() -> None:
    """Every staff account with its role and whether a password and second factor are set."""
    with transaction(wiring.sessions(settings())) as session:
        table = Table("email", "name", "role", "password", "second factor")
        for m in accounts.all_members(session):
            table.add_row(
                m.email,
                m.name or "-",
                m.role,
                "set" if m.password_hash else "not yet (link sent)",
                "on" if m.totp_secret else "off",
            )
    console.print(table)


@app.command("role")
def set_role(
    email: str = typer.Argument(..., help="The staff member's address."),
    role: str = typer.Argument(..., help="owner, editor or viewer."),
) -> None:
    """Change what a staff member may do."""
    with transaction(wiring.sessions(settings())) as session:
        member = accounts.get(session, email)
        before = member.role
        accounts.set_role(session, member, accounts.role_of(role))
        audit.record(session, audit.cli_actor(), "staff.role", member.email, f"{before} -> {role}")
        address, now = member.email, member.role
    console.print(f"{address} is now {now} (was {before})")


@app.command("remove")
def remove(email: str = typer.Argument(..., help="The staff member's address.")) -> None:
    """Remove a staff account; its sessions end at once."""
    with transaction(wiring.sessions(settings())) as session:
        member = accounts.get(session, email)
        address = member.email
        accounts.remove(session, member)
        audit.record(session, audit.cli_actor(), "staff.remove", address)
    console.print(f"removed {address}; they are signed out everywhere")


@app.command("reset")
def reset(email: str = typer.Argument(..., help="The staff member's address.")) -> None:
    """Print a one-time link (valid one hour) to choose a new password."""
    with transaction(wiring.sessions(settings())) as session:
        member = accounts.get(session, email)
        token = accounts.issue_link(session, member, "reset", accounts.utc_now())
        audit.record(session, audit.cli_actor(), "staff.reset-link", member.email)
        address = member.email
    console.print(f"a password-reset link for {address} (valid for one hour, once):")
    console.print(_link(token), soft_wrap=True, highlight=False)
