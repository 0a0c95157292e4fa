"""Turns a campaign's stored briefing into each recipient's signed message.

Everything that is the same for every copy (parsing the briefing, rendering MJML,
the sender identity, the DKIM signer) happens once in ``for_campaign``; a copy then
costs three HMACs for the personal links, a few string joins, building and signing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from newsletter.briefing import lint, markdown
from newsletter.briefing.model import Briefing
from newsletter.campaigns import verp
from newsletter.campaigns.envelope import Envelope
from newsletter.campaigns.ledger import Claimed
from newsletter.campaigns.manager import LintRefused, get
from newsletter.config import Settings
from newsletter.digest import Digest, Personal, render_digest
from newsletter.digest.personalise import personal_values
from newsletter.links import RecipientLinks, recipient_links
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
class CampaignComposer:
    """The per-campaign state; ``compose`` is called once per recipient."""

    settings: Settings
    campaign_id: int
    briefing_slug: str
    subject: str
    digest: Digest
    identity: Identity
    signer: Signer | None
    # Per-copy values of tracked links (person tracking mode only); None: nothing per copy.
    tracked_links: linktable.PerCopy | None = None
    # The digest's parts encoded once, but for the lines that hold personal values.
    html_part: PartTemplate = field(init=False, repr=False)
    text_part: PartTemplate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        html, text = self.digest.html_template, self.digest.text_template
        object.__setattr__(self, "html_part", PartTemplate(html.parts, html.slots))
        object.__setattr__(self, "text_part", PartTemplate(text.parts, text.slots))

    def _links(self, row: Claimed) -> RecipientLinks:
        return recipient_links(
            self.settings,
            subscriber_id=row.subscriber_id,
            campaign_id=self.campaign_id,
            briefing_slug=self.briefing_slug,
        )

    def personal(self, row: Claimed) -> tuple[str, str, RecipientLinks]:
        """This recipient's (html, text) and links."""
        links = self._links(row)
        html_values, text_values = self._values(row, links)
        html = self.digest.html_template.fill(html_values)
        return html, self.digest.text_template.fill(text_values), links

    def _values(self, row: Claimed, links: RecipientLinks) -> tuple[dict[str, str], dict[str, str]]:
        html_values, text_values = personal_values(Personal(row.name, row.email, links))
        if self.tracked_links is not None:
            tracked = self.tracked_links(row.subscriber_id)  # URL-safe: same in both parts
            html_values.update(tracked)
            text_values.update(tracked)
        return html_values, text_values

    def compose(self, row: Claimed) -> Envelope:
        links = self._links(row)
        html_values, text_values = self._values(row, links)
        html, text = Filled(self.html_part, html_values), Filled(self.text_part, text_values)
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
    briefing = markdown.parse(source, source=path)
    tracked = linktable.prepare(settings, sessions, campaign_id, render_digest(briefing, settings))
    digest = tracked.digest
    return CampaignComposer(
        settings=settings,
        campaign_id=campaign_id,
        briefing_slug=slug or briefing.slug,
        subject=subject,
        digest=digest,
        identity=campaign_identity(settings, campaign_id),
        signer=signer,
        tracked_links=tracked.per_copy,
    )
