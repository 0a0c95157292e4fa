"""Publishing the web page where "view in browser" and "read the full analysis" links land.

The web app serves ``<archive_dir>/<slug>.html`` at ``/archive/<slug>``; whoever sends
or previews a digest writes the page first, so those links never lead to a 404.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from newsletter.digest.render import Digest
from newsletter.errors import NewsletterError


class ArchiveError(NewsletterError, OSError):
    """The archive directory cannot be written."""


def publish(digest: Digest, archive_dir: Path) -> Path:
    """Write ``digest.web_html`` as ``<archive_dir>/<slug>.html``, atomically (a reader of
    the page never sees half a file), and return the path."""
    target = archive_dir / f"{digest.slug}.html"
    temp: str | None = None
    try:
        archive_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=archive_dir, prefix=".tmp-", suffix=".html")
        with os.fdopen(fd, "wb") as handle:
            handle.write(digest.web_html.encode())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise ArchiveError(f"{archive_dir}: cannot write the archive page ({reason})") from None
    return target
