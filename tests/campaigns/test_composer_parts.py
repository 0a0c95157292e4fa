"""A campaign copy built from the prebuilt parts is the copy built the plain way.

``CampaignComposer.compose`` fills the digest's templates straight into encoded
parts; the plain way personalises the digest as text and hands it to
``build_message``. Both must give the same bytes for any recipient name.
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import dkim
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter import links, tokens
from newsletter.briefing import markdown
from newsletter.campaigns import verp
from newsletter.campaigns.composer import CampaignComposer, campaign_identity
from newsletter.campaigns.ledger import Claimed
from newsletter.config import Settings
from newsletter.digest import render_digest
from newsletter.digest.render import reordered
from newsletter.mail.dkim import Signer, generate_rsa
from newsletter.mail.message import build_message
from newsletter.results import linktable
from tests.conftest import EXAMPLE_BRIEFING
from tests.mail.dkimcheck import verify_all

KEY, RECORD = generate_rsa()
TOPICS = 3  # topic k is section k's; the last topic also every later section's


def dns(name: bytes, timeout: int = 5, **_: object) -> bytes:
    assert name.decode().rstrip(".") == "nl2026._domainkey.example.org"
    return RECORD.encode()


@pytest.fixture(scope="module")
def composer() -> CampaignComposer:
    cfg = Settings(_env_file=None, public_base_url="https://news.example.org")
    digest = render_digest(markdown.load(EXAMPLE_BRIEFING), cfg)
    return CampaignComposer(
        settings=cfg,
        campaign_id=112,
        briefing_slug="112-foreign-ministers",
        subject=digest.subject,
        digest=digest,
        identity=campaign_identity(cfg, 112),
        signer=Signer("nl2026", "example.org", KEY),
    )


def plain(composer: CampaignComposer, row: Claimed) -> bytes:
    html, text, urls = composer.personal(row)
    return build_message(
        composer.identity,
        to_address=row.email,
        to_name=row.name,
        subject=composer.subject,
        html=html,
        text=text,
        unsubscribe_url=urls.unsubscribe,
        unsubscribe_mailto=None,
        message_id=verp.message_id(composer.settings, composer.campaign_id, row.subscriber_id),
        return_path=verp.return_path(composer.settings, composer.campaign_id, row.subscriber_id),
    )


def unsigned(message: bytes) -> bytes:
    """Without the DKIM-Signature field and the Date (which may tick between two builds)."""
    head, _, body = message.partition(b"\r\n\r\n")
    fields = head.replace(b"\r\n ", b"\x00").split(b"\r\n")
    kept = [f for f in fields if not f.startswith((b"DKIM-Signature:", b"Date:"))]
    return b"\r\n".join(kept).replace(b"\x00", b"\r\n ") + b"\r\n\r\n" + body


NAMES = st.one_of(
    st.lists(
        st.sampled_from(["a", "Zoë", " ", "  ", "\t", ".", "&", "<", '"', "=", "’"]), max_size=20
    ).map("".join),
    st.text(max_size=20),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, subscriber=st.integers(min_value=1, max_value=10**9))
def test_a_composed_copy_is_the_plain_copy(
    composer: CampaignComposer, name: str, subscriber: int
) -> None:
    row = Claimed(1, subscriber, f"reader{subscriber}@example.com", name, 0)
    # The links' tokens carry their issue second (links and tokens each read the clock):
    # both builds must share one, or a second ticking between them fails the test.
    clock = SimpleNamespace(time=lambda: 1_795_847_628.0)
    with mock.patch.object(tokens, "time", clock), mock.patch.object(links, "time", clock):
        try:
            fast = composer.compose(row).message
        except Exception as exc:  # a name the plain way refuses too, with the same error
            with pytest.raises(type(exc)):
                plain(composer, row)
            return
        slow = plain(composer, row)
    assert unsigned(fast) == unsigned(slow)


def test_a_composed_copy_verifies(composer: CampaignComposer) -> None:
    row = Claimed(1, 7, "zoe@example.com", "Zoë  Smith", 0)
    message = composer.compose(row).message
    assert dkim.verify(message, dnsfunc=dns)


@pytest.fixture(scope="module")
def by_topic() -> CampaignComposer:
    """A composer whose readers follow topics: each order of the sections its edition."""
    cfg = Settings(_env_file=None, public_base_url="https://news.example.org")
    briefing = markdown.load(EXAMPLE_BRIEFING)
    digest = render_digest(briefing, cfg)
    sections = len(briefing.sections)
    return CampaignComposer(
        settings=cfg,
        campaign_id=113,
        briefing_slug=briefing.slug,
        subject=digest.subject,
        digest=digest,
        identity=campaign_identity(cfg, 113),
        signer=Signer("nl2026", "example.org", KEY),
        section_topics=tuple(frozenset({min(i, TOPICS - 1) + 1}) for i in range(sections)),
        render_order=lambda first: linktable.Tracked(reordered(digest, briefing, cfg, first), None),
    )


@pytest.mark.parametrize("mask", range(2**TOPICS))
def test_copies_in_every_order_verify_and_are_the_plain_copies(
    by_topic: CampaignComposer, mask: int
) -> None:
    """Every combination of topics, two readers each (the second composed from the
    edition and encoded lines the first left): dkimpy and the second verifier accept
    the signature, and the bytes are those the plain way builds for that order."""
    topics = tuple(k + 1 for k in range(TOPICS) if mask >> k & 1)
    clock = SimpleNamespace(time=lambda: 1_795_847_628.0)
    for subscriber, name in ((mask * 10 + 1, "Zoë  Smith"), (mask * 10 + 2, "Jo O'Hara.")):
        row = Claimed(1, subscriber, f"reader{subscriber}@example.com", name, 0, topics)
        with mock.patch.object(tokens, "time", clock), mock.patch.object(links, "time", clock):
            message = by_topic.compose(row).message
            slow = plain(by_topic, row)
        assert dkim.verify(message, dnsfunc=dns)
        assert verify_all(message, {"nl2026._domainkey.example.org": RECORD}) == ["rsa-sha256"]
        assert unsigned(message) == unsigned(slow)
    assert by_topic.order(row) in by_topic.editions


def test_a_copy_offers_only_the_one_click_https_unsubscribe(composer: CampaignComposer) -> None:
    """No mailto: target: no mailbox reads it, so such a request would be silently lost."""
    message = composer.compose(Claimed(1, 7, "reader7@example.com", "Reader", 0)).message
    head = message.partition(b"\r\n\r\n")[0].replace(b"\r\n ", b" ").decode()
    (field,) = [f for f in head.split("\r\n") if f.lower().startswith("list-unsubscribe:")]
    assert "<https://" in field and "mailto:" not in field
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
