"""``newsletter subscribers ...``: what staff see for unusual files, archived lists and
requests about personal data."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from newsletter import database
from newsletter.campaigns.models import BounceEvent
from newsletter.database import transaction
from newsletter.donations.models import Gift
from newsletter.errors import NewsletterError
from subscribers.csvfile import CsvFileError
from tests.subscribers.conftest import CONSENT, SubscribersCli


def test_the_import_summary_names_windows_1252(cli: SubscribersCli, tmp_path: Path) -> None:
    source = tmp_path / "excel.csv"
    source.write_bytes("email,name\nob@example.org,O\u2019Brien\n".encode("cp1252"))
    assert "read as Windows-1252, comma-separated" in cli.ok(
        "import", str(source), "--consent", CONSENT
    )


def test_export_help_says_formulas_are_quoted(cli: SubscribersCli) -> None:
    assert "running it as a formula" in " ".join(cli.ok("export", "--help").split())


def test_export_person_to_a_missing_folder_is_one_clear_error(cli: SubscribersCli) -> None:
    cli.ok("add", "ann@example.org")
    result = cli("export-person", "ann@example.org", "-o", "/nonexistent/dir/x.json")
    assert result.exit_code != 0
    assert isinstance(result.exception, NewsletterError)
    assert "cannot write /nonexistent/dir/x.json" in str(result.exception)


def test_remove_from_an_archived_list_takes_the_person_off_it(cli: SubscribersCli) -> None:
    cli.ok("add", "ann@example.org", "-t", "Old campaign", "-t", "Ukraine")
    cli.ok("lists", "archive", "Old campaign")
    said = cli.ok("remove", "ann@example.org", "--list", "Old campaign")
    assert "ann@example.org removed from Old campaign (an archived list)" in said
    shown = " ".join(cli.ok("show", "ann@example.org").split())
    assert "topics Ukraine" in shown and "Old campaign" not in shown.split("consent log")[0]
    assert "was not on Old campaign" in cli.ok(
        "remove", "ann@example.org", "--list", "Old campaign"
    )
    assert "removed from Ukraine" in cli.ok("remove", "ann@example.org", "--list", "Ukraine")


def test_erase_empties_bounce_reports_and_says_donations_are_kept(
    cli: SubscribersCli, db_url: str
) -> None:
    cli.ok("add", "dana@example.org")
    engine = database.make_engine(db_url)
    with transaction(database.session_factory(engine)) as s:
        s.add(BounceEvent(fingerprint="f1", email="dana@example.org", kind="soft"))
        s.add(
            Gift(
                source_id="cs_1",
                frequency="once",
                amount_minor=1,
                currency="gbp",
                donor_email="dana@example.org",
            )
        )
    held = json.loads(cli.ok("export-person", "dana@example.org"))
    assert [b["kind"] for b in held["bounces"]] == ["soft"]
    assert len(held["donations"]["gifts"]) == 1 and held["campaigns"] == []
    said = " ".join(cli.ok("erase", "dana@example.org", "--yes").split())
    assert "dana@example.org erased" in said and "1 bounce reports emptied" in said
    assert "kept 1 gifts and 0 Gift Aid declarations" in said and "HMRC" in said
    assert "HMRC" in " ".join(cli.ok("erase", "--help").split())
    with transaction(database.session_factory(engine)) as s:
        assert s.scalars(select(BounceEvent.email)).all() == [""]
        assert s.scalar(select(Gift.donor_email)) == "dana@example.org"
    engine.dispose()
    after = json.loads(cli.ok("export-person", "dana@example.org"))
    assert after["bounces"] == [] and len(after["donations"]["gifts"]) == 1


def test_a_stray_quote_before_a_large_rest_is_one_error_naming_its_line(
    cli: SubscribersCli, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(20_000))
    source.write_text(f'email,name\na@example.org,"The Boss\n{rows}')
    result = cli("import", str(source), "--consent", CONSENT)
    assert result.exit_code != 0 and isinstance(result.exception, CsvFileError)
    assert "line 2: a cell longer than" in str(result.exception)
    assert "0 shown" in cli.ok("list")
