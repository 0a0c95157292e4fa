"""HMRC's Gift Aid schedule, worked out from gifts and their declarations. Pure.

The schedule is the table staff attach to a claim in HMRC's Charities Online
service (the "Gift Aid donation schedule spreadsheet"), column for column:
title, first name, last name, house name or number, postcode, aggregated
donations, sponsored event, donation date (DD/MM/YY) and amount (no £ sign, two
decimals). The rules applied, from HMRC's guidance (see ``docs/gift-aid.md``):

- only gifts in pounds with a Gift Aid declaration that names the donor (first
  and last name) and a home address with a UK postcode, or ``X`` for a donor
  who lives abroad; refunded and disputed gifts are left out, a partly refunded
  one counts for what the charity kept;
- gifts of £20 or less may be added together, without the donors' details, on
  lines of at most £1,000, each described in the "aggregated donations" column
  and dated with its latest gift; only gifts of one period are added together
  (a calendar month, April split at the 6th where the tax year starts), so a
  line never straddles an accounting period or a tax year;
- at most 1,000 lines per sheet.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from newsletter.donations.states import GiftStatus

#: The schedule's columns, in HMRC's order and with HMRC's names.
COLUMNS = (
    "Title",
    "First name or initial",
    "Last name",
    "House name or number",
    "Postcode",
    "Aggregated donations",
    "Sponsored event",
    "Donation date",
    "Amount",
)
SMALL_GIFT_MINOR = 2000  # £20: gifts up to this may be aggregated
LINE_MAXIMUM_MINOR = 100_000  # £1,000: the most one aggregated line may hold
ROWS_PER_SHEET = 1000
NAME_MAX = 35
TITLE_MAX = 4
HOUSE_MAX = 40
AGGREGATE_MAX = 35
OVERSEAS = "X"
TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame", "lady", "lord"}
#: The shape of a UK postcode (outward code, then sector digit and unit letters).
UK_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})")
_FORMULA_START = "=+-@\t\r"


@dataclass(frozen=True)
class Candidate:
    """A gift as the claim sees it: its money and its donor's declaration."""

    gift_id: int
    paid_on: date
    amount_minor: int
    refunded_minor: int
    disputed_minor: int
    status: str
    currency: str
    livemode: bool
    declared: bool
    name: str
    address: str
    postcode: str


@dataclass(frozen=True)
class Donor:
    title: str
    first_name: str
    last_name: str
    house: str
    postcode: str


@dataclass(frozen=True)
class Line:
    """One line of the schedule and the gifts it stands for."""

    donor: Donor | None  # None: an aggregated line
    aggregated: str
    donation_date: date
    amount_minor: int
    gifts: tuple[tuple[int, int], ...]  # (gift id, amount claimed on it)

    def cells(self) -> list[str]:
        donor = self.donor or Donor("", "", "", "", "")
        return [
            donor.title,
            donor.first_name,
            donor.last_name,
            donor.house,
            donor.postcode,
            self.aggregated,
            "",  # sponsored event: online gifts never are
            self.donation_date.strftime("%d/%m/%y"),
            f"{Decimal(self.amount_minor).scaleb(-2):.2f}",
        ]


@dataclass(frozen=True)
class Left:
    """A gift not claimed, and why (shown to staff so they can fix the record)."""

    gift_id: int
    reason: str


@dataclass
class Schedule:
    lines: list[Line] = field(default_factory=list)
    left_out: list[Left] = field(default_factory=list)

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def gift_amounts(self) -> dict[int, int]:
        """Each claimed gift and the amount claimed on it."""
        return {gift: amount for line in self.lines for gift, amount in line.gifts}

    def earliest(self) -> date | None:
        return min((line.donation_date for line in self.lines), default=None)

    def sheets(self) -> list[list[Line]]:
        return [
            self.lines[i : i + ROWS_PER_SHEET] for i in range(0, len(self.lines), ROWS_PER_SHEET)
        ]


def claimable_minor(gift: Candidate) -> int:
    """What of a gift may carry Gift Aid now: nothing once refunded in full or while
    disputed, what the charity kept after a partial refund, else the whole gift."""
    if gift.status in (GiftStatus.REFUNDED, GiftStatus.DISPUTED):
        return 0
    return max(0, gift.amount_minor - gift.refunded_minor - gift.disputed_minor)


def postcode(text: str) -> str:
    """A UK postcode in capitals with one space (``ls11aa`` -> ``LS1 1AA``), ``X`` for a
    donor abroad, or "" when it is neither."""
    cleaned = " ".join(text.upper().split())
    if cleaned == OVERSEAS:
        return OVERSEAS
    found = UK_POSTCODE.fullmatch(cleaned.replace(" ", "")) or UK_POSTCODE.fullmatch(cleaned)
    return f"{found.group(1)} {found.group(2)}" if found else ""


def _clean(text: str, limit: int) -> str:
    """One cell of text: single spaces, no leading formula character, within HMRC's limit."""
    return " ".join(text.split()).lstrip(_FORMULA_START).strip()[:limit].strip()


def split_name(name: str) -> tuple[str, str, str]:
    """(title, first name, last name) from the full name given with the declaration;
    a double-barrelled surname takes a space for its hyphen, as HMRC asks."""
    words = name.replace(",", " ").split()
    title = ""
    if len(words) > 1 and words[0].rstrip(".").lower() in TITLES:
        title = words.pop(0).rstrip(".")
    if len(words) < 2:  # "Cher", or "Mr Smith": HMRC needs a first name (or initial) too
        return _clean(title, TITLE_MAX), "", _clean(" ".join(words), NAME_MAX)
    last = words[-1].replace("-", " ")
    return _clean(title, TITLE_MAX), _clean(words[0], NAME_MAX), _clean(last, NAME_MAX)


def house(address: str) -> str:
    """The house name or number: a leading number of the first line (``12`` of
    ``12 High Street``, ``4A`` of ``4A Mill Lane``), else the first line itself."""
    first = re.split(r"[,\n]", address.strip(), maxsplit=1)[0].strip()
    number = re.match(r"(?:flat\s+\S+\s+)?(\d+[A-Za-z]?(?:-\d+)?)\b", first, re.IGNORECASE)
    return _clean(number.group(0) if number else first, HOUSE_MAX)


def donor(gift: Candidate) -> Donor | str:
    """The donor's schedule details, or why the declaration cannot be claimed on."""
    title, first, last = split_name(gift.name)
    if not first or not last:
        return "the declaration has no first and last name"
    code = postcode(gift.postcode)
    if not code:
        return "no UK postcode (X for a donor abroad)"
    place = house(gift.address)
    if not place:
        return "no home address"
    return Donor(title, first, last, place, code)


def _period(day: date) -> tuple[int, int, bool]:
    """The period small gifts may be added up in: a month, April cut at the 6th."""
    return day.year, day.month, day.month == 4 and day.day >= 6


def build(gifts: Iterable[Candidate]) -> Schedule:
    """The schedule for ``gifts`` (those not claimed before), and the gifts left out."""
    schedule = Schedule()
    small: list[tuple[Candidate, int]] = []
    for gift in sorted(gifts, key=lambda g: (g.paid_on, g.gift_id)):
        amount = claimable_minor(gift)
        reason = ""
        if not gift.livemode:
            reason = "a test-mode gift"
        elif not gift.declared:
            continue  # no Gift Aid asked for: nothing to say
        elif gift.currency.lower() != "gbp":
            reason = f"paid in {gift.currency.upper()}, not pounds"
        elif amount <= 0:
            reason = "refunded" if gift.status == GiftStatus.REFUNDED else "disputed"
        if reason:
            schedule.left_out.append(Left(gift.gift_id, reason))
            continue
        details = donor(gift)
        if isinstance(details, str):
            schedule.left_out.append(Left(gift.gift_id, details))
            continue
        if amount <= SMALL_GIFT_MINOR:
            small.append((gift, amount))
            continue
        schedule.lines.append(Line(details, "", gift.paid_on, amount, ((gift.gift_id, amount),)))
    schedule.lines.extend(_aggregate(small))
    schedule.lines.sort(key=lambda line: (line.donation_date, line.gifts))
    return schedule


def _aggregate(small: list[tuple[Candidate, int]]) -> Iterator[Line]:
    """Small gifts added up, period by period, in lines of at most £1,000."""
    by_period: dict[tuple[int, int, bool], list[tuple[Candidate, int]]] = {}
    for gift, amount in small:
        by_period.setdefault(_period(gift.paid_on), []).append((gift, amount))
    for group in by_period.values():
        batch: list[tuple[Candidate, int]] = []
        for item in group:
            if sum(a for _, a in batch) + item[1] > LINE_MAXIMUM_MINOR:
                yield _aggregated_line(batch)
                batch = []
            batch.append(item)
        if batch:
            yield _aggregated_line(batch)


def _aggregated_line(batch: list[tuple[Candidate, int]]) -> Line:
    first, last = batch[0][0].paid_on, batch[-1][0].paid_on
    label = f"Online gifts {first:%d/%m/%y} to {last:%d/%m/%y}"
    return Line(
        None,
        label[:AGGREGATE_MAX],
        last,
        sum(a for _, a in batch),
        tuple((g.gift_id, a) for g, a in batch),
    )


def write(schedule: Schedule, output: Path) -> list[Path]:
    """The schedule as CSV, HMRC's columns and a header row, 1,000 lines a file:
    ``claim.csv``, then ``claim-2.csv``... Returns the files written."""
    written: list[Path] = []
    for number, sheet in enumerate(schedule.sheets() or [[]], start=1):
        path = output if number == 1 else output.with_name(f"{output.stem}-{number}{output.suffix}")
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(COLUMNS)
            out.writerows(line.cells() for line in sheet)
        written.append(path)
    return written
