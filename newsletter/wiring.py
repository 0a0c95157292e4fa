"""The one place that turns ``Settings`` into concrete adapters (database, transport, Stripe).

Domain modules never import this: the edges (CLI commands, the web app factory, the
entry of a helper process) build adapters here and pass them in.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.config import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from newsletter.campaigns.composer import CampaignComposer
    from newsletter.donations.gateway import StripeGateway
    from newsletter.donations.receipts.mail import DonorMailer
    from newsletter.mail.dkim import Signer
    from newsletter.mail.transports.base import Transport


def engine(settings: Settings) -> Engine:
    """An up-to-date database engine for these settings."""
    return database.open_database(settings.database_url)


def sessions(settings: Settings) -> sessionmaker[Session]:
    return database.session_factory(engine(settings))


def stripe_gateway(settings: Settings) -> StripeGateway | None:
    """The Stripe adapter, or None when no secret key is configured (the demo)."""
    from newsletter.donations.gateway import StripeGateway

    if settings.stripe_secret_key is None or not settings.stripe_secret_key.get_secret_value():
        return None
    return StripeGateway(
        settings.stripe_secret_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        timeout=settings.stripe_timeout,
    )


def transport(settings: Settings) -> Transport:
    """SMTP when ``smtp_url`` is set, else the local Maildir outbox (nothing leaves the machine)."""
    from newsletter.mail.transports.maildir import MaildirTransport
    from newsletter.mail.transports.smtp import SmtpTransport

    url = settings.smtp_url.strip()
    if not url or url.lower() == "maildir":
        return MaildirTransport(settings.outbox_dir)
    return SmtpTransport.from_url(url)


def signer(settings: Settings) -> Signer | None:
    """The DKIM signer, or None when DKIM is not configured (a bad key is a ConfigError)."""
    from newsletter.errors import ConfigError
    from newsletter.mail.dkim import Signer

    if not (settings.dkim_selector or settings.dkim_key_file):
        return None
    if not (settings.dkim_selector and settings.dkim_key_file):
        raise ConfigError("DKIM needs both NEWSLETTER_DKIM_SELECTOR and NEWSLETTER_DKIM_KEY_FILE")
    domain = settings.dkim_domain or settings.sender_address.rpartition("@")[2]

    def read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the DKIM key {path}: {exc.strerror}") from None

    ed25519 = None
    if settings.dkim_ed25519_key_file:
        if not settings.dkim_ed25519_selector:
            raise ConfigError("an Ed25519 DKIM key needs NEWSLETTER_DKIM_ED25519_SELECTOR too")
        ed25519 = (settings.dkim_ed25519_selector, read(settings.dkim_ed25519_key_file))
    return Signer(settings.dkim_selector, domain, read(settings.dkim_key_file), ed25519=ed25519)


def donor_mailer(settings: Settings) -> DonorMailer:
    """Receipts and manage links, DKIM-signed when configured, one connection a message."""
    from newsletter.donations.receipts.mail import DonorMailer

    return DonorMailer(settings, signer=signer(settings), transport=lambda: transport(settings))


def campaign_composers(
    settings: Settings, made: sessionmaker[Session] | None = None
) -> Callable[[int], CampaignComposer]:
    """A composer for each campaign id; the DKIM key is read when one is made, so a bad
    key stops that campaign (with the reason) rather than the worker."""
    from newsletter.campaigns.composer import for_campaign

    factory = made or sessions(settings)
    return lambda campaign_id: for_campaign(settings, factory, campaign_id, signer(settings))
