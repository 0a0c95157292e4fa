"""`newsletter briefing ...` commands: import a PDF-extracted paper, lint a briefing.

Thin on purpose: read the file, call the pure domain functions, print. Every user
mistake surfaces as a ``NewsletterError`` that ``main()`` prints as one line.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from newsletter.briefing import links as linkfix
from newsletter.briefing import lint as linting
from newsletter.briefing import markdown, writer
from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Briefing
from newsletter.briefing.paper import read_paper
from newsletter.cli.common import settings
from newsletter.errors import BriefingError, Conflict, DatabaseUnavailable

app = typer.Typer(help="Import, check and render briefing papers.", no_args_is_help=True)


_KINDS = {"docx": "Word", "pdf": "PDF", "html": "HTML", "markdown": "Markdown", "text": "text"}


@app.command("import")
def import_(
    paper: Annotated[
        Path, typer.Argument(help="The paper: Word (.docx), PDF, HTML, Markdown or plain text.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The briefing .md to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="A topic for the front matter (repeat).")
    ] = None,
    number: Annotated[
        int | None,
        typer.Option("--number", min=1, help="The paper's number, if its masthead has none."),
    ] = None,
    when: Annotated[
        str | None,
        typer.Option("--date", help="The paper's date (YYYY-MM-DD), if its masthead has none."),
    ] = None,
) -> None:
    """Turn a briefing paper (Word, PDF, HTML, Markdown or text) into the briefing format."""
    day = _day(when) if when is not None else None
    briefing, kind, notes = read_paper(paper, number=number, when=day)
    if topic:
        briefing = _with_topics(briefing, topic)
    names, why_not = organisation_topics()
    if names:
        briefing = section_topics.guess(briefing, names)
    if output.exists() and not force:
        raise Conflict(f"{output} already exists (use --force to overwrite it)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(writer.dump(briefing), encoding="utf-8")
    except OSError as exc:
        raise BriefingError(f"cannot write: {exc.strerror}", path=str(output)) from None
    links = briefing.links
    placeholders = sum(1 for link in links if link.is_placeholder)
    subsections = sum(len(s.subsections) for s in briefing.sections)
    typer.echo(f"{briefing.label} of {briefing.date.isoformat()}: {briefing.title}")
    typer.echo(f"  read as:       {_KINDS[kind]}")
    typer.echo(f"  key decisions: {len(briefing.key_decisions)}")
    typer.echo(f"  sections:      {len(briefing.sections)} ({subsections} sub-headings)")
    typer.echo(f"  appeal:        {'yes' if briefing.appeal else 'none found'}")
    typer.echo(f"  links:         {len(links)} ({placeholders} placeholder links to fill in)")
    typer.echo(f"  topics:        {_topics_summary(briefing, names, why_not)}")
    if not links and kind == "text":
        typer.echo(
            "  warning:       no links at all: a text copy loses them; "
            "import the Word or PDF file instead"
        )
    for note in notes:
        typer.echo(f"  note:          {note}")
    typer.echo(f"wrote {output}")
    if placeholders:
        typer.echo(
            f"next: `newsletter briefing links {output}` lists them; fill them in, "
            f"then `newsletter briefing lint {output}`"
        )


def organisation_topics() -> tuple[list[str] | None, str]:
    """The organisation's topic names from the database, or None and why not.

    Reading a paper needs no database: a missing SQLite file is not created for this,
    and a database that cannot be reached only means no topics are guessed or checked.
    """
    from sqlalchemy.engine import make_url

    from newsletter import database, wiring
    from subscribers import topics

    config = settings()
    url = make_url(database.normalise_url(config.database_url))
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).exists():
        return None, "there is no database yet"
    try:
        with wiring.sessions(config)() as session:
            names = [topic.name for topic in topics.current(session)]
    except DatabaseUnavailable as exc:
        return None, str(exc)
    return names, "" if names else "the organisation has no topics yet"


def _topics_summary(briefing: Briefing, names: list[str] | None, why_not: str) -> str:
    if not names:
        return f"not guessed: {why_not}"
    tagged = [s for s in briefing.sections if s.topics]
    if not tagged:
        return "no section names one of the organisation's topics"
    used = section_topics.unique(t for s in tagged for t in s.topics)
    return (
        f"{_plural(len(tagged), 'section')} of {len(briefing.sections)} "
        f"given topics ({', '.join(used)}): check the 'Topics:' lines"
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BriefingError(f"--date must be YYYY-MM-DD, not {text!r}") from None


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
    names, why_not = organisation_topics()
    problems = linting.lint(
        briefing,
        for_sending=for_sending,
        digest_html_bytes=size,
        donations=settings().donations_on,
        topics=names,
    )
    for p in problems:
        typer.echo(f"{file}:{p.line}: {p.severity}: {p.message}")
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    if names is None and any(s.topics for s in briefing.sections):
        typer.echo(f"note: section topics not checked: {why_not}")
    if note:
        typer.echo(f"note: {note}")
    elif size is not None:
        typer.echo(f"digest HTML: {size:,} bytes (limit {linting.DIGEST_HTML_LIMIT:,})")
    typer.echo(f"{file}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    if errors:
        raise typer.Exit(1)


@app.command("links")
def links(
    file: Annotated[Path, typer.Argument(help="The briefing .md whose links to check or fill.")],
    fill: Annotated[
        Path | None,
        typer.Option("--fill", help="A CSV with columns text,url or line,url: fills those links."),
    ] = None,
) -> None:
    """List every placeholder or suspicious link with its sentence; --fill puts in the URLs."""
    markdown.load(file)  # a broken briefing is reported before anything is changed
    source = file.read_text(encoding="utf-8")
    if fill is not None:
        try:
            rows = linkfix.read_rows(fill.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BriefingError("no such file", path=str(fill)) from None
        except UnicodeDecodeError:
            raise BriefingError("not UTF-8 text (save the CSV as UTF-8)", path=str(fill)) from None
        except BriefingError as exc:
            raise BriefingError(str(exc), path=str(fill)) from None
        try:
            source, filled, unused = linkfix.fill(source, rows)
        except BriefingError as exc:
            raise BriefingError(str(exc), path=str(fill)) from None
        markdown.parse(source, source=str(file))  # never write a file that would not read back
        file.write_text(source, encoding="utf-8")
        typer.echo(f"filled {_plural(filled, 'link')} in {file}")
        for row in unused:
            what = " ".join(x for x in (f"line {row.line}" if row.line else "", row.text) if x)
            typer.echo(f"{fill}:{row.row}: warning: no link to fill matches {what!r}")
    found = linkfix.find(source)
    for f in found:
        typer.echo(f"{file}:{f.line}: [{f.text}]({f.url}): {f.reason}")
        typer.echo(f"    {f.sentence}")
    typer.echo(
        f"{file}: {_plural(len(found), 'link')} to fill in or check"
        if found
        else f"{file}: every link has a real target"
    )


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
