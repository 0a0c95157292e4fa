"""One-off emails (confirmation, receipt, manage-my-gift link) rendered from templates.

``templates/email/NAME.mjml.j2`` and ``NAME.txt.j2``, sandboxed because staff may
restyle them, strict so a typo fails loudly, compiled once per process.
Digests have their own, faster path in ``newsletter.digest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml2html

from newsletter.config import Settings


@dataclass(frozen=True)
class Public:
    """What one-off email templates see of the settings, as ``settings``.

    Only the organisation's public face and wording: a restyled template can never
    print the secret key, a Stripe key, the SMTP password or the database URL.
    """

    organisation_name: str
    organisation_legal_name: str
    postal_address: str
    charity_statement: str
    brand_colour: str
    logo_url: str
    public_base_url: str
    language: str
    sender_name: str
    sender_address: str
    receipt_wording: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Public:
        return cls(
            organisation_name=settings.organisation_name,
            organisation_legal_name=settings.organisation_legal_name,
            postal_address=settings.postal_address,
            charity_statement=settings.charity_statement,
            brand_colour=settings.brand_colour,
            logo_url=settings.logo_url,
            public_base_url=settings.public_base_url,
            language=settings.language,
            sender_name=settings.sender_name,
            sender_address=settings.sender_address,
            receipt_wording=settings.receipt_wording,
        )


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


@lru_cache(maxsize=8)
def _environment(templates_dir: Path, html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir / "email")),
        autoescape=html,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(settings: Settings, template: str, subject: str, /, **context: Any) -> Rendered:
    """``TEMPLATE.mjml.j2`` (to HTML through MJML) and ``TEMPLATE.txt.j2``, given the public
    part of ``settings`` (as ``settings``), ``subject`` and ``context``. Pure."""
    values = {**context, "settings": Public.from_settings(settings), "subject": subject}
    mjml = (
        _environment(settings.templates_dir, True)
        .get_template(f"{template}.mjml.j2")
        .render(values)
    )
    text = (
        _environment(settings.templates_dir, False)
        .get_template(f"{template}.txt.j2")
        .render(values)
    )
    return Rendered(subject=subject, html=str(mjml2html(mjml)), text=text)
