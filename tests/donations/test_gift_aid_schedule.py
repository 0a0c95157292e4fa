"""HMRC's Gift Aid schedule from gifts, against cases worked out by hand from HMRC's rules
(docs/gift-aid.md cites them)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from newsletter.donations.gift_aid.schedule import (
    COLUMNS,
    ROWS_PER_SHEET,
    Candidate,
    build,
    postcode,
    split_name,
    write,
)
from newsletter.donations.states import GiftStatus

_ids = iter(range(1, 1_000_000))


def gift(
    amount: int,
    *,
    paid_on: date = date(2026, 11, 10),
    name: str = "Ann Smith",
    address: str = "12 High Street\nLeeds",
    code: str = "LS1 1AA",
    refunded: int = 0,
    disputed: int = 0,
    status: str = GiftStatus.PAID,
    currency: str = "gbp",
    livemode: bool = True,
    declared: bool = True,
) -> Candidate:
    return Candidate(
        gift_id=next(_ids),
        paid_on=paid_on,
        amount_minor=amount,
        refunded_minor=refunded,
        disputed_minor=disputed,
        status=status,
        currency=currency,
        livemode=livemode,
        declared=declared,
        name=name,
        address=address,
        postcode=code,
    )


# Each case: a gift, then the schedule line HMRC expects for it (None: left out, and why).
CASES: list[tuple[str, Candidate, list[str] | str]] = [
    (
        "a plain gift",
        gift(2500),
        ["", "Ann", "Smith", "12", "LS1 1AA", "", "", "10/11/26", "25.00"],
    ),
    (
        "title kept (4 letters at most), double-barrelled surname with a space",
        gift(5000, name="Mrs Jane Smith-Jones", code="sw1a2aa"),
        ["Mrs", "Jane", "Smith Jones", "12", "SW1A 2AA", "", "", "10/11/26", "50.00"],
    ),
    (
        "a house name, a donor abroad: X for the postcode",
        gift(10000, name="Pierre Dupont", address="Rose Cottage, 3 rue Haute", code=" x "),
        ["", "Pierre", "Dupont", "Rose Cottage", "X", "", "", "10/11/26", "100.00"],
    ),
    (
        "a flat and its number",
        gift(3000, address="4A Mill Lane, York", code="YO1 7HH"),
        ["", "Ann", "Smith", "4A", "YO1 7HH", "", "", "10/11/26", "30.00"],
    ),
    (
        "partly refunded: what the charity kept",
        gift(5000, refunded=1000, status=GiftStatus.PARTIALLY_REFUNDED),
        ["", "Ann", "Smith", "12", "LS1 1AA", "", "", "10/11/26", "40.00"],
    ),
    ("refunded in full", gift(5000, refunded=5000, status=GiftStatus.REFUNDED), "refunded"),
    ("disputed", gift(5000, disputed=5000, status=GiftStatus.DISPUTED), "disputed"),
    ("no postcode", gift(5000, code=""), "no UK postcode (X for a donor abroad)"),
    ("not a UK postcode", gift(5000, code="75001"), "no UK postcode (X for a donor abroad)"),
    ("one name only", gift(5000, name="Cher"), "the declaration has no first and last name"),
    (
        "a title, no first name",
        gift(5000, name="Mr Smith"),
        "the declaration has no first and last name",
    ),
    ("no address", gift(5000, address="  "), "no home address"),
    ("paid in dollars", gift(5000, currency="usd"), "paid in USD, not pounds"),
    ("a test-mode gift", gift(5000, livemode=False), "a test-mode gift"),
]


@pytest.mark.parametrize(("case", "candidate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_case_as_worked_out_by_hand(
    case: str, candidate: Candidate, expected: list[str] | str
) -> None:
    schedule = build([candidate])
    if isinstance(expected, str):
        assert schedule.lines == []
        assert [(x.gift_id, x.reason) for x in schedule.left_out] == [(candidate.gift_id, expected)]
    else:
        assert [line.cells() for line in schedule.lines] == [expected]
        assert schedule.left_out == []
        assert schedule.gift_amounts == {candidate.gift_id: int(expected[-1].replace(".", ""))}


def test_a_gift_without_a_declaration_is_not_mentioned() -> None:
    schedule = build([gift(5000, declared=False)])
    assert schedule.lines == [] and schedule.left_out == []


def test_small_gifts_are_added_up_without_donor_details() -> None:
    """£20 or less: added together; £20.01: its own line with the donor's details."""
    small = [
        gift(500, paid_on=date(2026, 11, 2)),
        gift(500, paid_on=date(2026, 11, 9), name="Bo Li"),
        gift(2000, paid_on=date(2026, 11, 20)),
    ]
    over = gift(2001, paid_on=date(2026, 11, 21))
    schedule = build([*small, over])
    assert [line.cells() for line in schedule.lines] == [
        ["", "", "", "", "", "Online gifts 02/11/26 to 20/11/26", "", "20/11/26", "30.00"],
        ["", "Ann", "Smith", "12", "LS1 1AA", "", "", "21/11/26", "20.01"],
    ]
    assert len(schedule.lines[0].cells()[5]) <= 35
    assert schedule.total_minor == 5001


def test_an_aggregated_line_holds_at_most_a_thousand_pounds() -> None:
    sixty = [gift(2000, paid_on=date(2026, 11, 1 + n % 28)) for n in range(60)]
    schedule = build(sixty)
    assert [line.cells()[-1] for line in schedule.lines] == ["1000.00", "200.00"]
    assert sum(len(line.gifts) for line in schedule.lines) == 60


def test_small_gifts_are_not_added_across_a_tax_year_or_a_month() -> None:
    days = [date(2027, 3, 31), date(2027, 4, 5), date(2027, 4, 6), date(2027, 4, 30)]
    schedule = build([gift(1000, paid_on=d) for d in days])
    assert [(line.cells()[5], line.cells()[-1]) for line in schedule.lines] == [
        ("Online gifts 31/03/27 to 31/03/27", "10.00"),
        ("Online gifts 05/04/27 to 05/04/27", "10.00"),
        ("Online gifts 06/04/27 to 30/04/27", "20.00"),
    ]


def test_names_and_postcodes_as_hmrc_wants_them() -> None:
    assert split_name("Prof. Ada  Lovelace") == ("Prof", "Ada", "Lovelace")
    assert split_name("Mr Smith") == ("Mr", "", "Smith")  # no first name: not claimable
    assert split_name("=HYPERLINK Ann Smith")[1] == "HYPERLINK"  # no formula in a cell
    assert split_name("A " + "B" * 50)[2] == "B" * 35
    assert postcode("ec1a1bb") == "EC1A 1BB" and postcode("M1 1AE") == "M1 1AE"
    assert postcode("12345") == "" and postcode("X") == "X"


def test_the_file_reads_back_column_by_column(tmp_path: Path) -> None:
    gifts = [gift(2500 + n, paid_on=date(2026, 10, 1)) for n in range(ROWS_PER_SHEET + 1)]
    gifts.append(gift(700, name="Bo Li", paid_on=date(2026, 10, 2)))
    schedule = build(gifts)
    files = write(schedule, tmp_path / "claim.csv")
    assert [f.name for f in files] == ["claim.csv", "claim-2.csv"]
    lines = schedule.lines
    read: list[list[str]] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == COLUMNS
        assert len(rows) - 1 <= ROWS_PER_SHEET
        read += rows[1:]
    assert len(read) == len(lines) == ROWS_PER_SHEET + 2
    for row, line in zip(read, lines, strict=True):
        cells = dict(zip(COLUMNS, row, strict=True))
        donor = line.donor
        assert cells["Title"] == (donor.title if donor else "")
        assert cells["First name or initial"] == (donor.first_name if donor else "")
        assert cells["Last name"] == (donor.last_name if donor else "")
        assert cells["House name or number"] == (donor.house if donor else "")
        assert cells["Postcode"] == (donor.postcode if donor else "")
        assert cells["Aggregated donations"] == line.aggregated
        assert cells["Sponsored event"] == ""
        assert cells["Donation date"] == line.donation_date.strftime("%d/%m/%y")
        assert cells["Amount"] == f"{line.amount_minor // 100}.{line.amount_minor % 100:02d}"
    assert read[-1][5] == "Online gifts 02/10/26 to 02/10/26"
