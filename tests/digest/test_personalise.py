"""Each reader's copy carries their own name and signed links, escaped, without re-rendering."""

from __future__ import annotations

import html

from newsletter import tokens
from newsletter.config import Settings
from newsletter.digest import Digest, Personal
from newsletter.links import DONATE, UNSUBSCRIBE, recipient_links
from tests.digest.parsed import parse


def _person(settings: Settings, digest: Digest, sid: int, name: str, email: str) -> Personal:
    links = recipient_links(settings, subscriber_id=sid, campaign_id=7, briefing_slug=digest.slug)
    return Personal(name, email, links)


def test_two_readers_get_their_own_signed_links(example_digest: Digest, settings: Settings):
    ann = _person(settings, example_digest, 1, "Ann", "ann@example.org")
    bob = _person(settings, example_digest, 2, "Bob", "bob@example.org")
    ann_html, ann_text = example_digest.personalise(ann)
    bob_html, bob_text = example_digest.personalise(bob)
    for person, (page, text), other in (
        (ann, (ann_html, ann_text), bob),
        (bob, (bob_html, bob_text), ann),
    ):
        hrefs = {a.attrs.get("href") for a in parse(page).tags("a")}
        for url in (person.links.unsubscribe, person.links.donate, person.links.preferences):
            assert url in hrefs
            assert url in text
        assert other.links.unsubscribe not in page + text
        assert other.links.donate not in page + text
        assert f"Dear {person.name}," in text
        assert person.email in text
    # The tokens really are this reader's: the web app would act for them and nobody else.
    token = ann.links.unsubscribe.rsplit("/", 1)[1]
    assert tokens.verify(settings.secret, UNSUBSCRIBE, token)["s"] == 1
    donate_token = ann.links.donate.split("t=", 1)[1]
    assert tokens.verify(settings.secret, DONATE, donate_token) | {"iat": 0} == {
        "s": 1,
        "c": 7,
        "iat": 0,
    }


def test_personal_values_are_escaped_in_html_and_verbatim_in_text(example_digest, settings):
    name = '<script>alert(1)</script> O\'Brien & "Sons"'
    person = _person(settings, example_digest, 3, name, "o.brien+news@example.org")
    page, text = example_digest.personalise(person)
    assert "<script>alert(1)" not in page
    assert html.escape(name) in page
    assert not parse(page).tags("script")
    assert f"Dear {name}," in parse(page).visible_text
    assert f"Dear {name}," in text
    # the donate URL's '&' is escaped in the attribute and decodes back to the real URL
    hrefs = {a.attrs.get("href") for a in parse(page).tags("a")}
    assert person.links.donate in hrefs and "&" in person.links.donate
    assert html.escape(person.links.donate) in page


def test_a_name_cannot_break_the_text_layout(example_digest, settings) -> None:
    person = _person(
        settings, example_digest, 4, "Eve\r\nBcc: victim@example.org", "eve@example.org"
    )
    _, text = example_digest.personalise(person)
    assert "Dear Eve Bcc: victim@example.org," in text


def test_a_reader_without_a_name_is_still_greeted(example_digest, settings) -> None:
    page, text = example_digest.personalise(
        _person(settings, example_digest, 5, "  ", "x@example.org")
    )
    assert "Dear reader," in text
    assert "Dear reader," in parse(page).visible_text


def test_copies_differ_only_in_the_personal_values(example_digest, settings) -> None:
    """Personalising never re-renders: swap one reader's values for another's and they match."""
    ann = _person(settings, example_digest, 1, "Ann Example", "ann@example.org")
    bob = _person(settings, example_digest, 2, "Bob Example", "bob@example.org")
    (ann_html, ann_text), (bob_html, bob_text) = map(example_digest.personalise, (ann, bob))
    swaps = [
        (ann.name, bob.name),
        (ann.email, bob.email),
        (ann.links.unsubscribe, bob.links.unsubscribe),
        (ann.links.preferences, bob.links.preferences),
        (ann.links.donate, bob.links.donate),
    ]
    for old, new in swaps:
        ann_text = ann_text.replace(old, new)
        ann_html = ann_html.replace(html.escape(old), html.escape(new))
    assert ann_text == bob_text
    assert ann_html == bob_html
    assert "xslot" not in bob_html + bob_text
