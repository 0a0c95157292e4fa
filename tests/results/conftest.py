"""A started campaign, its composed copies, and the web app that follows their links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import wiring
from newsletter.campaigns import composer
from newsletter.campaigns.ledger import Claimed, Ledger
from newsletter.campaigns.models import CampaignRecipient
from newsletter.config import Settings
from newsletter.web.app import create_app
from tests.campaigns.conftest import new_campaign, seed_audience, start_campaign
from tests.conftest import EXAMPLE_BRIEFING


def distinct_links_source() -> str:
    """The example briefing with each lost link target replaced by its own URL."""
    pieces = EXAMPLE_BRIEFING.read_text(encoding="utf-8").split("](#)")
    out = [pieces[0]]
    for n, piece in enumerate(pieces[1:], start=1):
        out.append(f"](https://www.natowatch.org/paper/{n}?a=1&b=2){piece}")
    return "".join(out)


TRACKED = re.compile(r'href="(https://news\.example\.org/r/[^"]+)"')


@dataclass
class Copy:
    subscriber_id: int
    html: str
    text: str

    @property
    def tracked(self) -> list[str]:
        """The tracked links of the HTML part, each once, in order."""
        return list(dict.fromkeys(TRACKED.findall(self.html)))


def copies(settings: Settings, sessions: sessionmaker[Session], campaign_id: int) -> list[Copy]:
    """Every reader's copy as the worker composes it."""
    made = composer.for_campaign(settings, sessions, campaign_id, wiring.signer(settings))
    with sessions() as session:
        rows = session.scalars(
            select(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.id)
        ).all()
        claimed = [Claimed(r.id, r.subscriber_id, r.email, r.name, 0) for r in rows]
    out = []
    for row in claimed:
        html, text, _ = made.personal(row)
        out.append(Copy(row.subscriber_id, html, text))
    return out


def path_of(url: str) -> str:
    return url.removeprefix("https://news.example.org")


@dataclass
class Site:
    app: FastAPI
    settings: Settings
    campaign_id: int


@pytest.fixture(params=["aggregate", "person"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def site(
    settings: Settings, db_url: str, engine: Engine, sessions: sessionmaker[Session], mode: str
) -> Iterator[Site]:
    cfg = settings.model_copy(update={"database_url": db_url, "tracking": mode})
    seed_audience(engine, 3)
    campaign_id = new_campaign(sessions, source=distinct_links_source())
    start_campaign(sessions, campaign_id)
    Ledger(engine).start(campaign_id)
    app = create_app(cfg)
    yield Site(app, cfg, campaign_id)
    app.state.engine.dispose()


def client(site: Site, host: str = "198.51.100.4") -> TestClient:
    return TestClient(site.app, base_url="https://news.example.org", client=(host, 5000))
