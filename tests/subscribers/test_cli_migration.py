"""``newsletter subscribers import`` of other tools' exports, and ``subscribers tag``, as
staff run them; tags never reach the public subscribe page."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.cli import common
from newsletter.cli.app import main
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.web.app import create_app
from subscribers import lists
from subscribers.importer import ConsentMissing
from tests.subscribers import exports
from tests.subscribers.conftest import CONSENT, SubscribersCli


def _flat(text: str) -> str:
    """Command output with runs of spaces as one: table cells are padded."""
    return " ".join(text.split())


def _write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return str(tmp_path / name)


def test_a_dry_run_says_what_would_happen_and_changes_nothing(
    cli: SubscribersCli, tmp_path: Path
) -> None:
    unsubscribed = _write(
        tmp_path, "unsubscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_UNSUBSCRIBED
    )
    dry = _flat(cli.ok("import", unsubscribed, "--dry-run"))
    assert "dry run: nothing was changed" in dry
    assert "would be added as unsubscribed │ 2" in dry
    assert "would be added to the suppression list: 2" in dry
    assert "new tags (private): Donor" in dry
    assert "recognised as: Mailchimp export of unsubscribed contacts" in dry
    assert "not imported: column 'Topics of interest'" in dry
    assert "0 shown" in cli.ok("list", "--status", "unsubscribed")
    assert "Donor" not in cli.ok("tag", "list")

    done = _flat(cli.ok("import", unsubscribed))
    assert "import complete" in done and "added to the suppression list: 2" in done
    assert "2 shown" in cli.ok("list", "--status", "unsubscribed")


def test_a_file_without_a_consent_basis_is_refused_in_one_line(
    cli: SubscribersCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _write(tmp_path, "people.csv", "email,name\nann@example.org,Ann\n")
    monkeypatch.setattr(sys, "argv", ["newsletter", "subscribers", "import", "people.csv"])
    monkeypatch.setattr(common.err_console, "width", 400)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("error: people.csv does not say whether")
    assert '--consent "..."' in err and "--status unsubscribed" in err
    assert "rows/s" not in captured.out  # refused before any progress bar started
    result = cli("import", "people.csv", "--format", "mailchimpp")
    assert result.exit_code != 0 and "unknown --format 'mailchimpp'" in str(result.exception)
    result = cli("import", "people.csv", "--status", "subscribed")
    assert isinstance(result.exception, ConsentMissing)
    assert "0 shown" in cli.ok("list")
    assert "added as active │ 1" in _flat(cli.ok("import", "people.csv", "--consent", CONSENT))


def test_generic_files_with_a_map_and_a_forced_format(cli: SubscribersCli, tmp_path: Path) -> None:
    path = _write(tmp_path, "contacts.csv", "Courriel,Prénom\nzoe@example.fr,Zoé\n")
    result = cli("import", path, "--consent", CONSENT)
    assert result.exit_code != 0 and 'say which with --map "COLUMN=email"' in str(result.exception)
    cli.ok("import", path, "--map", "Courriel=email,Prénom=first_name", "--consent", CONSENT)
    # Forced to listmonk's format, a file without its columns is refused, not a crash.
    forced = cli("import", path, "--map", "Courriel=email", "--format", "listmonk")
    assert isinstance(forced.exception, ConsentMissing)
    assert "Zoé" in cli.ok("show", "zoe@example.fr")
    # A subscribed-shaped Mailchimp file renamed by hand says nothing about status.
    renamed = _write(tmp_path, "audience.csv", exports.MAILCHIMP_SUBSCRIBED)
    assert isinstance(cli("import", renamed).exception, ConsentMissing)
    out = _flat(cli.ok("import", renamed, "--format", "mailchimp", "--status", "unsubscribed"))
    assert "added as unsubscribed │ 3" in out


def test_tags_are_added_removed_listed_and_exported_by_staff(
    cli: SubscribersCli, tmp_path: Path
) -> None:
    cli.ok("add", "ann@example.org")
    cli.ok("add", "bob@example.org")
    assert "tagged Donor, Board" in cli.ok("tag", "add", "ann@example.org", "Donor", "Board")
    assert "already had these tags" in cli.ok("tag", "add", "ANN@example.org", "donor")
    cli.ok("tag", "add", "bob@example.org", "Press")
    listed = cli.ok("tag", "list")
    assert "Board" in listed and "Donor" in listed and "Press" in listed
    assert "ann@example.org: Board, Donor" in cli.ok("tag", "list", "ann@example.org")
    assert "removed Board" in cli.ok("tag", "remove", "ann@example.org", "Board")
    out = tmp_path / "donors.csv"
    assert "wrote 1 people" in cli.ok("export", "-o", str(out), "--tag", "Donor")
    with out.open(encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["email"], row["tags"]) == ("ann@example.org", "Donor")
    result = cli("export", "-o", str(out), "--tag", "Nobody")
    assert result.exit_code != 0 and "no tag called 'Nobody'" in str(result.exception)
    assert "Donor" not in cli.ok("lists")  # a tag is not a list


def test_imported_tags_never_reach_the_subscribe_page(
    cli: SubscribersCli, tmp_path: Path, settings: Settings, db_url: str
) -> None:
    subscribed = _write(
        tmp_path, "subscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_SUBSCRIBED
    )
    cli.ok("import", subscribed, "--list", "All briefings")
    app = create_app(settings.model_copy(update={"database_url": db_url}))
    try:
        with transaction(app.state.sessions) as s:
            assert [m.name for m in lists.all_lists(s)] == ["All briefings"]
        with TestClient(app, base_url="http://testserver") as client:
            page = client.get("/subscribe")
        assert page.status_code == 200 and "Subscribe" in page.text
        for private in ("Donor", "Board", "Press", "Topics of interest", "Ukraine"):
            assert private not in page.text
    finally:
        app.state.engine.dispose()


def test_a_persons_tags_are_in_their_access_record_and_go_with_erasure(
    cli: SubscribersCli,
) -> None:
    cli.ok("add", "ann@example.org")
    cli.ok("tag", "add", "ann@example.org", "Major donor")
    assert json.loads(cli.ok("export-person", "ann@example.org"))["tags"] == ["Major donor"]
    cli.ok("erase", "ann@example.org", "--yes")
    assert "│ Major donor │ 0" in _flat(cli.ok("tag", "list"))  # the tag stays, nobody has it


def test_topics_from_a_group_column_arrive_hidden_until_published(
    cli: SubscribersCli, tmp_path: Path, settings: Settings, db_url: str
) -> None:
    """Mailchimp's group cell "Ukraine, Arms control" becomes two topics, kept off the public
    form until staff publish them (a file's interest labels may be private)."""
    subscribed = _write(
        tmp_path, "subscribed_members_export_4f1e2d.csv", exports.MAILCHIMP_SUBSCRIBED
    )
    done = cli.ok(
        "import", subscribed, "--list", "All briefings", "--topics-from", "Topics of interest"
    )
    assert "not imported: column 'Topics of interest'" not in done
    shown = cli.ok("show", "ann.archer@example.org")
    assert "Ukraine" in shown and "Arms control" in shown
    app = create_app(settings.model_copy(update={"database_url": db_url}))
    try:
        with TestClient(app, base_url="http://testserver") as client:
            assert "Ukraine" not in client.get("/subscribe").text
            cli.ok("lists", "publish", "Ukraine")
            assert "Ukraine" in client.get("/subscribe").text
    finally:
        app.state.engine.dispose()
