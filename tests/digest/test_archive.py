"""The archive page is published where the web app serves it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.digest import Digest, publish
from newsletter.web.app import create_app


def test_published_page_is_served_at_its_archive_url(example_digest: Digest, settings: Settings):
    path = publish(example_digest, settings.archive_dir)
    assert path.read_text() == example_digest.web_html
    assert not [p for p in settings.archive_dir.iterdir() if p.name.startswith(".tmp-")]
    with TestClient(create_app(settings)) as client:
        response = client.get(f"/archive/{example_digest.slug}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Donate now" in response.text
