"""``newsletter subscribers lists add|remove|publish|unpublish`` and ``subscribers edit``.

Staff put one person on a list or topic (or take them off), show or hide a topic on
the public form, and correct a person's name or language. Thin: each command is one
transaction through ``subscribers.*`` and one line of output.
"""

from __future__ import annotations

import getpass

import typer
from sqlalchemy.orm import Session

from newsletter import wiring
from newsletter.cli.common import console, settings
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from subscribers import consent, lists, people, topics
from subscribers.models import MailingList, Status, Subscriber

ADDRESS = typer.Argument(..., help="Email address or #id.")
NAME = typer.Argument(..., help='A list ("All briefings"), or a topic with --topic.')
TOPIC = typer.Option(False, "--topic", help="NAME is a topic (an interest inside a list).")


def _staff(form: str, wording: str) -> consent.Context:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return consent.Context(
        form=f"cli:{form}", wording=wording, user_agent=f"newsletter-cli ({user})"
    )


def _target(session: Session, name: str, topic: bool) -> MailingList:
    found = lists.get(session, name)
    if topic and not found.is_topic:
        raise NewsletterError(f"{found.name!r} is a list, not a topic: leave out --topic")
    if not topic and found.is_topic:
        raise NewsletterError(f"{found.name!r} is a topic: add --topic to change a person's topics")
    return found


def _not_mailed(person: Subscriber) -> str:
    if person.status == Status.ACTIVE:
        return ""
    return f" (they are {person.status}: nothing is sent to them until that changes)"


def add_to(address: str = ADDRESS, name: str = NAME, topic: bool = TOPIC) -> None:
    """Put one person on a list, or give them a topic (--topic)."""
    with transaction(wiring.sessions(settings())) as session:
        person = people.lookup(session, address)
        target = _target(session, name, topic)
        if not people.join(session, person, target):
            console.print(f"{person.email} was already on {target.name}", highlight=False)
            return
        now_on = [m.name for m in people.subscribed_lists(session, person)]
        consent.record(
            session,
            person.id,
            consent.STAFF_LISTS,
            _staff("lists-add", f"Staff put them on {target.name} with their consent"),
            now_on,
        )
        what = "topic" if target.is_topic else "list"
        console.print(
            f"{person.email} added to the {what} {target.name}{_not_mailed(person)}",
            highlight=False,
        )


def remove_from(address: str = ADDRESS, name: str = NAME, topic: bool = TOPIC) -> None:
    """Take one person off a list, or remove one of their topics (--topic)."""
    with transaction(wiring.sessions(settings())) as session:
        person = people.lookup(session, address)
        target = _target(session, name, topic)
        context = _staff("lists-remove", f"Staff took them off {target.name}")
        if not people.leave_list(session, person, target, context):
            console.print(f"{person.email} was not on {target.name}", highlight=False)
            return
        left_all = not target.is_topic and not people.memberships(session, person)[0]
        note = "; they are on no list now and receive no campaign" if left_all else ""
        console.print(f"{person.email} removed from {target.name}{note}", highlight=False)


def publish(name: str = typer.Argument(..., help="A topic.")) -> None:
    """Offer a topic on the public subscribe form and preference centre."""
    with transaction(wiring.sessions(settings())) as session:
        found = topics.publish(session, name, public=True)
        console.print(
            f"{found.name} is now offered on the subscribe form and preference centre",
            highlight=False,
        )


def unpublish(name: str = typer.Argument(..., help="A topic.")) -> None:
    """Hide a topic from the public forms; people who follow it keep it."""
    with transaction(wiring.sessions(settings())) as session:
        found = topics.publish(session, name, public=False)
        console.print(
            f"{found.name} is now hidden from the public forms (its readers keep it)",
            highlight=False,
        )


def edit(
    address: str = ADDRESS,
    name: str | None = typer.Option(None, "--name", help="The person's name."),
    language: str | None = typer.Option(
        None, "--language", help="One of NEWSLETTER_LANGUAGES (default: the organisation's)."
    ),
) -> None:
    """Correct a person's name or language."""
    if name is None and language is None:
        raise NewsletterError("nothing to change: give --name and/or --language")
    offered = settings().reader_languages
    if language is not None and language.strip() not in offered:
        raise NewsletterError(
            f"{language.strip()!r} is not a language readers can choose "
            f"(NEWSLETTER_LANGUAGES: {', '.join(offered)})"
        )
    with transaction(wiring.sessions(settings())) as session:
        person = people.lookup(session, address)
        changed = people.update(
            session,
            person,
            _staff("edit", "Staff corrected their details"),
            name=name,
            language=language.strip() if language is not None else None,
        )
        what = f"name {person.name or '-'!r}, language {person.language}"
        verb = "updated" if changed else "unchanged"
        console.print(f"{person.email} {verb}: {what}", highlight=False)
