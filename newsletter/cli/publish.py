"""``newsletter briefing publish|unpublish``: put a briefing's web page up, or take it down.

Sending a campaign publishes its page by itself when the send starts; these commands are
for a paper that is public without an email (or a page to withdraw).
"""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import console, settings
from newsletter.errors import NotFound


def register(briefing_app: typer.Typer) -> None:
    """Add ``publish`` and ``unpublish`` to the ``briefing`` group."""

    @briefing_app.command("publish")
    def publish(
        file: Path = typer.Argument(..., help="The briefing, Markdown with front matter."),
    ) -> None:
        """Publish the briefing's web page now, on the home page, feed and sitemap too."""
        from newsletter import database, links, wiring
        from newsletter.briefing import markdown
        from newsletter.campaigns import archive, sendtime
        from newsletter.digest import render_digest

        cfg = settings()
        briefing = markdown.load(file)
        page = archive.page_for(briefing, render_digest(briefing, cfg))
        with database.transaction(wiring.sessions(cfg)) as session:
            listed = archive.publish(session, page)
        url = links.archive_url(cfg, page.slug)
        if listed is None:
            console.print(f"Already published, unchanged: {url}", highlight=False)
            return
        when = sendtime.local(listed.published_at, cfg.zone)
        console.print(f"Published {url} at {when}", highlight=False)

    @briefing_app.command("unpublish")
    def unpublish(
        file: Path = typer.Argument(..., help="The briefing, Markdown with front matter."),
    ) -> None:
        """Take the briefing's web page down (a campaign scheduled later still publishes it)."""
        from newsletter import database, links, wiring
        from newsletter.briefing import markdown
        from newsletter.campaigns import archive

        cfg = settings()
        slug = markdown.load(file).slug
        with database.transaction(wiring.sessions(cfg)) as session:
            removed = archive.unpublish(session, slug)
        url = links.archive_url(cfg, slug)
        if not removed:
            raise NotFound(f"{url} is not published")
        console.print(
            f"Unpublished {url}: within a second it answers 404 and is off the home page, "
            "feed and sitemap (browsers and proxies may keep a copy for up to "
            f"{archive.MAX_AGE // 60} minutes).",
            highlight=False,
        )
