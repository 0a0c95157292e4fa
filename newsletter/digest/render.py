"""Briefing + templates -> the digest email (MJML -> HTML, plain text) and the web page.

Rendering happens once per campaign: the email templates are filled with placeholder
markers for per-recipient values (see ``personalise``), MJML is compiled once by MRML,
and :meth:`Digest.personalise` only joins strings. No I/O besides reading templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import mjml
from jinja2.sandbox import SandboxedEnvironment

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import text
from newsletter.digest.inline import parse, sanitise
from newsletter.digest.personalise import (
    REQUIRED_SLOTS,
    Personal,
    Slots,
    SplitTemplate,
    personal_values,
)
from newsletter.digest.view import _lead_runs as lead_runs
from newsletter.digest.view import email_view, page_view
from newsletter.errors import NewsletterError
from newsletter.links import recipient_links
from newsletter.mail.dkim import Signer
from newsletter.mail.message import Identity, build_message

MJML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
PAGE_TEMPLATE = "briefing.html"
SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "reader@example.org"


class DigestTemplateError(NewsletterError, ValueError):
    """A digest template that cannot render, or that would drop a required link."""


def _autoescape(name: str | None) -> bool:
    """Everything but the plain-text template is HTML-escaped."""
    return not (name or "").endswith(".txt.j2")


@lru_cache(maxsize=8)
def environment(templates_dir: Path) -> SandboxedEnvironment:
    """Sandboxed (staff may edit templates), autoescaping, and strict about typos."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([templates_dir / "email", templates_dir / "web"]),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        wrap=text.wrap,
        bullet=text.bullet,
        underline=text.underline,
        references=text.references,
    )
    return env


def _render(env: SandboxedEnvironment, name: str, **context: Any) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise DigestTemplateError(
            f"template {exc.name or name}:{exc.lineno}: {exc.message}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise DigestTemplateError(f"template {name}: {exc}") from exc


@dataclass(frozen=True)
class Digest:
    """One briefing rendered for email and web.

    ``html``, ``text`` and ``mjml`` are a *sample* copy, personalised for
    ``SAMPLE_NAME`` / ``SAMPLE_EMAIL`` with subscriber 0's links and no campaign: the
    right size for clipping checks and previews. Real copies come from :meth:`personalise`.
    ``web_html`` is the archive page of the full briefing (nothing personal in it).
    """

    subject: str
    slug: str
    mjml: str
    html: str
    text: str
    web_html: str
    html_template: SplitTemplate = field(repr=False)
    text_template: SplitTemplate = field(repr=False)

    def personalise(self, person: Personal) -> tuple[str, str]:
        """(html, text) for one recipient: a few string joins, no rendering."""
        html_slots, text_slots = personal_values(person)
        return self.html_template.fill(html_slots), self.text_template.fill(text_slots)

    def message(
        self,
        identity: Identity,
        person: Personal,
        signer: Signer | None = None,
        *,
        parts: tuple[str, str] | None = None,
    ) -> bytes:
        """The whole email for one reader (preview, test send, benchmarks); ``parts``
        is their (html, text) if already personalised. Campaigns build theirs from
        parts encoded once per campaign (``campaigns.composer``)."""
        html, text = parts if parts is not None else self.personalise(person)
        return build_message(
            identity,
            to_address=person.email,
            to_name=person.name,
            subject=self.subject,
            html=html,
            text=text,
            unsubscribe_url=person.links.unsubscribe,
            # No mailto: List-Unsubscribe: no mailbox reads it, and a request that goes
            # nowhere is worse than none. The https one-click link (RFC 8058) is the way.
            unsubscribe_mailto=None,
            signer=signer,
        )


def sample_person(settings: Settings, briefing: Briefing) -> Personal:
    links = recipient_links(
        settings, subscriber_id=0, campaign_id=None, briefing_slug=briefing.slug
    )
    return Personal(SAMPLE_NAME, SAMPLE_EMAIL, links)


@dataclass(frozen=True)
class Theme:
    """Colours derived from ``settings.brand_colour`` so templates need no arithmetic."""

    tint: str

    @classmethod
    def from_brand(cls, brand: str) -> Theme:
        digits = brand.lstrip("#")
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        rgb = [int(digits[i : i + 2], 16) for i in (0, 2, 4)]
        # 10 % brand on white: a gentle panel colour that still says whose email it is.
        tint = "".join(f"{round(255 - (255 - c) * 0.1):02x}" for c in rgb)
        return cls(tint=f"#{tint}")


def _check_slots(template: SplitTemplate, name: str) -> None:
    missing = [slot for slot in REQUIRED_SLOTS if slot not in template.names()]
    if missing:
        raise DigestTemplateError(
            f"template {name} has no {', '.join(missing)} link: every copy must carry it"
        )


# A line break before a block or table tag (or an Outlook conditional comment) that directly
# follows another tag: whitespace there never shows (MJML sets font-size:0 around
# columns), and it keeps each personal value on a short line, so the message builder
# re-encodes a few short lines per recipient instead of one 25 KB line.
_LAYOUT_BREAK = re.compile(r">(?=<(?:/?(?:table|tbody|tr|td|div|p|h[1-6]|ul|ol|li)\b|!--\[if))")


def _compile_mjml(source: str) -> str:
    try:
        compiled = mjml.mjml2html(source, disable_comments=True)
    except Exception as exc:  # MRML reports every parse problem as a plain exception
        raise DigestTemplateError(f"template {MJML_TEMPLATE} is not valid MJML: {exc}") from exc
    return _LAYOUT_BREAK.sub(">\n", compiled)


@dataclass(frozen=True)
class _Email:
    subject: str
    mjml: str  # the sample copy's MJML
    html_template: SplitTemplate
    text_template: SplitTemplate
    sample_html: str
    sample_text: str


def _email(briefing: Briefing, settings: Settings, first: Sequence[int]) -> _Email:
    """The email parts, with slots, for one order of the sections: MJML compiled once."""
    env = environment(settings.templates_dir)
    slots = Slots.fresh()
    email = email_view(briefing, first)
    theme = Theme.from_brand(settings.brand_colour)
    # templates see only the public settings, in the briefing's own language
    brand = replace(settings.public(), language=email.language or settings.language)
    context = {"briefing": email, "settings": brand, "slot": slots, "theme": theme}
    mjml_source = _render(env, MJML_TEMPLATE, **context)
    html_template = SplitTemplate.split(_compile_mjml(mjml_source), slots)
    text_template = SplitTemplate.split(_render(env, TEXT_TEMPLATE, **context), slots)
    _check_slots(html_template, MJML_TEMPLATE)
    _check_slots(text_template, TEXT_TEMPLATE)
    sample_html, sample = personal_values(sample_person(settings, briefing))
    return _Email(
        subject=email.subject,
        mjml=SplitTemplate.split(mjml_source, slots).fill(sample_html),
        html_template=html_template,
        text_template=text_template,
        sample_html=html_template.fill(sample_html),
        sample_text=text_template.fill(sample),
    )


def render_digest(briefing: Briefing, settings: Settings, first: Sequence[int] = ()) -> Digest:
    """Render ``briefing`` once: MJML, HTML and text with slots, and the web page;
    ``first``: indices of sections put first under "Your topics" (see ``reordered``)."""
    email = _email(briefing, settings, first)
    brand = replace(settings.public(), language=briefing.language or "en")
    web_html = _render(
        environment(settings.templates_dir),
        PAGE_TEMPLATE,
        briefing=page_view(briefing),
        settings=brand,
        donate_url=f"{settings.public_base_url}/donate",
    )
    return Digest(
        subject=email.subject,
        slug=briefing.slug,
        mjml=email.mjml,
        html=email.sample_html,
        text=email.sample_text,
        web_html=web_html,
        html_template=email.html_template,
        text_template=email.text_template,
    )


def forget_renderings() -> None:
    """Empty the caches that let one rendering reuse another's work (wrapped text,
    sanitised HTML, section leads, parsed Markdown): benchmarks start each round as a
    new process would, so a campaign's first orders are not rendered from a past one's."""
    for cached in (text.wrap, sanitise, lead_runs, parse):
        cached.cache_clear()


def reordered(
    digest: Digest, briefing: Briefing, settings: Settings, first: Sequence[int]
) -> Digest:
    """``digest`` with the sections ``first`` put first: only the email is rendered again
    (the web page is the paper's, whoever reads it)."""
    if not first:
        return digest
    email = _email(briefing, settings, first)
    return replace(
        digest,
        mjml=email.mjml,
        html=email.sample_html,
        text=email.sample_text,
        html_template=email.html_template,
        text_template=email.text_template,
    )
