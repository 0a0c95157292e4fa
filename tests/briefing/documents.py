"""Briefing papers of two publishers, written out as Word, HTML and (through Chromium) PDF.

Each paper is plain data: a list of blocks whose text is a list of pieces (a string,
or ("b", text), ("i", text), ("a", text, url)). The same data gives the expected
briefing, so a test compares what the importer recovered with what was written.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Piece = str | tuple[str, ...]  # ("b", text), ("i", text) or ("a", text, url)

FILLER = (
    "The figures were checked against the national reports and the customs records of each "
    "country, which do not always agree with one another about the value of what was sent. "
)


@dataclass(frozen=True)
class Block:
    kind: str  # "masthead", "title", "subtitle", "h1" (numbered section), "h2", "p", "li"
    pieces: tuple[Piece, ...]
    number: int = 0  # of a numbered section heading ("1. "), printed before its text


def p(*pieces: Piece) -> Block:
    return Block("p", pieces)


def li(*pieces: Piece) -> Block:
    return Block("li", pieces)


def plain(pieces: tuple[Piece, ...]) -> str:
    return "".join(x if isinstance(x, str) else x[1] for x in pieces)


def links(paper: list[Block]) -> set[tuple[str, str]]:
    """The links of the paper's text (a masthead's links become contact fields)."""
    return {
        (x[1], x[2])
        for b in paper
        if b.kind != "masthead"
        for x in b.pieces
        if isinstance(x, tuple) and x[0] == "a"
    }


POLICY_BRIEF = [
    Block("masthead", ("Arms Trade Observatory",)),
    Block("masthead", (("b", "Policy Brief No.27"),)),
    Block("masthead", ("14 March 2025",)),
    Block(
        "masthead",
        (
            "Contact: Maria Lopez, ",
            ("a", "maria@armstrade.example.org", "mailto:maria@armstrade.example.org"),
            ", www.armstrade.example.org",
        ),
    ),
    Block("title", ("European arms exports reach a ten-year high",)),
    Block("subtitle", ("An analysis of the 2024 national export reports",)),
    Block("p", ("Key findings:",)),
    li(
        "- • Exports rose by a fifth, led by ",
        ("a", "air defence systems", "https://armstrade.example.org/data/air-defence"),
        ".",
    ),
    li("-⇒ Four governments published their reports ", ("b", "late"), " again."),
    li("• Licences refused fell to their lowest number since 2015."),
    Block("h2", ("Summary",)),
    p(
        "This brief reads the export reports of ",
        ("a", "twelve European governments", "https://armstrade.example.org/reports?year=2024"),
        " and compares them with the figures for the previous decade. ",
        ("i", "All values are in euros."),
        " " + FILLER * 2,
    ),
    Block("h1", ("Air defence leads the rise",), 1),
    p(
        "Orders for air defence systems more than doubled, according to the ",
        ("a", "SIPRI Arms Transfers Database", "https://www.sipri.org/databases/armstransfers"),
        ". " + FILLER * 4,
    ),
    p(
        "Most of the new orders came from three buyers, and the largest single licence was "
        "granted in December, after the ",
        ("a", "parliamentary committee", "https://parliament.example.eu/committees/defence"),
        " had already closed its annual review. " + FILLER * 3,
    ),
    Block("h2", ("Who bought the systems",)),
    p("The buyers were mostly neighbours of Ukraine. " + FILLER * 3),
    Block("h1", ("Reports arrive later every year",), 2),
    p(
        "Four governments published their reports after the legal deadline, as the ",
        ("a", "Council's own annual report", "https://eur-lex.example.eu/annual-report-2024"),
        " notes. " + FILLER * 5,
    ),
    Block("h2", ("Support independent monitoring",)),
    p(
        "The Observatory takes no money from governments or industry. Please ",
        ("a", "make a donation", "https://armstrade.example.org/give"),
        " so that we can keep reading the reports for you.",
    ),
]

RESEARCH_NOTE = [
    Block("masthead", ("Climate Security Lab",)),
    Block("masthead", ("Research Note 5",)),
    Block("masthead", ("May 2, 2025",)),
    Block("masthead", ("Contact:",)),
    Block("masthead", ("Dr. Tomas Berg",)),
    Block("masthead", ("Email: t.berg@climatelab.example.net",)),
    Block("masthead", ("https://climatelab.example.net",)),
    Block("title", ("Drought and unrest in the Sahel: what the data show",)),
    Block("h2", ("Main points",)),
    li("▪ Three of the five driest years on record were followed by protests."),
    li(
        "▪ The ",
        ("a", "FAO food price index", "https://www.fao.org/worldfoodsituation/foodpricesindex/en/"),
        " explains more of the unrest than rainfall alone.",
    ),
    Block("h2", ("Overview",)),
    p("This note draws on thirty years of rainfall and event data. " + FILLER * 2),
    Block("h1", ("Rainfall and protest",), 1),
    p(
        "The ",
        ("a", "ACLED event data", "https://acleddata.com/data-export-tool/"),
        " record more than four thousand protests in the region since 1997. " + FILLER * 5,
    ),
    Block("h1", ("Food prices",), 2),
    p(
        "Prices of millet and sorghum rose fastest in the years of ",
        ("b", "both"),
        " drought and unrest, as the ",
        (
            "a",
            "World Bank commodity data",
            "https://www.worldbank.org/en/research/commodity-markets",
        ),
        " show. " + FILLER * 4,
    ),
    Block("h2", ("Donate today",)),
    p(
        "Our research is free to read because readers pay for it. A gift of any size helps: ",
        ("a", "give online", "https://climatelab.example.net/donate"),
        ".",
    ),
]


def _word_runs(paragraph: Any, pieces: tuple[Piece, ...]) -> None:
    import docx.opc.constants
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement

    for piece in pieces:
        if isinstance(piece, str):
            paragraph.add_run(piece)
        elif piece[0] == "b":
            paragraph.add_run(piece[1]).bold = True
        elif piece[0] == "i":
            paragraph.add_run(piece[1]).italic = True
        else:
            _, text, url = piece
            rel = paragraph.part.relate_to(
                url, docx.opc.constants.RELATIONSHIP_TYPE.HYPERLINK, True
            )
            link = OxmlElement("w:hyperlink")
            link.set(qn("r:id"), rel)
            run = OxmlElement("w:r")
            props = OxmlElement("w:rPr")
            style = OxmlElement("w:rStyle")
            style.set(qn("w:val"), "Hyperlink")
            props.append(style)
            run.append(props)
            t = OxmlElement("w:t")
            t.text = text
            t.set(qn("xml:space"), "preserve")
            run.append(t)
            link.append(run)
            paragraph._p.append(link)


def to_docx(paper: list[Block], *, word_numbering: bool = False) -> bytes:
    """The paper as Word would save it: heading styles, list styles, hyperlinks.

    With ``word_numbering`` the numbered headings carry no number in their text: Word's
    list numbering (the "List Number" style's) prints it, as in many real papers.
    """
    import docx
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement

    document = docx.Document()
    numbered = document.styles["List Number"].element.pPr.numPr.numId.val
    for block in paper:
        text = block.pieces
        if block.kind == "title":
            paragraph = document.add_paragraph(style="Title")
        elif block.kind == "h1":
            paragraph = document.add_paragraph(style="Heading 1")
            if not word_numbering:
                text = (f"{block.number}. ", *text)
            else:
                props = paragraph._p.get_or_add_pPr()
                num = OxmlElement("w:numPr")
                level = OxmlElement("w:ilvl")
                level.set(qn("w:val"), "0")
                ident = OxmlElement("w:numId")
                ident.set(qn("w:val"), str(numbered))
                num.append(level)
                num.append(ident)
                props.append(num)
        elif block.kind == "h2":
            paragraph = document.add_paragraph(style="Heading 2")
        elif block.kind == "li":
            paragraph = document.add_paragraph(style="List Bullet")
            first = text[0]
            if isinstance(first, str):  # Word draws the bullet: the glyph is not text
                text = (first.lstrip("-•⇒▪ "), *text[1:])
        elif block.kind == "subtitle":
            paragraph = document.add_paragraph(style="Subtitle")
        else:
            paragraph = document.add_paragraph()
        _word_runs(paragraph, text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _html_pieces(pieces: tuple[Piece, ...]) -> str:
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(html.escape(piece))
        elif piece[0] == "b":
            out.append(f"<strong>{html.escape(piece[1])}</strong>")
        elif piece[0] == "i":
            out.append(f"<em>{html.escape(piece[1])}</em>")
        else:
            out.append(f'<a href="{html.escape(piece[2])}">{html.escape(piece[1])}</a>')
    return "".join(out)


def to_html(paper: list[Block], *, list_markup: bool = True) -> str:
    """The paper as a web page; ``list_markup=False`` keeps the typed bullets as text."""
    body: list[str] = []
    in_list = False
    for block in paper:
        inner = _html_pieces(block.pieces)
        if block.kind == "li" and list_markup:
            if not in_list:
                body.append("<ul>")
                in_list = True
            first = block.pieces[0]
            if isinstance(first, str):
                inner = _html_pieces((first.lstrip("-•⇒▪ "), *block.pieces[1:]))
            body.append(f"<li>{inner}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        tag = {"title": "h1", "h1": "h2", "h2": "h3", "subtitle": "p"}.get(block.kind, "p")
        if block.number:
            inner = f"{block.number}. {inner}"
        body.append(f"<{tag}>{inner}</{tag}>")
    if in_list:
        body.append("</ul>")
    style = (
        "body{font-family:serif;font-size:12pt;line-height:1.4;margin:0}"
        "h1{font-size:22pt}h2{font-size:16pt}h3{font-size:13pt}p{margin:0 0 10pt}"
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>paper</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def to_pdf(browser: Any, paper: list[Block], tmp: Path, *, running_header: str) -> bytes:
    """Chromium's print-to-PDF of the paper's page, with a running header and page numbers."""
    source = tmp / "paper.html"
    source.write_text(to_html(paper, list_markup=False), encoding="utf-8")
    page = browser.new_page()
    page.goto(source.as_uri())
    data: bytes = page.pdf(
        format="A4",
        display_header_footer=True,
        header_template=(
            f"<div style='font-size:9pt;width:100%;text-align:center'>{running_header}</div>"
        ),
        footer_template=(
            "<div style='font-size:9pt;width:100%;text-align:center'>"
            "Page <span class='pageNumber'></span> of <span class='totalPages'></span></div>"
        ),
        margin={"top": "25mm", "bottom": "25mm", "left": "20mm", "right": "20mm"},
    )
    page.close()
    return data
