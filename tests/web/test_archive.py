"""The home page lists published briefings; archive pages are served and nothing else is."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from newsletter.briefing import markdown
from newsletter.config import Settings
from newsletter.digest import publish, render_digest
from newsletter.web.app import create_app
from tests.conftest import EXAMPLE_BRIEFING


def test_home_lists_published_briefings_and_serves_them(settings: Settings) -> None:
    client = TestClient(create_app(settings))
    empty = client.get("/")
    assert empty.status_code == 200 and "No briefing has been published yet" in empty.text

    digest = render_digest(markdown.load(EXAMPLE_BRIEFING), settings)
    publish(digest, settings.archive_dir)
    home = client.get("/")
    assert home.status_code == 200
    assert f"/archive/{digest.slug}" in home.text
    assert "Foreign Ministers renew pledges to Ukraine" in home.text
    assert "/subscribe" in home.text and "/donate" in home.text

    page = client.get(f"/archive/{digest.slug}")
    assert page.status_code == 200 and page.text == digest.web_html


def test_unknown_or_hostile_archive_paths_are_not_found(settings: Settings) -> None:
    client = TestClient(create_app(settings))
    for path in ("/archive/nope", "/archive/..%2Fnewsletter.db", "/archive/A_B"):
        assert client.get(path).status_code == 404


def test_restyled_page_templates_cannot_reach_secrets(settings: Settings, tmp_path: Path) -> None:
    """Page templates are staff-editable: they see the public settings only, sandboxed."""
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    (templates / "web" / "home.html").write_text(
        "{{ settings.organisation_name }}|{{ settings.secret_key }}|{{ settings.database_url }}"
        "|{{ settings.__class__ }}|{{ settings.stripe_secret_key }}"
    )
    restyled = settings.model_copy(
        update={"templates_dir": templates, "stripe_secret_key": "sk_test_hidden"}
    )
    page = TestClient(create_app(restyled)).get("/")
    assert page.status_code == 200
    assert page.text.startswith(settings.organisation_name + "|")
    for secret in ("test-secret-key", "sk_test_hidden", "sqlite", "newsletter.db", "Settings"):
        assert secret not in page.text
