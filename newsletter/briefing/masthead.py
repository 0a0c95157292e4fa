"""A briefing paper's masthead: its number, date and contact lines.

Papers print these in many ways ("Briefing Paper No.112", "BRIEFING PAPER #7";
"3 December 2023", "December 3, 2023"; "Contact:" with the name on the same or the
next line), so each field is recognised by its own small pattern, in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Masthead", "parse_date"]

_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_FORMS = (
    re.compile(rf"^{_DAY}\s+{_MONTH},?\s+{_YEAR}$"),  # 3 December 2023
    re.compile(rf"^{_MONTH}\s+{_DAY},?\s+{_YEAR}$"),  # December 3, 2023
    re.compile(r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$"),  # 2023-12-03
    re.compile(r"^(?P<day>\d{1,2})[./](?P<month>\d{1,2})[./](?P<year>\d{4})$"),  # 03/12/2023
)
# "Briefing Paper No.112", "Briefing 7"; "Report No. 3" (a bare "Report 2024" is a title).
_NUMBER_LINE = re.compile(
    r"(?i)^(?:(?:briefing\s+paper|policy\s+briefing|briefing)\s*(?:no\.?|nr\.?|number|n°|#)?"
    r"|(?:paper|report|issue)\s*(?:no\.?|nr\.?|number|n°|#))"
    r"\s*(?P<number>\d{1,5})\b[\s,:;–—-]*(?P<rest>.*)$"
)
_DATE_LABEL = re.compile(r"(?i)^(?:date|dated|published)\s*:?\s*")
_CONTACT = re.compile(r"(?i)^contact(?:\s+(?:us|details|person))?\s*:\s*(?P<rest>.*)$")
_EMAIL = re.compile(r"(?i)^(?:e-?mail\s*:?\s*)?(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)$")
_WEBSITE = re.compile(r"(?i)^(?:web(?:site)?\s*:?\s*)?(?P<url>(?:https?://|www\.)\S+?)/?$")
_PHONE = re.compile(r"(?i)^(?:tel|phone|telephone|mobile)\b")


def parse_date(text: str) -> date | None:
    """A whole line read as a day ("3 December 2023", "Date: 2023-12-03"), else None.

    Numeric dates are read day first (03/12/2023 is 3 December), as in European papers.
    """
    text = _DATE_LABEL.sub("", text.strip()).strip()
    for form in _DATE_FORMS:
        match = form.match(text)
        if not match:
            continue
        month_text = match["month"]
        month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
        if month is None:
            return None
        try:
            return date(int(match["year"]), month, int(match["day"]))
        except ValueError:
            return None
    return None


@dataclass
class Masthead:
    """The paper's masthead: number, date and contact lines, in any order."""

    number: int | None = None
    date: date | None = None
    name: str = ""
    email: str = ""
    website: str = ""
    expecting_name: bool = False

    def take(self, lines: list[str]) -> bool:
        """Absorb a block made of masthead lines; False if the block is something else."""
        known = [self.field(line, probe=True) for line in lines]
        if not any(known) and not (self.expecting_name and len(lines) <= 4):
            return False
        for line in lines:
            self.field(line, probe=False)
        # a bare "Contact:" ending its block puts the name in the next block
        last = _CONTACT.match(lines[-1])
        self.expecting_name = bool(last and not last["rest"] and not self.name)
        return True

    def field(self, line: str, *, probe: bool) -> bool:
        number = _NUMBER_LINE.match(line)
        when = parse_date(line)
        contact = _CONTACT.match(line)
        email = _EMAIL.match(line)
        website = _WEBSITE.match(line)
        if probe:
            return bool(number or when or contact or email or website or _PHONE.match(line))
        if number and self.number is None:
            self.number = int(number["number"])
            when = when or parse_date(number["rest"])
        if when and self.date is None:
            self.date = when
        if contact:
            self.expecting_name = True
            return self.field(contact["rest"], probe=False) if contact["rest"] else True
        if email:
            self.email = self.email or email["email"]
        elif website:
            url = website["url"]
            self.website = self.website or (url if "://" in url else f"https://{url}")
        elif self.expecting_name and not self.name and not (number or when or _PHONE.match(line)):
            self.name = line
        if self.name:
            self.expecting_name = False
        return True
