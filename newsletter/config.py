"""Settings from the environment (prefix ``NEWSLETTER_``) or a ``.env`` file.

Every default works for ``make demo``: SQLite under ``var/``, a local Maildir outbox,
no Stripe keys. Secrets are ``SecretStr`` so they never show up in logs or ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

DEMO_SECRET = "demo-secret-change-me-in-production"  # noqa: S105 -- public: startup warns of it


def _templates_dir() -> Path:
    """The templates a wheel carries inside the package, else the checkout's top-level folder.

    ``templates/`` stays at the top of the repository (what staff may restyle); the build maps
    it into the package as ``newsletter/templates`` so an installed copy can render too.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if (packaged / "email").is_dir() else here.parent / "templates"


TEMPLATES = _templates_dir()


class Settings(BaseSettings):
    """All configuration in one place; ``newsletter.wiring`` turns it into adapters."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Organisation and branding (templates read these, never hard-coded strings).
    organisation_name: str = "NATO Watch"
    organisation_legal_name: str = "NATO Watch"
    postal_address: str = "Gairloch, Ross-shire, IV21 2BQ, Scotland, UK"
    charity_statement: str = "NATO Watch is a non-profit company limited by guarantee."
    brand_colour: str = "#1d4e89"
    logo_url: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    language: str = "en"

    # Sending identity.
    sender_address: str = "briefings@example.org"
    sender_name: str = "NATO Watch Briefings"
    reply_to: str = ""
    list_id: str = "briefings.example.org"
    feedback_id_sender: str = "newsletter"
    bounce_domain: str = ""

    # Transport: "maildir" (default), or an smtp:// / smtps:// URL
    # (smtp://user:pass@host:587/?starttls=1&timeout=30).
    smtp_url: str = ""
    outbox_dir: Path = Path("var/outbox")
    send_rate: float = 0.0  # messages per second per worker; 0 = unthrottled
    smtp_connections: int = 1
    send_retry_limit: int = 5  # attempts per recipient before a temporary failure is final
    send_retry_delay: float = 60.0  # seconds before the first retry; doubles each time
    # Processes that compose and DKIM-sign copies beside the sending one, so signing
    # uses every core: -1 one per CPU core, 0 compose in the sending process itself.
    send_processes: int = -1

    # DKIM.
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_key_file: Path | None = None
    dkim_ed25519_selector: str = ""
    dkim_ed25519_key_file: Path | None = None

    # Secrets and storage.
    secret_key: SecretStr = SecretStr(DEMO_SECRET)
    database_url: str = "sqlite:///var/newsletter.db"
    database_pool_size: int = Field(default=10, ge=1)  # open connections per process (PostgreSQL)
    # Seconds a web request waits for a free connection before answering 503 "busy".
    database_pool_timeout: float = Field(default=5.0, gt=0)
    templates_dir: Path = TEMPLATES

    # Bounce policy.
    hard_bounce_limit: int = 1
    soft_bounce_limit: int = 3
    soft_bounce_window_days: int = 30
    complaint_limit: int = 1

    # Donations (Stripe hosted Checkout).
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = ""  # empty: Stripe's own API; tests point it at a local fake
    currency: str = "gbp"
    donation_presets: str = "10,25,50,100"
    donation_min: Decimal = Decimal("1")
    donation_max: Decimal = Decimal("10000")
    cover_fees: bool = False
    gift_aid: bool = False
    receipt_wording: str = "Thank you for your gift. No goods or services were provided in return."
    stripe_timeout: float = 20.0  # seconds per Stripe API call
    donation_fee_percent: Decimal = Decimal("1.5")  # card fee estimate for "cover the fees"
    donation_fee_fixed: Decimal = Decimal("0.20")
    gift_aid_wording: str = (
        "I want to Gift Aid my donation and any donations I make in the future or have made in "
        "the past 4 years. I am a UK taxpayer and understand that if I pay less Income Tax and/or "
        "Capital Gains Tax than the amount of Gift Aid claimed on all my donations in that tax "
        "year it is my responsibility to pay any difference."
    )
    gift_aid_version: str = "hmrc-2024"  # stored with each declaration; change it with the text
    donation_receipts: bool = True  # email a thank-you receipt per gift (off if a CRM does it)

    # Staff console (/admin)
    staff_idle_minutes: int = Field(default=30, ge=1)  # a session unused this long ends

    # The zone staff work in: a bare `campaign send --at` time is read in it, and times
    # are printed back in it. An IANA name (Europe/London, America/New_York).
    timezone: str = "Europe/London"

    # Audience (docs/audience.md).
    default_list: str = "All briefings"  # every web sign-up joins it; created when missing
    # Languages readers may choose in the preference centre, comma-separated tags;
    # empty = the organisation's one language (``language``): the menu is then hidden.
    languages: str = ""

    # Exposure to the internet (see docs/deployment.md).
    debug: bool = False  # NEWSLETTER_DEBUG: serve /openapi.json, the app's schema
    # Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed (e.g. "127.0.0.1,::1"); empty: no forwarded header is.
    trusted_proxies: str = ""
    # Signed Stripe events refused as malformed are written here for staff to review.
    webhook_review_dir: Path = Path("var/webhook-review")

    # Results. off: links left as written; aggregate: clicks counted per link, nothing
    # kept about who clicked; person: also who clicked what (see docs/privacy.md).
    tracking: Literal["off", "aggregate", "person"] = "aggregate"
    track_opens: bool = False  # an invisible image per copy; opens are only ever an estimate
    bounce_mailbox: str = ""  # Maildir path or imaps://user:password@host/folder

    @field_validator("brand_colour")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", value):
            raise ValueError("brand_colour must be a hex colour such as #1d4e89")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name; use an IANA name such as Europe/London"
            ) from None
        return value.strip()

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from newsletter.web.clientip import parse_networks

        try:
            parse_networks(value)
        except Exception as exc:  # ConfigError: pydantic wants a ValueError
            raise ValueError(str(exc)) from None
        return value

    @property
    def donations_on(self) -> bool:
        """Whether readers can give online: then every briefing sent needs its appeal."""
        return self.stripe_secret_key is not None

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a tzinfo."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    @property
    def reader_languages(self) -> list[str]:
        """The language tags offered to readers (``languages``, else ``language`` alone)."""
        chosen = [t.strip() for t in self.languages.split(",") if t.strip()]
        return list(dict.fromkeys(chosen)) if chosen else [self.language]

    @property
    def secret(self) -> bytes:
        """The HMAC key for every signed token."""
        return self.secret_key.get_secret_value().encode()

    def public(self) -> PublicSettings:
        """What templates staff may restyle (emails, web pages) see, as ``settings``."""
        return PublicSettings(
            organisation_name=self.organisation_name,
            organisation_legal_name=self.organisation_legal_name,
            postal_address=self.postal_address,
            charity_statement=self.charity_statement,
            brand_colour=self.brand_colour,
            logo_url=self.logo_url,
            public_base_url=self.public_base_url,
            language=self.language,
            sender_name=self.sender_name,
            sender_address=self.sender_address,
            receipt_wording=self.receipt_wording,
            gift_aid=self.gift_aid,
            gift_aid_wording=self.gift_aid_wording,
        )

    @property
    def uses_demo_secret(self) -> bool:
        return self.secret_key.get_secret_value() == DEMO_SECRET


@dataclass(frozen=True)
class PublicSettings:
    """The organisation's public face and wording, nothing else.

    Templates get this instead of ``Settings``: a restyled template can never print
    the secret key, a Stripe key, the SMTP password or the database URL.
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
    gift_aid: bool
    gift_aid_wording: str
