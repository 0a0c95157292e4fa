"""Checks a briefing must pass before it goes out, each pointing at a source line.

Errors are what would embarrass us in thousands of inboxes (a link to nowhere, an
image a screen reader cannot describe, a digest Gmail would clip); warnings are
worth a look but may be intended. Placeholder links are only warnings for a
preview, because staff preview drafts before the link targets are filled in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Briefing, Link

__all__ = ["DIGEST_HTML_LIMIT", "SUBJECT_LIMIT", "Problem", "link_problem", "lint"]

Severity = Literal["error", "warning"]

# Gmail clips messages whose HTML passes about 102 KB; keep a margin below it.
DIGEST_HTML_LIMIT = 100_000
# Subjects longer than this are cut off in most inbox lists (and on phones much sooner).
SUBJECT_LIMIT = 70
# Phrases that point at things an email does not have: its pictures are not the paper's.
_ABSENT_THINGS = re.compile(
    r"(?i)\b(?:(?:picture|image|photo|graphic|chart|figure|table|button|banner|form)\s+"
    r"(?:below|above)|(?:click|tap)\s+(?:on\s+)?the\s+(?:picture|image|photo|banner|graphic)"
    r"|(?:see|in)\s+the\s+(?:attached|enclosed)\b|overleaf)"
)
_UNSAFE_SCHEMES = ("javascript", "data", "vbscript", "file")


@dataclass(frozen=True)
class Problem:
    """One finding: ``line`` is 1-based in the briefing source (1 for the whole file)."""

    severity: Severity
    line: int
    message: str
    code: str


def lint(
    b: Briefing,
    *,
    for_sending: bool,
    digest_html_bytes: int | None = None,
    donations: bool = False,
    topics: Sequence[str] | None = None,
) -> list[Problem]:
    """Every problem found, ordered by line; ``donations``: the donate page is live;
    ``topics``: the organisation's topic names (None: section topics are not checked)."""
    problems: list[Problem] = []

    def add(severity: Severity, line: int, message: str, code: str) -> None:
        problems.append(Problem(severity, max(line, 1), message, code))

    if not b.title.strip():
        add("error", 1, "the briefing has no title", "missing-title")
    if b.number <= 0:
        add("error", 1, "the briefing has no number", "missing-number")
    if getattr(b, "date", None) is None:
        add("error", 1, "the briefing has no date", "missing-date")
    if not b.key_decisions:
        add("error", 1, "the briefing has no key decisions", "missing-key-decisions")
    if b.title.strip() and len(b.subject) > SUBJECT_LIMIT:
        add(
            "warning",
            1,
            f"the subject is {len(b.subject)} characters (over {SUBJECT_LIMIT}, "
            f"inboxes will cut it; set a shorter 'subject:' in the front matter): "
            f"{b.subject!r}",
            "long-subject",
        )
    if digest_html_bytes is not None and digest_html_bytes > DIGEST_HTML_LIMIT:
        add(
            "error",
            1,
            f"the digest HTML is {digest_html_bytes:,} bytes, over {DIGEST_HTML_LIMIT:,}: "
            "Gmail would clip it (shorten the leads or split the briefing)",
            "digest-too-large",
        )
    severity: Severity = "error" if for_sending else "warning"
    if donations and b.appeal is None:
        add(
            severity,
            1,
            "the briefing has no appeal, but donations are on: add a last '## ... {.appeal}' "
            "section that asks readers to give",
            "missing-appeal",
        )
    contact = b.contact
    if contact.name or contact.email or contact.website:
        for name in ("name", "email", "website"):
            if not getattr(contact, name).strip():
                add(
                    severity,
                    1,
                    f"the contact has no {name}: fill in 'contact: {name}:' in the front matter",
                    "empty-contact",
                )
    if topics is not None:
        known = ", ".join(topics) or "none yet"
        for section, name in section_topics.unknown(b, topics):
            add(
                "warning",
                section.topics_line or section.line,
                f"section {section.number}: {name!r} is not one of the organisation's topics "
                f"({known}): no reader can have chosen it; fix the spelling or add the topic",
                "unknown-topic",
            )
    for paragraph in b.paragraphs():
        for pointing in _ABSENT_THINGS.finditer(paragraph.text):
            add(
                "warning",
                paragraph.line,
                f"{pointing.group(0)!r} points at something the email does not show: reword it",
                "absent-thing",
            )
        for link in paragraph.links:
            problem = link_problem(link, for_sending=for_sending)
            if problem:
                add(*problem)
        for image in paragraph.images:
            if not image.alt.strip():
                add(
                    "error",
                    image.line,
                    f"image {image.url!r} has no alt text "
                    "(screen readers and blocked images need it)",
                    "image-alt",
                )
            image_problem = link_problem(
                Link("image", image.url, image.line), for_sending=for_sending
            )
            if image_problem:
                add(*image_problem)
    return sorted(problems, key=lambda p: (p.line, p.severity != "error"))


def link_problem(link: Link, *, for_sending: bool) -> tuple[Severity, int, str, str] | None:
    url = link.url.strip()
    label = f"link {link.text!r}"
    if link.is_placeholder:
        severity: Severity = "error" if for_sending else "warning"
        target = "an empty target" if not url else "the placeholder target '#'"
        return (
            severity,
            link.line,
            f"{label} has {target}: fill in the real URL",
            "placeholder-link",
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("https", "mailto"):
        return None
    if scheme == "http":
        return "warning", link.line, f"{label} is not HTTPS: {url}", "insecure-link"
    if scheme in _UNSAFE_SCHEMES:
        return "error", link.line, f"{label} uses the unsafe scheme {scheme}:", "unsafe-link"
    if not scheme:
        return (
            "warning",
            link.line,
            f"{label} is relative ({url}): in an email it needs a full https:// URL",
            "relative-link",
        )
    return "warning", link.line, f"{label} uses the unusual scheme {scheme}: {url}", "insecure-link"
