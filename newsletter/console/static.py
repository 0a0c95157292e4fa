"""The console's own static files (htmx and one stylesheet), served from the package.

No CDN and no build step: htmx is vendored from its npm package (BSD-2-Clause, licence beside
it). Files are immutable per release, so browsers may keep them for a day.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from newsletter.console.guard import Config
from newsletter.errors import NotFound

router = APIRouter()
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@router.get("/admin/static/{name}")
def static_file(name: str, config: Config) -> Response:
    """Only files that exist directly in the folder: no path from the URL reaches elsewhere."""
    folder = config.templates_dir / "static"
    allowed = {p.name: p for p in folder.iterdir() if p.suffix in TYPES}
    path = allowed.get(name)
    if path is None:
        raise NotFound("no such file")
    return Response(
        path.read_bytes(),
        media_type=TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/admin/brand.css")
def brand(config: Config) -> Response:
    """The organisation's colour as a stylesheet: pages carry no inline style to allow."""
    return Response(
        f":root {{ --brand: {config.brand_colour}; }}\n",  # validated as a hex colour
        media_type=TYPES[".css"],
        headers={"Cache-Control": "public, max-age=300"},
    )
