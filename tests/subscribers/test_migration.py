"""Moving from Mailchimp, listmonk or another CSV: statuses kept, never raised, consent
history carried over, tags private; on SQLite and PostgreSQL.

The files are in ``tests/subscribers/exports.py``, which says where each shape
comes from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from subscribers import consent, exporter, lists, people, suppression, tags
from subscribers.formats import FormatError, parse_map
from subscribers.importer import ConsentMissing, import_csv
from subscribers.importreport import NEVER_SUBSCRIBED, NO_BASIS
from subscribers.models import ConsentEvent, MailingList, Status, Subscriber, Suppression
from tests.subscribers import exports
from tests.subscribers.conftest import CONSENT

STAFF = consent.Context(form="cli:test")


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with transaction(sessions) as s:
        return {p.email_key: p.status for p in s.scalars(select(Subscriber))}


def _suppressed(sessions: sessionmaker[Session], *keys: str) -> dict[str, str | None]:
    with transaction(sessions) as s:
        found = {key: suppression.find(s, key) for key in keys}
        return {key: entry.reason if entry else None for key, entry in found.items()}


def _events(sessions: sessionmaker[Session], key: str) -> list[tuple[str, datetime, str, str]]:
    with transaction(sessions) as s:
        person = people.find(s, key)
        assert person is not None
        return [(e.action, e.at, e.ip, e.form) for e in consent.history(s, person.id)]


def _mailchimp(tmp_path: Path) -> list[Path]:
    return [
        _file(tmp_path, "subscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_SUBSCRIBED),
        _file(tmp_path, "unsubscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_UNSUBSCRIBED),
        _file(tmp_path, "cleaned_members_export_4f1e2d.csv", exports.MAILCHIMP_CLEANED),
        _file(tmp_path, "nonsubscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_NONSUBSCRIBED),
    ]


def test_a_mailchimp_audience_keeps_every_status_and_nobody_who_left_is_active(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    subscribed, unsubscribed, cleaned, nonsubscribed = _mailchimp(tmp_path)
    first = import_csv(sessions, subscribed)  # no --consent needed: Mailchimp recorded it
    assert first.kind == "Mailchimp export of subscribed contacts"
    assert (first.added, first.added_as) == (3, {"active": 3})
    assert first.not_imported == ["column 'Organisation'", "column 'Topics of interest'"]
    left = import_csv(sessions, unsubscribed)
    assert (left.added_as, left.suppressed) == ({"unsubscribed": 2}, 2)
    gone = import_csv(sessions, cleaned)
    assert (gone.added_as, gone.suppressed) == ({"bounced": 1}, 1)
    never = import_csv(sessions, nonsubscribed)
    assert (never.added, never.skipped) == (0, {NEVER_SUBSCRIBED: 1})

    assert _statuses(sessions) == {
        "ann.archer@example.org": Status.ACTIVE,
        "bob.brown@example.com": Status.ACTIVE,
        "chloe.chen@example.net": Status.ACTIVE,
        "dmitri.d@example.org": Status.UNSUBSCRIBED,
        "eve.evans@example.com": Status.UNSUBSCRIBED,
        "fatima.f@example.org": Status.BOUNCED,
    }
    assert _suppressed(
        sessions, "dmitri.d@example.org", "eve.evans@example.com", "fatima.f@example.org"
    ) == {
        "dmitri.d@example.org": suppression.UNSUBSCRIBED,
        "eve.evans@example.com": suppression.UNSUBSCRIBED,
        "fatima.f@example.org": suppression.HARD_BOUNCE,
    }
    with transaction(sessions) as s:
        assert lists.all_lists(s, include_archived=True) == []  # no list from tags or groups
        ann = people.lookup(s, "ann.archer@example.org")
        assert tags.of(s, [ann.id]) == {ann.id: ["Board", "Donor"]}
        assert [(t.name, n) for t, n in tags.all_tags(s)] == [
            ("Board", 1),
            ("Donor", 2),
            ("Press", 1),
        ]
        assert (ann.name, people.subscribed_lists(s, ann)) == ("Ann Archer", [])


def test_mailchimp_opt_in_and_confirmation_go_into_the_consent_log(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    subscribed, unsubscribed, *_ = _mailchimp(tmp_path)
    summary = import_csv(sessions, subscribed)
    import_csv(sessions, unsubscribed)
    assert summary.history == 5  # Bob's opt-in was never recorded by Mailchimp
    ann = _events(sessions, "ann.archer@example.org")
    assert ann[:2] == [
        ("subscribe", datetime(2019, 3, 1, 10, 0, tzinfo=UTC), "198.51.100.7", "import:mailchimp"),
        (
            "confirm",
            datetime(2019, 3, 1, 10, 5, 12, tzinfo=UTC),
            "198.51.100.8",
            "import:mailchimp",
        ),
    ]
    assert [(a, form) for a, _, _, form in ann[2:]] == [
        ("import", "import:subscribed_members_export_4f1e2d.csv")
    ]
    chloe = _events(sessions, "chloe.chen@example.net")
    assert chloe[0][2] == "2001:db8::1"
    dmitri = _events(sessions, "dmitri.d@example.org")
    assert ("unsubscribe", datetime(2023, 9, 14, 16, 20, tzinfo=UTC), "", "import:mailchimp") in (
        dmitri
    )
    with transaction(sessions) as s:
        wordings = set(s.scalars(select(ConsentEvent.wording).where(ConsentEvent.ip != "")))
        assert wordings == {
            "Recorded by Mailchimp before the move; imported by staff from "
            "subscribed_members_export_4f1e2d.csv",
            "Recorded by Mailchimp before the move; imported by staff from "
            "unsubscribed_members_export_4f1e2d.csv",
        }


def test_no_import_makes_an_unsubscribed_or_suppressed_person_active(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(sessions) as s:
        people.unsubscribe(s, people.add(s, "ann.archer@example.org", STAFF), STAFF)
        people.mark(s, people.add(s, "bob.brown@example.com", STAFF), Status.BOUNCED)
        people.erase(s, "chloe.chen@example.net", STAFF)
        people.add(s, "dmitri.d@example.org", STAFF)  # active here, unsubscribed in Mailchimp
    subscribed, unsubscribed, *_ = _mailchimp(tmp_path)
    summary = import_csv(sessions, subscribed)
    assert summary.added == 0
    assert summary.skipped == {"unsubscribed": 1, "bounced": 1, "suppressed": 1}
    lowered = import_csv(sessions, unsubscribed)
    assert (lowered.lowered, lowered.added_as) == ({"unsubscribed": 1}, {"unsubscribed": 1})
    assert _statuses(sessions) == {
        "ann.archer@example.org": Status.UNSUBSCRIBED,
        "bob.brown@example.com": Status.BOUNCED,
        "dmitri.d@example.org": Status.UNSUBSCRIBED,
        "eve.evans@example.com": Status.UNSUBSCRIBED,
    }
    assert _suppressed(sessions, "dmitri.d@example.org") == {
        "dmitri.d@example.org": suppression.UNSUBSCRIBED
    }
    with transaction(sessions) as s:  # erased stays erased: no row, no name
        assert people.find(s, "chloe.chen@example.net") is None


def test_a_listmonk_export_keeps_status_attributes_tags_and_signup_time(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    summary = import_csv(sessions, _file(tmp_path, "subscribers.csv", exports.LISTMONK))
    assert summary.kind == "listmonk export"
    assert summary.added_as == {"active": 1, "unsubscribed": 2}
    assert summary.not_imported == ["attribute 'city'"]
    assert _statuses(sessions) == {
        "hiroshi@example.org": Status.ACTIVE,
        "ines@example.org": Status.UNSUBSCRIBED,
        "jan@example.org": Status.UNSUBSCRIBED,
    }
    assert set(_suppressed(sessions, "ines@example.org", "jan@example.org").values()) == {
        suppression.UNSUBSCRIBED
    }
    assert _events(sessions, "hiroshi@example.org")[0] == (
        "subscribe",
        datetime(2021, 4, 1, 9, 30, 0, 123456, tzinfo=UTC),
        "",
        "import:listmonk",
    )
    assert _events(sessions, "ines@example.org")[0][1] == datetime(
        2020, 10, 10, 8, 10, 10, 500000, tzinfo=UTC
    )
    with transaction(sessions) as s:
        hiroshi = people.lookup(s, "hiroshi@example.org")
        assert tags.of(s, [hiroshi.id]) == {hiroshi.id: ["Donor"]}


@pytest.mark.parametrize("status", [s.value for s in Status])
def test_our_own_export_round_trips_every_status(
    sessions: sessionmaker[Session], tmp_path: Path, status: str
) -> None:
    with transaction(sessions) as s:
        for state in Status:
            person = people.add(
                s,
                f"{state.value}@example.org",
                STAFF,
                topics=["Ukraine"],
                status=Status.PENDING if state == Status.PENDING else Status.ACTIVE,
            )
            tags.add(s, person, ["Board"])
            if state in (Status.UNSUBSCRIBED,):
                people.unsubscribe(s, person, STAFF)
            elif state not in (Status.ACTIVE, Status.PENDING):
                people.mark(s, person, state)
        out = tmp_path / f"{status}.csv"
        assert exporter.export_csv(s, out, status=Status(status)) == 1
    with transaction(sessions) as s:  # as if into a new installation
        for table in (Subscriber, Suppression, ConsentEvent, MailingList, tags.Tag):
            s.execute(delete(table))
    summary = import_csv(sessions, out)
    assert summary.kind == "export of this newsletter" and summary.added_as == {status: 1}
    assert _statuses(sessions) == {f"{status}@example.org": status}
    reason = _suppressed(sessions, f"{status}@example.org")[f"{status}@example.org"]
    if Status(status) in (Status.ACTIVE, Status.PENDING):
        assert reason is None
    else:
        assert reason is not None
    with transaction(sessions) as s:
        person = people.lookup(s, f"{status}@example.org")
        assert tags.of(s, [person.id]) == {person.id: ["Board"]}
        on_lists = [m.name for m in people.subscribed_lists(s, person)]
        assert on_lists == (
            [] if status in ("unsubscribed", "bounced", "complained") else ["Ukraine"]
        )
        confirmed = [e for e in consent.history(s, person.id) if e.action == "confirm"]
        assert [e.form for e in confirmed] == (["import:newsletter"] if status != "pending" else [])


def test_a_file_that_says_nothing_about_status_needs_a_consent_basis(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = _file(tmp_path, "people.csv", "email,name\nann@example.org,Ann\n")
    with pytest.raises(ConsentMissing, match="--consent"):
        import_csv(sessions, source)
    with pytest.raises(ConsentMissing, match="--consent"):
        import_csv(sessions, source, status="subscribed")
    assert _statuses(sessions) == {}
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added_as == {"active": 1}
    with transaction(sessions) as s:
        [event] = consent.history(s, people.lookup(s, "ann@example.org").id)
        assert event.wording == f"Imported by staff from people.csv: {CONSENT}"


def test_status_for_a_silent_file_and_subscribed_rows_without_a_basis(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    left = _file(tmp_path, "left.csv", "email\nann@example.org\n")
    assert import_csv(sessions, left, status="unsubscribed").suppressed == 1
    assert _statuses(sessions) == {"ann@example.org": Status.UNSUBSCRIBED}
    mixed = _file(
        tmp_path, "mixed.csv", "email,status\nbob@example.org,subscribed\ncy@example.org,cleaned\n"
    )
    summary = import_csv(sessions, mixed)
    assert summary.skipped == {NO_BASIS: 1} and summary.added_as == {"bounced": 1}
    with pytest.raises(ConsentMissing, match="leave out --status"):
        import_csv(sessions, mixed, status="unsubscribed")


def test_a_generic_file_with_a_column_map(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    source = _file(tmp_path, "kontakte.csv", exports.GERMAN)
    mapping = parse_map("E-mail=email,Vorname=first_name,Nachname=last_name,Schlagworte=tags")
    summary = import_csv(sessions, source, mapping=mapping, consent=CONSENT)
    assert summary.added_as == {"active": 2} and summary.tags_created == ["Spenderin"]
    assert summary.not_imported == ["column 'Telefon'"]
    with transaction(sessions) as s:
        klara = people.lookup(s, "klara@example.de")
        assert klara.name == "Klara Kurz" and tags.of(s, [klara.id]) == {klara.id: ["Spenderin"]}
    with pytest.raises(FormatError, match="COLUMN=FIELD"):
        parse_map("E-mail=courriel")


def test_listmonk_api_export_uses_each_list_subscription_status(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = _file(tmp_path, "subscribers.json", exports.LISTMONK_API)
    summary = import_csv(sessions, source)
    assert summary.kind == "listmonk API export"
    assert summary.added_as == {"active": 2, "pending": 1, "unsubscribed": 2}
    assert summary.not_imported == [
        "attribute 'city'",
        "attribute 'good'",
        "list 'Events'",
        "list 'Weekly'",
    ]
    assert _statuses(sessions) == {
        "confirmed@example.org": Status.ACTIVE,
        "single@example.org": Status.ACTIVE,
        "waiting@example.org": Status.PENDING,
        "left@example.org": Status.UNSUBSCRIBED,
        "blocked@example.org": Status.UNSUBSCRIBED,
    }
    assert _suppressed(sessions, "left@example.org", "waiting@example.org") == {
        "left@example.org": suppression.UNSUBSCRIBED,
        "waiting@example.org": None,
    }
    assert _events(sessions, "left@example.org")[0][:2] == (
        "subscribe",
        datetime(2020, 2, 10, 22, 7, 16, 199433, tzinfo=UTC),
    )
    with transaction(sessions) as s:
        assert lists.all_lists(s, include_archived=True) == []
