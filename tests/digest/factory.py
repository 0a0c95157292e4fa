"""Briefings built in code, shaped like the real example (and a hostile one)."""

from __future__ import annotations

from datetime import date

from newsletter.briefing.model import (
    Appeal,
    Briefing,
    Contact,
    Paragraph,
    Section,
    Subsection,
)

LONG = (
    "Speaking ahead of the meeting, the Secretary General [welcomed](https://www.nato.int/a) "
    "the extension of the pause in the hostilities and said that this has allowed for much "
    "needed relief for the people in Gaza, the release of more hostages, and the delivery of "
    "more humanitarian aid. He also hoped that it would be possible to further extend the "
    "pause, but made no mention of a permanent ceasefire. In his remarks a day earlier, he "
    "[called](#) on Iran to “rein in its proxies” after a series of strikes."
)


def p(text: str, *, bullet: bool = False) -> Paragraph:
    return Paragraph(text, line=1, bullet=bullet)


def briefing(**overrides: object) -> Briefing:
    sections = tuple(
        Section(
            number=n,
            title=title,
            paragraphs=(p(LONG), p(f"Second paragraph of section {n} with a [source](#).")),
            subsections=(
                Subsection(
                    "More pledges of support",
                    (p(f"Sub-paragraph {n} citing [a report](https://example.com/r{n})."),),
                ),
            )
            if n == 2
            else (),
        )
        for n, title in enumerate(
            [
                "The Israel-Hamas war",
                "Support for Ukraine",
                "Strategic competition with China",
                "Tensions in the western Balkans: Kosovo and Priština",
                "Sweden’s stalled membership and Türkiye",
                "Technological innovation",
            ],
            start=1,
        )
    )
    fields: dict[str, object] = {
        "number": 112,
        "date": date(2023, 12, 3),
        "title": "Foreign Ministers renew pledges to Ukraine and look towards Washington",
        "subtitle": "A review of the meeting of NATO Ministers of Foreign Affairs",
        "contact": Contact("Dr. Ian Davis", "idavis@example.org", "www.example.org"),
        "key_decisions": (
            p("The Secretary General welcomed the extension of the pause.", bullet=True),
            p("Ministers reiterated support for **Ukraine's path** to membership.", bullet=True),
            p("The Council issued a short [statement](#) on commitments.", bullet=True),
            p("On China: *“not our adversary”* but be clear-eyed.", bullet=True),
            p(
                "Ministers approved the first [quantum strategy](https://www.nato.int/q).",
                bullet=True,
            ),
        ),
        "summary": (p("This meeting discussed six main issues."),),
        "sections": sections,
        "appeal": Appeal(
            "DONATE NOW PLEASE",
            (
                p(
                    "We are a small non-profit that provides **independent oversight and "
                    "analysis**. **If you share our vision** please donate whatever you can."
                ),
            ),
        ),
    }
    fields.update(overrides)
    return Briefing(**fields)  # type: ignore[arg-type]


HOSTILE = (
    "<script>alert('x')</script> <style>body{display:none}</style> "
    '<img src=x onerror="alert(1)"> <!-- secret comment --> '
    '<a href="javascript:alert(2)" style="color:red">evil</a> '
    "[click](javascript:alert(3)) [data](data:text/html;base64,PHNjcmlwdD4=) "
    '<p style="position:fixed">fixed</p> &lt;b&gt;entity&lt;/b&gt;'
)


def hostile_briefing() -> Briefing:
    """Every text field a briefing author controls, carrying markup that must stay inert."""
    base = briefing()
    return briefing(
        title=f"Title {HOSTILE}",
        subtitle=f"Subtitle {HOSTILE}",
        key_decisions=(p(f"Decision {HOSTILE}", bullet=True),),
        summary=(p(f"Summary {HOSTILE}"),),
        sections=(
            Section(
                1,
                f"Heading {HOSTILE}",
                (p(f"Lead {HOSTILE}"),),
                (Subsection(f"Sub {HOSTILE}", (p(f"Body {HOSTILE}"),)),),
            ),
            *base.sections[1:],
        ),
        appeal=Appeal(f"Appeal {HOSTILE}", (p(f"Give {HOSTILE}"),)),
    )
