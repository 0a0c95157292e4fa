"""``subscribers lists add|remove|publish|unpublish``, ``lists create --topic`` and ``edit``."""

from __future__ import annotations

import re

import pytest

from newsletter.errors import NewsletterError
from subscribers.errors import Conflict, NotFound
from tests.subscribers.conftest import SubscribersCli


def _row(table: str, name: str) -> list[str]:
    """The cells of one row of the ``lists`` table."""
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in\n{table}")


def test_an_existing_person_joins_and_leaves_lists_and_topics(cli: SubscribersCli) -> None:
    cli.ok("add", "ann@example.org")
    cli.ok("lists", "create", "Members")
    cli.ok("lists", "create", "Ukraine", "--topic")
    again = cli("add", "ann@example.org")
    assert isinstance(again.exception, Conflict)
    assert "subscribers lists add ann@example.org LIST" in str(again.exception)

    assert "added to the list Members" in cli.ok("lists", "add", "ann@example.org", "Members")
    assert "was already on Members" in cli.ok("lists", "add", "ann@example.org", "members")
    assert "added to the topic Ukraine" in cli.ok(
        "lists", "add", "ann@example.org", "Ukraine", "--topic"
    )
    shown = " ".join(cli.ok("show", "ann@example.org").split())
    assert "lists All briefings, Members" in shown and "topics Ukraine" in shown
    assert "staff-lists" in shown and "cli:lists-add" in shown
    table = cli.ok("lists")
    assert _row(table, "Members")[1:4] == ["list", "members", "1"]
    assert _row(table, "Ukraine")[1:4] == ["topic", "ukraine", "1"]

    assert "removed from Ukraine" in cli.ok(
        "lists", "remove", "ann@example.org", "Ukraine", "--topic"
    )
    cli.ok("lists", "remove", "ann@example.org", "Members")
    last = cli.ok("lists", "remove", "ann@example.org", "All briefings")
    assert "on no list now and receive no campaign" in last
    assert "was not on Members" in cli.ok("lists", "remove", "ann@example.org", "Members")

    cli.ok("unsubscribe", "ann@example.org")
    note = cli.ok("lists", "add", "ann@example.org", "Members")
    assert "they are unsubscribed: nothing is sent to them" in note


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (["lists", "add", "ann@example.org", "Ukraine"], NewsletterError, "add --topic"),
        (["lists", "add", "ann@example.org", "Members", "--topic"], NewsletterError, "leave out"),
        (["lists", "add", "ann@example.org", "Nowhere"], NotFound, "no list or topic"),
        (["lists", "add", "nobody@example.org", "Members"], NotFound, "nobody with the address"),
        (["lists", "publish", "Members"], Conflict, "only topics can be published"),
        (["lists", "create", "Hidden", "--hidden"], NewsletterError, "--hidden is for topics"),
        (["edit", "ann@example.org"], NewsletterError, "nothing to change"),
        (["edit", "ann@example.org", "--language", "fr"], NewsletterError, "not a language"),
    ],
)
def test_mistakes_are_one_clear_line(
    cli: SubscribersCli, args: list[str], error: type[Exception], text: str
) -> None:
    cli.ok("add", "ann@example.org")
    cli.ok("lists", "create", "Members")
    cli.ok("lists", "create", "Ukraine", "--topic")
    result = cli(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, error) and text in str(result.exception)


def test_topics_are_published_and_hidden(cli: SubscribersCli) -> None:
    assert "(donors; topic, hidden)" in cli.ok("lists", "create", "Donors", "--topic", "--hidden")
    assert _row(cli.ok("lists"), "Donors")[-1] == "hidden from the form"
    assert "now offered on the subscribe form" in cli.ok("lists", "publish", "donors")
    assert _row(cli.ok("lists"), "Donors")[-1] != "hidden from the form"
    assert "now hidden from the public forms" in cli.ok("lists", "unpublish", "Donors")


def test_edit_corrects_name_and_language(
    cli: SubscribersCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.cli import common

    cli.ok("add", "ann@example.org", "--name", "An")
    assert "updated: name 'Ann Smith', language en" in cli.ok(
        "edit", "ann@example.org", "--name", "Ann Smith"
    )
    monkeypatch.setenv("NEWSLETTER_LANGUAGES", "en,fr")
    common.settings.cache_clear()
    assert "language fr" in cli.ok("edit", "ann@example.org", "--language", "fr")
    shown = " ".join(cli.ok("show", "ann@example.org").split())
    assert "name Ann Smith" in shown and "language fr" in shown
