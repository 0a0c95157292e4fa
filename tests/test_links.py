"""Readers' personal links: written without json per copy, yet the very URLs issued before."""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter import links, tokens
from newsletter.config import Settings

NOW = 1733245678.75
CONFIG = Settings(
    _env_file=None,
    public_base_url="https://news.example.org",
    secret_key="fixed-test-secret-0123456789abcdef",
)
BASE = "https://news.example.org"


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)


def test_links_already_in_mailboxes_are_issued_the_same(frozen: None) -> None:
    """Written by the implementation that signed every payload through json."""
    got = links.recipient_links(
        CONFIG, subscriber_id=345, campaign_id=12, briefing_slug="112-foreign ministers/é"
    )
    assert got == links.RecipientLinks(
        unsubscribe=f"{BASE}/u/eyJjIjoxMiwiaWF0IjoxNzMzMjQ1Njc4LCJzIjozNDV9.E-WMouyoQdGtk-OKtKJKnQ",
        preferences=f"{BASE}/preferences/eyJpYXQiOjE3MzMyNDU2NzgsInMiOjM0NX0.--_sHAcZHFIqGZp_CUkP6w",
        donate=f"{BASE}/donate?c=12&t=eyJjIjoxMiwiaWF0IjoxNzMzMjQ1Njc4LCJzIjozNDV9.KlycSox1jFx3LFI3ILct_A",
        browser=f"{BASE}/archive/112-foreign%20ministers/%C3%A9",
    )
    no_campaign = links.recipient_links(
        CONFIG, subscriber_id=7, campaign_id=None, briefing_slug="x"
    )
    assert no_campaign.unsubscribe == (
        f"{BASE}/u/eyJjIjpudWxsLCJpYXQiOjE3MzMyNDU2NzgsInMiOjd9.-ztrZ0lIk6hEwmoHd9W2wA"
    )
    assert no_campaign.donate == (
        f"{BASE}/donate?t=eyJjIjpudWxsLCJpYXQiOjE3MzMyNDU2NzgsInMiOjd9.RGSCSm6fh0tLF7zcGoPBlw"
    )
    assert links.confirm_url(CONFIG, 99) == (
        f"{BASE}/confirm/eyJpYXQiOjE3MzMyNDU2NzgsInMiOjk5fQ.VHlqyo32YALtT7mH0WeEmQ"
    )


def _before(subscriber_id: int, campaign_id: int | None, slug: str) -> links.RecipientLinks:
    """The links as they were made before: a dict per token, through ``tokens.sign``."""
    secret, who = CONFIG.secret, {"s": subscriber_id}
    unsub = tokens.sign(secret, links.UNSUBSCRIBE, {**who, "c": campaign_id})
    donate_query = {"t": tokens.sign(secret, links.DONATE, {**who, "c": campaign_id})}
    if campaign_id is not None:
        donate_query = {"c": str(campaign_id), **donate_query}
    preferences = tokens.sign(secret, links.PREFERENCES, who)
    return links.RecipientLinks(
        unsubscribe=f"{BASE}/u/{unsub}",
        preferences=f"{BASE}/preferences/{preferences}",
        donate=f"{BASE}/donate?{urlencode(donate_query)}",
        browser=f"{BASE}/archive/{quote(slug)}",
    )


@settings(max_examples=200, deadline=None)
@given(
    subscriber_id=st.integers(min_value=0, max_value=2**63),
    campaign_id=st.none() | st.integers(min_value=0, max_value=2**63),
    slug=st.text(),
)
def test_same_links_as_through_json(subscriber_id: int, campaign_id: int | None, slug: str) -> None:
    # The clock is read by both within one call each: retry across a second's turn.
    for _ in range(3):
        expected = _before(subscriber_id, campaign_id, slug)
        got = links.recipient_links(
            CONFIG, subscriber_id=subscriber_id, campaign_id=campaign_id, briefing_slug=slug
        )
        if got == expected:
            break
    assert got == expected


def test_every_link_verifies_for_its_purpose_and_reader(frozen: None) -> None:
    got = links.recipient_links(CONFIG, subscriber_id=5, campaign_id=9, briefing_slug="s")
    unsub = tokens.verify(CONFIG.secret, links.UNSUBSCRIBE, got.unsubscribe.rsplit("/", 1)[1])
    assert unsub == {"c": 9, "iat": int(NOW), "s": 5}
    donate = tokens.verify(CONFIG.secret, links.DONATE, got.donate.rsplit("t=", 1)[1])
    assert donate == {"c": 9, "iat": int(NOW), "s": 5}
    prefs = tokens.verify(CONFIG.secret, links.PREFERENCES, got.preferences.rsplit("/", 1)[1])
    assert prefs == {"iat": int(NOW), "s": 5}
    assert links.preferences_url(CONFIG, 5) == got.preferences
