"""`newsletter briefing ...` commands: import a PDF-extracted paper, lint a briefing.

Thin on purpose: read the file, call the pure domain functions, print. Every user
mistake surfaces as a ``NewsletterError`` that ``main()`` prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.briefing import lint as linting
from newsletter.briefing import markdown, plaintext
from newsletter.briefing.model import Briefing
from newsletter.cli.common import settings
from newsletter.errors import BriefingError, Conflict

app = typer.Typer(help="Import, check and render briefing papers.", no_args_is_help=True)


def _read_paper(path: Path) -> tuple[str, str]:
    """The paper's text and its encoding: UTF-8, UTF-16 with a BOM, or Windows-1252.

    Text saved on Windows is often UTF-16 (Notepad's "Unicode") or Windows-1252;
    UTF-8 is tried first because Windows-1252 would decode almost any bytes.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BriefingError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise BriefingError("is a directory, not a text file", path=str(path)) from None
    except OSError as exc:
        raise BriefingError(f"cannot read: {exc.strerror}", path=str(path)) from None
    encodings = ["utf-16"] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else []
    for encoding in [*encodings, "utf-8-sig", "cp1252"]:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise BriefingError("not a text file (neither UTF-8 nor Windows-1252)", path=str(path))


@app.command("import")
def import_(
    paper: Annotated[Path, typer.Argument(help="Plain text extracted from the paper's PDF.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The briefing .md to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="A topic for the front matter (repeat).")
    ] = None,
) -> None:
    """Turn a PDF-extracted briefing paper into the Markdown briefing format."""
    text, encoding = _read_paper(paper)
    if "\x00" in text:
        raise BriefingError("not a text file (it contains NUL bytes)", path=str(paper))
    try:
        briefing = plaintext.convert(text)
    except BriefingError as exc:
        if exc.path:
            raise
        raise BriefingError(
            f"not a briefing paper: {exc}" if exc.line is None else str(exc),
            path=str(paper),
            line=exc.line,
        ) from None
    if topic:
        briefing = _with_topics(briefing, topic)
    if output.exists() and not force:
        raise Conflict(f"{output} already exists (use --force to overwrite it)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown.dump(briefing), encoding="utf-8")
    except OSError as exc:
        raise BriefingError(f"cannot write: {exc.strerror}", path=str(output)) from None
    links = briefing.links
    placeholders = sum(1 for link in links if link.is_placeholder)
    subsections = sum(len(s.subsections) for s in briefing.sections)
    typer.echo(f"Briefing {briefing.number} of {briefing.date.isoformat()}: {briefing.title}")
    typer.echo(f"  key decisions: {len(briefing.key_decisions)}")
    typer.echo(f"  sections:      {len(briefing.sections)} ({subsections} sub-headings)")
    typer.echo(f"  appeal:        {'yes' if briefing.appeal else 'none found'}")
    typer.echo(f"  links:         {len(links)} ({placeholders} placeholder links to fill in)")
    if encoding == "cp1252":
        typer.echo("  note:          read as Windows-1252 (not UTF-8); written as UTF-8")
    typer.echo(f"wrote {output}")
    if placeholders:
        typer.echo(f"next: fill in the link targets, then `newsletter briefing lint {output}`")


def _with_topics(briefing: Briefing, topics: list[str]) -> Briefing:
    from dataclasses import replace

    return replace(briefing, topics=tuple(dict.fromkeys(t.strip() for t in topics if t.strip())))


@app.command("lint")
def lint(
    file: Annotated[Path, typer.Argument(help="The briefing .md to check.")],
    for_sending: Annotated[
        bool,
        typer.Option("--for-sending", help="Treat placeholder links as errors (before a send)."),
    ] = False,
) -> None:
    """Report problems as FILE:LINE: severity: message; exit 1 if any is an error."""
    briefing = markdown.load(file)
    size, note = _digest_size(briefing)
    problems = linting.lint(briefing, for_sending=for_sending, digest_html_bytes=size)
    for p in problems:
        typer.echo(f"{file}:{p.line}: {p.severity}: {p.message}")
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    if note:
        typer.echo(f"note: {note}")
    elif size is not None:
        typer.echo(f"digest HTML: {size:,} bytes (limit {linting.DIGEST_HTML_LIMIT:,})")
    typer.echo(f"{file}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    if errors:
        raise typer.Exit(1)


def _digest_size(briefing: Briefing) -> tuple[int | None, str]:
    """Bytes of the rendered digest HTML, or why it could not be measured."""
    try:
        from newsletter.digest import render_digest
    except ImportError:
        return None, "digest size not checked: the digest renderer is not available"
    digest = render_digest(briefing, settings())
    return len(digest.html.encode("utf-8")), ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
