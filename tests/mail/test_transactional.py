"""One-off emails see only the organisation's public settings, never a secret."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from pydantic import SecretStr

from newsletter.config import TEMPLATES, Settings
from newsletter.mail import transactional

SECRET = "s3cret-hmac-key-that-must-never-be-mailed"
STRIPE = "sk_test_never_in_an_email"
SMTP = "smtp://mailer:smtp-password@smtp.example.org:587"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Real templates plus room for a restyled one, and secrets worth stealing."""
    shutil.copytree(TEMPLATES / "email", tmp_path / "email")
    return Settings(
        templates_dir=tmp_path,
        secret_key=SecretStr(SECRET),
        stripe_secret_key=SecretStr(STRIPE),
        smtp_url=SMTP,
        database_url="postgresql://app:db-password@db.example.org/newsletter",
        organisation_name="Friends of the Fjord",
    )


def _restyle(settings: Settings, body: str) -> None:
    """A staff member's edited template, in both parts."""
    folder = settings.templates_dir / "email"
    (folder / "restyled.mjml.j2").write_text(
        f"<mjml><mj-body><mj-section><mj-column><mj-text>{body}</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>",
        encoding="utf-8",
    )
    (folder / "restyled.txt.j2").write_text(body, encoding="utf-8")


@pytest.mark.parametrize(
    "expression",
    [
        "settings.secret_key",
        "settings.secret_key.get_secret_value()",
        "settings.secret",
        "settings.stripe_secret_key",
        "settings.stripe_webhook_secret",
        "settings.smtp_url",
        "settings.database_url",
        "settings.dkim_key_file",
        "settings['secret_key']",
        "settings.__class__",
    ],
)
def test_a_template_cannot_print_a_secret(settings: Settings, expression: str) -> None:
    _restyle(settings, "{{ " + expression + " }}")
    with pytest.raises((UndefinedError, SecurityError)):
        transactional.render(settings, "restyled", "Subject")


def test_a_template_still_reads_the_public_branding(settings: Settings) -> None:
    _restyle(settings, "{{ settings.organisation_name }} · {{ settings.receipt_wording }}")
    mail = transactional.render(settings, "restyled", "Subject")
    assert mail.text == f"Friends of the Fjord · {settings.receipt_wording}"
    assert "Friends of the Fjord" in mail.html


def test_a_context_value_cannot_bring_the_settings_back(settings: Settings) -> None:
    _restyle(settings, "{{ settings.organisation_name }}{{ settings.secret_key }}")
    with pytest.raises(UndefinedError):
        transactional.render(settings, "restyled", "Subject", settings=settings)


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("confirm", {"name": "Ann", "confirm_url": "https://x/c/t", "topics": ["Arms"]}),
        ("manage-link", {"url": "https://x/donate/manage/t"}),
    ],
)
def test_the_shipped_templates_render_without_secrets(
    settings: Settings, template: str, context: dict[str, object]
) -> None:
    mail = transactional.render(settings, template, "Subject", valid_days=7, **context)
    for part in (mail.html, mail.text):
        assert "Friends of the Fjord" in part
        for secret in (SECRET, STRIPE, "smtp-password", "db-password"):
            assert secret not in part
