"""A briefing paper's masthead: its number, date and contact lines.

Papers print these in many ways ("Briefing Paper No.112", "BRIEFING PAPER #7";
"3 December 2023", "December 3, 2023"; "Contact:" with the name on the same or the
next line), so each field is recognised by its own small pattern, in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Masthead", "number_line", "parse_date"]

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
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|mon|tue|wed|thu|fri|sat|sun)\.?,?\s+"
_DATE_FORMS = (
    re.compile(rf"^(?i:{_WEEKDAY})?{_DAY}\s+{_MONTH},?\s+{_YEAR}$"),  # 3 December 2023
    re.compile(rf"^(?i:{_WEEKDAY})?{_MONTH}\s+{_DAY},?\s+{_YEAR}$"),  # December 3, 2023
    re.compile(rf"^{_DAY}[-\s]{_MONTH}[-\s]{_YEAR}$"),  # 3-Dec-2023
    re.compile(r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$"),  # 2023-12-03
    re.compile(r"^(?P<day>\d{1,2})[./-](?P<month>\d{1,2})[./-](?P<year>\d{4})$"),  # 03/12/2023
)
# A series name is one to six words, each capitalised (small joining words allowed):
# "Briefing Paper", "Policy Brief", "Research Note", "BRIEFING PAPER".
_SERIES = (
    r"(?P<series>[A-ZÀ-Þ][\w’'&.-]*(?:\s+(?:[A-ZÀ-Þ][\w’'&.-]*|of|on|and|for|the|in|&)){0,5}?)"
)
_MARK = r"(?i:no\.?|nr\.?|number|n°|n\.|#)"
# "<Series> No. N", "<Series> #N", "#N", "No. 12" (up to five digits), or "<Series> N"
# without a mark (up to three digits, so "Report 2024" or "Agenda 2030" stay titles);
# what follows may be a date or a short label, never a sentence.
_NUMBER_LINE = re.compile(
    rf"^(?:{_SERIES}\s*)?(?:{_MARK}\s*(?P<marked>\d{{1,5}})|(?<=\S)\s(?P<bare>\d{{1,3}}))(?!\d)"
    r"(?:[\s,:;–—|·-]+(?P<rest>.*))?$"
)
_MONTH_YEAR = re.compile(r"^[A-Za-z]{3,9}\.?,?\s+\d{4}$")
_DATE_LABEL = re.compile(r"(?i)^(?:date|dated|published)\s*:?\s*")
_CONTACT = re.compile(r"(?i)^contact(?:\s+(?:us|details|person))?\s*:\s*(?P<rest>.*)$")
_EMAIL = re.compile(r"(?i)^(?:e-?mail\s*:?\s*)?(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)$")
_WEBSITE = re.compile(r"(?i)^(?:web(?:site)?\s*:?\s*)?(?P<url>(?:https?://|www\.)\S+?)/?$")
_PHONE = re.compile(r"(?i)^(?:tel|phone|telephone|mobile)\b")
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_SEPARATOR = re.compile(r"\s*(?:[,;|·•]|\s[–—-]\s)\s*")


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


def number_line(line: str) -> tuple[str, int, str] | None:
    """(series name, number, rest) when the line is a masthead number line, else None.

    The series name is kept as the paper prints it, except that capitals are eased
    ("BRIEFING PAPER" -> "Briefing Paper"); a bare "#7" has no series name.
    """
    match = _NUMBER_LINE.match(line.strip())
    if not match:
        return None
    rest = (match["rest"] or "").strip()
    if match["bare"] is not None:
        # "Research Note 5": only a date may follow, or it is a title ("Top 10 reasons")
        if rest and parse_date(rest) is None and not _MONTH_YEAR.match(rest):
            return None
    elif rest and parse_date(rest) is None and (len(rest) > 40 or rest.endswith(".")):
        return None
    series = " ".join((match["series"] or "").split())
    if series.isupper():
        series = " ".join(word.capitalize() for word in series.split())
    return series, int(match["marked"] or match["bare"]), rest


@dataclass
class Masthead:
    """The paper's masthead: series and number, date and contact lines, in any order."""

    number: int | None = None
    series: str = ""
    date: date | None = None
    name: str = ""
    email: str = ""
    website: str = ""
    expecting_name: bool = False

    def take(self, lines: list[str]) -> bool:
        """Absorb a block made of masthead lines; False if the block is something else."""
        lines = [plain_line(line) for line in lines]
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
        number = number_line(line) if self.number is None else None
        when = parse_date(line)
        contact = _CONTACT.match(line)
        email = _EMAIL.match(line)
        website = _WEBSITE.match(line)
        if probe:
            return bool(number or when or contact or email or website or _PHONE.match(line))
        if number:
            self.series, self.number, rest = number
            when = when or parse_date(rest)
        if when and self.date is None:
            self.date = when
        if contact:
            self.expecting_name = True
            rest = contact["rest"]
            for piece in _pieces(rest):
                self.field(piece, probe=False)
            return True
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


def plain_line(line: str) -> str:
    """A masthead line without the Markdown a Word or PDF import gives it: bold markers,
    escapes, and links reduced to their words (a ``mailto:`` link to its address)."""
    line = _MD_LINK.sub(lambda m: m[2][7:] if m[2].lower().startswith("mailto:") else m[1], line)
    line = line.replace("**", "").replace("\\", "")
    return line.strip("*_ ").strip()


def _pieces(text: str) -> list[str]:
    """A contact written on one line ("Jane Smith, jane@x.org, www.x.org"), as its fields.

    An address in brackets ("Jane Smith <jane@x.org>") is a field of its own too.
    """
    text = re.sub(r"[<>()\[\]]", " , ", text)
    return [p for p in (" ".join(part.split()) for part in _SEPARATOR.split(text)) if p]
