"""Turns a campaign's stored briefing into each recipient's signed message.

Everything that is the same for every copy (parsing the briefing, rendering MJML,
the sender identity, the DKIM signer) happens once in ``for_campaign``; a copy then
costs three HMACs for the personal links, a few string joins, building and signing.

A reader who follows topics gets the sections on them first. Readers with the same
sections first share an ``Edition``: the email rendered (MJML compiled) once for that
order, the first time a reader needs it, so a campaign renders at most once per
distinct order and never once per reader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from newsletter.briefing import lint, markdown
from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Briefing
from newsletter.campaigns import verp
from newsletter.campaigns.envelope import Envelope
from newsletter.campaigns.ledger import Claimed
from newsletter.campaigns.manager import LintRefused, get
from newsletter.config import Settings
from newsletter.digest import Digest, Personal, render_digest
from newsletter.digest.personalise import html_values, personal_values
from newsletter.digest.render import reordered
from newsletter.links import RecipientLinks, archive_url, recipient_links
from newsletter.mail import identities
from newsletter.mail.dkim import Signer
from newsletter.mail.message import (
    Filled,
    Identity,
    PartTemplate,
    build_message,
    check_address,
)
from newsletter.results import linktable
from subscribers import topics as subscriber_topics

Order = tuple[int, ...]  # indices of the sections a copy puts first; () the paper's order


def lint_errors(
    briefing: Briefing, digest: Digest | None = None, *, donations: bool = False
) -> list[lint.Problem]:
    """The problems that block sending (placeholder links, missing title, no appeal while
    donations are on...)."""
    size = len(digest.html.encode()) if digest is not None else None
    found = lint.lint(briefing, for_sending=True, digest_html_bytes=size, donations=donations)
    return [p for p in found if p.severity == "error"]


def refuse_if_lint_errors(
    briefing: Briefing, digest: Digest, path: str, *, donations: bool = False
) -> None:
    errors = lint_errors(briefing, digest, donations=donations)
    if errors:
        first = "; ".join(f"line {p.line}: {p.message}" for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise LintRefused(
            f"{path} has {len(errors)} lint error(s): {first}{more}. "
            "Fix them, or send anyway with --force"
        )


@dataclass(frozen=True)
class Edition:
    """The digest rendered for one order of the sections, its parts encoded once.

    ``fixed`` are the (text) slot values every copy of the campaign has, encoded with
    the static lines; ``known`` the encoded lines the campaign's editions share.
    """

    digest: Digest
    tracked_links: linktable.PerCopy | None
    fixed: Mapping[str, str] = field(default_factory=dict, repr=False)
    known: dict[str, bytes] | None = field(default=None, repr=False, compare=False)
    html_part: PartTemplate = field(init=False, repr=False)
    text_part: PartTemplate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        html, text = self.digest.html_template, self.digest.text_template
        html_part = PartTemplate(
            html.parts, html.slots, fixed=html_values(self.fixed), known=self.known
        )
        text_part = PartTemplate(text.parts, text.slots, fixed=self.fixed, known=self.known)
        object.__setattr__(self, "html_part", html_part)
        object.__setattr__(self, "text_part", text_part)


@dataclass(frozen=True)
class CampaignComposer:
    """The per-campaign state; ``compose`` is called once per recipient."""

    settings: Settings
    campaign_id: int
    briefing_slug: str
    subject: str
    digest: Digest
    identity: Identity
    signer: Signer | None
    # Per-copy values of tracked links (their tokens name the reader or a per-copy nonce);
    # None: nothing per copy.
    tracked_links: linktable.PerCopy | None = None
    # Each section's topics (ids), and how to render the digest for another order.
    section_topics: tuple[frozenset[int], ...] = ()
    render_order: Callable[[Order], linktable.Tracked] | None = None
    # Rendered orders, the paper's own under (); filled as readers need them.
    editions: dict[Order, Edition] = field(init=False, repr=False)
    # Encoded body lines, shared by the editions: another order repeats most of them.
    _known: dict[str, bytes] = field(init=False, repr=False, compare=False)
    # Lanes compose in threads: an order is rendered once even when two need it at once.
    _rendering: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_known", {})
        object.__setattr__(self, "editions", {(): self._edition(self.digest, self.tracked_links)})
        object.__setattr__(self, "_rendering", threading.Lock())

    def _edition(self, digest: Digest, tracked_links: linktable.PerCopy | None) -> Edition:
        # The archive link is the campaign's, the same in every copy.
        fixed = {"browser": archive_url(self.settings, self.briefing_slug)}
        return Edition(digest, tracked_links, fixed, self._known)

    def order(self, row: Claimed) -> Order:
        """The sections this reader gets first (their topics'), or () for the paper's order."""
        if self.render_order is None:
            return ()
        return section_topics.chosen(self.section_topics, row.topics)

    def edition(self, first: Order) -> Edition:
        """The rendering for this order: made the first time a reader needs it."""
        found = self.editions.get(first)
        if found is not None:
            return found
        if self.render_order is None:
            raise RuntimeError("only the paper's order without a renderer")
        with self._rendering:
            found = self.editions.get(first)
            if found is None:
                tracked = self.render_order(first)
                found = self.editions[first] = self._edition(tracked.digest, tracked.per_copy)
        return found

    def _links(self, row: Claimed) -> RecipientLinks:
        return recipient_links(
            self.settings,
            subscriber_id=row.subscriber_id,
            campaign_id=self.campaign_id,
            briefing_slug=self.briefing_slug,
        )

    def personal(self, row: Claimed) -> tuple[str, str, RecipientLinks]:
        """This recipient's (html, text) and links."""
        edition = self.edition(self.order(row))
        links = self._links(row)
        html_values, text_values = self._values(edition, row, links)
        html = edition.digest.html_template.fill(html_values)
        return html, edition.digest.text_template.fill(text_values), links

    def _values(
        self, edition: Edition, row: Claimed, links: RecipientLinks
    ) -> tuple[dict[str, str], dict[str, str]]:
        html_values, text_values = personal_values(Personal(row.name, row.email, links))
        if edition.tracked_links is not None:
            tracked = edition.tracked_links(row.subscriber_id)  # URL-safe: same in both parts
            html_values.update(tracked)
            text_values.update(tracked)
        return html_values, text_values

    def compose(self, row: Claimed) -> Envelope:
        edition = self.edition(self.order(row))
        links = self._links(row)
        html_values, text_values = self._values(edition, row, links)
        html = Filled(edition.html_part, html_values)
        text = Filled(edition.text_part, text_values)
        message_id = verp.message_id(self.settings, self.campaign_id, row.subscriber_id)
        sender = verp.return_path(self.settings, self.campaign_id, row.subscriber_id)
        message = build_message(
            self.identity,
            to_address=row.email,
            to_name=row.name,
            subject=self.subject,
            html=html,
            text=text,
            unsubscribe_url=links.unsubscribe,
            # No mailto: List-Unsubscribe: no mailbox reads it, so a request sent that way
            # would be lost; the HTTPS one-click link is what every large mailbox uses.
            unsubscribe_mailto=None,
            message_id=message_id,
            return_path=sender,
            signer=self.signer,
        )
        # The envelope carries the address as the To header does: IDN domains in punycode.
        return Envelope(sender, check_address(row.email), message, message_id)


def campaign_identity(settings: Settings, campaign_id: int) -> Identity:
    """The sender identity, with a Feedback-ID naming this campaign (stable per campaign)."""
    return identities.identity(settings, campaign=campaign_id, kind="briefing")


def for_campaign(
    settings: Settings,
    sessions: sessionmaker[Session],
    campaign_id: int,
    signer: Signer | None,
) -> CampaignComposer:
    """Render the campaign's stored briefing once and make its composer.

    Publishes nothing: previews and test copies use this too. The web page goes public
    when the campaign starts (``Ledger.start``)."""
    with sessions() as session:
        campaign = get(session, campaign_id)
        source, path = campaign.source_text, campaign.briefing_path
        subject, slug = campaign.subject, campaign.briefing_slug
        known = subscriber_topics.current(session)
    briefing = markdown.parse(source, source=path)
    paper = render_digest(briefing, settings)
    tracked = linktable.prepare(settings, sessions, campaign_id, paper)
    digest = tracked.digest
    keys = section_topics.section_keys(briefing, topic_index(known))
    render_order = None
    if any(keys):
        render_order = _order_renderer(settings, sessions, campaign_id, briefing, paper)
    return CampaignComposer(
        settings=settings,
        campaign_id=campaign_id,
        briefing_slug=slug or briefing.slug,
        subject=subject,
        digest=digest,
        identity=campaign_identity(settings, campaign_id),
        signer=signer,
        tracked_links=tracked.per_copy,
        section_topics=keys,
        render_order=render_order,
    )


def topic_index(known: list[subscriber_topics.Topic]) -> dict[str, int]:
    """Folded topic names and slugs to ids: how a section's ``Topics:`` line is read."""
    index: dict[str, int] = {}
    for topic in known:
        index.setdefault(section_topics.fold(topic.name), topic.id)
        index.setdefault(section_topics.fold(topic.slug), topic.id)
    return index


def _order_renderer(
    settings: Settings,
    sessions: sessionmaker[Session],
    campaign_id: int,
    briefing: Briefing,
    paper: Digest,
) -> Callable[[Order], linktable.Tracked]:
    """Renders the digest for one order, its links tracked with the campaign's table."""
    table: list[linktable.Link] = []
    if settings.tracking != "off" or settings.track_opens:
        with sessions() as session:
            table = linktable.load(session, campaign_id)

    def render(first: Order) -> linktable.Tracked:
        digest = reordered(paper, briefing, settings, first)
        return linktable.track(settings, digest, campaign_id, table)

    return render
