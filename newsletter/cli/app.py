"""The ``newsletter`` command line: wires the command groups and turns errors into one line.

Each command's module (and with it SQLAlchemy, Stripe, FastAPI, MJML...) is imported only
when that command runs: ``newsletter --help`` lists the commands from ``COMMANDS`` below,
so starting the program costs little whatever it is asked to do.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup, TyperOption

if TYPE_CHECKING:  # typer's own copy of click (a private module): for annotations only
    from typer import _click

from newsletter.cli.common import err_console
from newsletter.errors import NewsletterError


def _briefing(app: typer.Typer) -> None:
    from newsletter.cli import briefing, publish, render

    render.register(briefing.app)
    publish.register(briefing.app)
    app.add_typer(briefing.app, name="briefing")


def _group(module: str) -> Callable[[typer.Typer], None]:
    """A loader that adds the ``app`` of ``newsletter.cli.MODULE`` as a group."""

    def load(app: typer.Typer) -> None:
        from importlib import import_module

        app.add_typer(import_module(f"newsletter.cli.{module}").app, name=module)

    return load


def _command(module: str) -> Callable[[typer.Typer], None]:
    """A loader for a top-level command that ``newsletter.cli.MODULE.register`` adds."""

    def load(app: typer.Typer) -> None:
        from importlib import import_module

        import_module(f"newsletter.cli.{module}").register(app)

    return load


def _sending(args: list[str]) -> None:
    """``campaign send ID`` in the foreground: start its compose helpers' fork server
    before the command's own imports, which it then makes beside them on another core."""
    later = ("--at", "--background", "--no-wait", "--help")
    if args[:1] != ["send"] or any(a.split("=")[0] in later for a in args):
        return
    if os.environ.get("NEWSLETTER_SEND_PROCESSES", "").strip() == "0":
        return  # no helpers (a .env file saying so only costs the fork server's start)
    from newsletter.campaigns.pool import prestart

    prestart()


@dataclass(frozen=True)
class Lazy:
    """A command as the listing shows it, and how to build the real one when it runs."""

    summary: str  # the first paragraph of the command's own help (a test keeps them equal)
    load: Callable[[typer.Typer], None]
    early: Callable[[list[str]], None] | None = None  # given the arguments, before ``load``


COMMANDS: dict[str, Lazy] = {
    "send-test": Lazy(
        "Deliver one fully personalised, signed copy through the configured transport.",
        _command("send"),
    ),
    "serve": Lazy(
        "Serve the subscribe, confirm, preferences, unsubscribe and donation pages.",
        _command("serve"),
    ),
    "worker": Lazy(
        "Send every due campaign; run several on PostgreSQL to share the work.",
        _command("worker"),
    ),
    "briefing": Lazy("Import, check and render briefing papers.", _briefing),
    "subscribers": Lazy(
        "People on the list, lists and topics, import and export.", _group("subscribers")
    ),
    "campaign": Lazy("Create, send and follow campaigns.", _group("campaign"), _sending),
    "bounces": Lazy(
        "Read bounces and complaints; suppress addresses by policy.", _group("bounces")
    ),
    "donations": Lazy(
        "Gifts received through Stripe: list, report, export, reconcile.", _group("donations")
    ),
    "dkim": Lazy("DKIM keys that let receivers trust our mail.", _group("dkim")),
    "db": Lazy("Database schema.", _group("db")),
    "staff": Lazy("Staff accounts of the web console: add, list, role, remove.", _group("staff")),
    "report": Lazy(
        "What briefings achieved: clicks, bounces, unsubscribes, gifts; growth and money.",
        _group("report"),
    ),
}


def load_command(name: str) -> _click.Command:
    """The real command ``name``, converted exactly as if it had been added to ``app``."""
    scratch = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    scratch.callback()(_nothing)  # a callback keeps the scratch app a group
    COMMANDS[name].load(scratch)
    group = typer.main.get_command(scratch)
    if not isinstance(group, TyperGroup):
        raise TypeError(f"the scratch app is a {type(group).__name__}, not a group")
    return group.commands[name]


def _nothing() -> None:
    pass


_type_label = TyperOption.display_type_rich


def _flag_type_label(self: TyperOption, ctx: _click.Context) -> str | None:
    """No type label for an on/off flag: ``--force <bool>`` reads as if it took a value."""
    return None if self.is_flag else _type_label(self, ctx)


TyperOption.display_type_rich = _flag_type_label  # type: ignore[method-assign]


class LazyGroup(TyperGroup):
    """Lists every command by its summary; imports a command's module only to run it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, lazy in COMMANDS.items():
            self.commands[name] = TyperCommand(name, help=lazy.summary)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in COMMANDS:
            early = COMMANDS[name].early
            if early is not None:
                early(rest)
            command = load_command(name)
        return name, command, rest


app = typer.Typer(
    name="newsletter",
    help="Publish briefing papers by email and raise money from their readers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    pass


def main() -> None:
    """Entry point: user mistakes print ``error: ...`` and exit 1, never a traceback."""
    try:
        app()
    except NewsletterError as exc:
        message = f"[bold red]error:[/] {escape(str(exc))}"
        err_console.print(message, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a database outage is one line too, never a traceback
        from newsletter.database import first_line, lost

        if not lost(exc):
            raise
        err_console.print(
            f"[bold red]error:[/] the database is unavailable ({escape(first_line(exc))}); "
            "try again in a moment",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


def run() -> None:
    """The installed ``newsletter`` command: ``main``, then out without the interpreter's
    own teardown when nothing else runs.

    Freeing module by module everything a process has loaded (SQLAlchemy, the digest
    renderer...) and built (a campaign send's) takes a noticeable part of a short
    command's time and does nothing the exit itself does not. Exit handlers (logging,
    temporary files, coverage) still run; a thread still working gets the usual exit.
    """
    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code if exc.code is not None else 0
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not isinstance(code, int) or any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
            stream.flush()
    os._exit(code)
