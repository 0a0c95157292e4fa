"""``newsletter subscribers ...`` through Typer's CliRunner, including bad input."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from newsletter.cli import common
from newsletter.cli.app import main
from newsletter.errors import InvalidAddress, NewsletterError, NotFound
from subscribers.csvfile import CsvFileError
from subscribers.errors import Conflict
from tests.subscribers.conftest import CONSENT, SubscribersCli


def test_staff_manage_one_person_from_start_to_erasure(cli: SubscribersCli) -> None:
    added = cli.ok("add", "Ann@Example.org", "--name", "Ann", "-t", "Ukraine", "-t", "Arms control")
    assert (
        "added #1 Ann@example.org (active; lists: All briefings; topics: Arms control, Ukraine)"
        in added
    )
    assert "Ann@example.org" in cli.ok("list", "--topic", "ukraine")
    assert "Ann@example.org" not in cli.ok("list", "--status", "pending")
    shown = cli.ok("show", "ANN@example.org")
    assert "staff-add" in shown and "cli:add" in shown
    assert "unsubscribed" in cli.ok("unsubscribe", "#1")
    assert "already" in cli.ok("unsubscribe", "ann@example.org")
    assert "reactivated" in cli.ok("reactivate", "ann@example.org")
    assert "removed from Ukraine" in cli.ok("remove", "ann@example.org", "--list", "Ukraine")
    record = json.loads(cli.ok("export-person", "ann@example.org"))
    assert record["subscriber"]["name"] == "Ann"
    assert [e["action"] for e in record["consent"]] == [
        "staff-add",
        "unsubscribe",
        "reactivate",
        "preferences",
    ]
    assert "erased" in cli.ok("erase", "ann@example.org", "--yes")
    after = json.loads(cli.ok("export-person", "ann@example.org"))
    assert after["subscriber"] is None and after["suppressed"]["reason"] == "erased"
    refused = cli("add", "ann@example.org")
    assert isinstance(refused.exception, Conflict) and "suppressed" in str(refused.exception)


def test_erase_asks_first(cli: SubscribersCli) -> None:
    cli.ok("add", "keep@example.org")
    assert cli("erase", "keep@example.org", input="n\n").exit_code == 1
    assert "keep@example.org" in cli.ok("list")


def test_remove_deletes_without_suppressing(cli: SubscribersCli) -> None:
    cli.ok("add", "typo@example.org")
    assert "deleted typo@example.org" in cli.ok("remove", "typo@example.org")
    assert "added" in cli.ok("add", "typo@example.org")


def test_lists_create_rename_archive(cli: SubscribersCli) -> None:
    assert "created Nuclear weapons (nuclear-weapons; list)" in cli.ok(
        "lists", "create", "Nuclear weapons"
    )
    duplicate = cli("lists", "create", "nuclear WEAPONS")
    assert isinstance(duplicate.exception, Conflict)
    assert "renamed to Nuclear arms" in cli.ok("lists", "rename", "nuclear-weapons", "Nuclear arms")
    assert "archived" in cli.ok("lists", "archive", "Nuclear arms")
    table = cli.ok("lists")
    assert "Nuclear arms" in table and "archived" in table
    assert "restored" in cli.ok("lists", "archive", "Nuclear arms", "--undo")
    missing = cli("lists", "rename", "nothing", "x")
    assert isinstance(missing.exception, NotFound)


def test_import_dry_run_then_import_then_export(cli: SubscribersCli, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "email;name;topics\na@example.org;A;Ukraine\nB@example.org;B;\n"
        "broken;C;\nA@EXAMPLE.org;;Arms control\n",
        encoding="utf-8",
    )
    dry = cli.ok(
        "import", str(source), "--list", "All briefings", "--dry-run", "--consent", CONSENT
    )
    assert "dry run: nothing was changed" in dry and "rows/s" in dry
    assert "checked" in dry and "saving" not in dry  # the bar ends saying what was done
    assert "0 shown" in cli.ok("list")
    done = cli.ok(
        "import",
        str(source),
        "--list",
        "All briefings",
        "--errors",
        str(tmp_path / "bad.csv"),
        "--consent",
        CONSENT,
    )
    assert "import complete" in done and "semicolon-separated" in done
    assert "imported" in done and "saving" not in done
    assert "skipped: invalid address" in done and str(tmp_path / "bad.csv") in done
    assert "2 shown" in cli.ok("list", "--topic", "All briefings")

    cli.ok("unsubscribe", "b@example.org")
    out = tmp_path / "export.csv"
    assert "wrote 1 people" in cli.ok("export", "-o", str(out))
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["email"], r["topics"]) for r in rows] == [
        ("a@example.org", "All briefings;Arms control;Ukraine")
    ]
    assert "wrote 2 people" in cli.ok(
        "export", "-o", str(out), "--status", "all", "--list", "All briefings"
    )
    assert "wrote 0 people" in cli.ok(
        "export", "-o", str(out), "--list", "Arms control", "--status", "pending"
    )


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (["add", "not an address"], InvalidAddress, "not a valid email address"),
        (["show", "nobody@example.org"], NotFound, "nobody with the address"),
        (["show", "#999"], NotFound, "no longer on the list"),
        (["list", "--status", "sleeping"], NewsletterError, "unknown status"),
        (["list", "--topic", "Nowhere"], NotFound, "no list or topic called"),
        (["import", "missing.csv"], CsvFileError, "no such file"),
        (["export", "-o", "/nonexistent/dir/x.csv"], NewsletterError, "cannot write"),
    ],
)
def test_bad_input_is_one_clear_error(
    cli: SubscribersCli, args: list[str], error: type[Exception], text: str
) -> None:
    result = cli(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, error) and text in str(result.exception)
    assert "rows/s" not in result.output  # no progress bar for work that never started


def test_a_file_without_an_email_column_prints_one_line_and_writes_nothing(
    cli: SubscribersCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "phones.csv").write_text("name,phone\nAnn,123\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["newsletter", "subscribers", "import", "phones.csv"])
    monkeypatch.setattr(common.err_console, "width", 250)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no email column" in err and "Traceback" not in err
    assert "0 shown" in cli.ok("list")
    assert "Nuclear" not in cli.ok("lists")
