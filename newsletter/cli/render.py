"""``newsletter briefing render``: every file a member of staff checks before sending.

It publishes nothing: a rendered paper is a preview, and may be under embargo. The web
page goes public when its campaign starts sending, or with ``briefing publish``.
"""

from __future__ import annotations

import quopri
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newsletter.cli.common import console, settings
from newsletter.errors import NewsletterError

if TYPE_CHECKING:  # the renderer (Jinja2, MJML) loads only when something is rendered
    from newsletter.briefing.model import Briefing
    from newsletter.config import Settings
    from newsletter.digest import Digest

CLIP_BYTES = 100_000


class OutputError(NewsletterError, OSError):
    """The output directory cannot be written."""


def _write(path: Path, data: str | bytes) -> int:
    raw = data.encode() if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return len(raw)


def _preview_eml(digest: Digest, briefing: Briefing, config: Settings) -> bytes:
    """The complete message the sample subscriber would receive, DKIM-signed if configured."""
    from newsletter import wiring
    from newsletter.digest.render import sample_person
    from newsletter.mail import identities

    person = sample_person(config, briefing)
    return digest.message(
        identities.identity(config, kind="preview"), person, wiring.signer(config)
    )


def render_files(
    file: Path, out: Path, config: Settings, topics: Sequence[str] = ()
) -> tuple[list[tuple[Path, int]], int]:
    """Parse, render and write; returns each written path with its size in bytes,
    and the size of the HTML part once quoted-printable encoded (what Gmail counts).
    ``topics``: render the copy of a reader who follows these (their sections first)."""
    from newsletter.briefing import markdown
    from newsletter.briefing.topics import first_for
    from newsletter.digest import render_digest

    briefing = markdown.load(file)
    digest = render_digest(briefing, config, first_for(briefing, topics))
    files: list[tuple[Path, str | bytes]] = [
        (out / "digest.mjml", digest.mjml),
        (out / "digest.html", digest.html),
        (out / "digest.txt", digest.text),
        (out / "web.html", digest.web_html),
        (out / "preview.eml", _preview_eml(digest, briefing, config)),
    ]
    written = [(path, _write(path, data)) for path, data in files]
    encoded = len(quopri.encodestring(digest.html.encode()))
    return written, encoded


def _size(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1000:,.1f} kB"


def register(briefing_app: typer.Typer) -> None:
    """Add ``render`` to the ``briefing`` group."""

    @briefing_app.command("render")
    def render(
        file: Path = typer.Argument(..., help="The briefing, Markdown with front matter."),
        out: Path = typer.Option(Path("out"), "--out", "-o", help="Directory to write into."),
        topics: str = typer.Option(
            "",
            "--topics",
            help='The copy of a reader who follows these topics, e.g. "Ukraine,Trade": '
            "their sections first.",
        ),
    ) -> None:
        """Render the digest email (MJML, HTML, text), the web page and a preview message.

        Nothing is published: the files stay in --out for checking.
        """
        from rich.table import Table

        from newsletter.briefing import markdown
        from newsletter.briefing.topics import fold

        config = settings()
        names = [n.strip() for n in topics.split(",") if n.strip()]
        written, encoded = render_files(file, out, config, names)
        if names:
            carried = {fold(t) for s in markdown.load(file).sections for t in s.topics}
            for name in names:
                if fold(name) not in carried:
                    console.print(
                        f"note: no section of {file} has the topic {name!r}", highlight=False
                    )
            console.print(f"The copy of a reader who follows: {', '.join(names)}", highlight=False)
        table = Table(box=None, pad_edge=False)
        table.add_column("file", overflow="fold")
        table.add_column("size", justify="right", no_wrap=True)
        for path, size in written:
            table.add_row(str(path), _size(size))
        console.print(table)
        verdict = "fits" if encoded < CLIP_BYTES else "[bold red]would be clipped by Gmail[/]"
        console.print(f"HTML part: {encoded:,} bytes quoted-printable, {verdict}")
        console.print(
            "Nothing was published: the web page goes public when a campaign of this "
            f"briefing starts sending, or with `newsletter briefing publish {file}`.",
            highlight=False,
        )
