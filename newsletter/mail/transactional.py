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
    values = {**context, "settings": settings.public(), "subject": subject}
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
