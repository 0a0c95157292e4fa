"""Importing papers as staff have them: Word files, PDFs printed by Chromium, web pages.

Two papers of different publishers and series ("Policy Brief No.27", "Research Note 5")
are written out by python-docx, as HTML, and printed to PDF by real Chromium with a
running header and page numbers; every import must recover the same briefing, with
every link on its own words.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from newsletter.briefing.markdown import load
from newsletter.briefing.model import Briefing
from newsletter.briefing.paper import read_paper, sniff
from newsletter.digest.inline import parse, plain
from tests.briefing import documents as docs
from tests.briefing.test_cli import Run, assert_one_clear_error
from tests.local import CHROMIUM, CHROMIUM_ARGS, playwright_api

PAPERS = {
    "policy-brief": (docs.POLICY_BRIEF, "Arms Trade Observatory · Policy Brief No. 27"),
    "research-note": (docs.RESEARCH_NOTE, "Climate Security Lab"),
}
EXPECTED: dict[str, dict[str, Any]] = {
    "policy-brief": {
        "number": 27,
        "series": "Policy Brief",
        "date": date(2025, 3, 14),
        "contact": (
            "Maria Lopez",
            "maria@armstrade.example.org",
            "https://www.armstrade.example.org",
        ),
        "title": "European arms exports reach a ten-year high",
        "key": "Key findings",
        "sections": [(1, "Air defence leads the rise"), (2, "Reports arrive later every year")],
        "subsections": [["Who bought the systems"], []],
        "appeal": "Support independent monitoring",
    },
    "research-note": {
        "number": 5,
        "series": "Research Note",
        "date": date(2025, 5, 2),
        "contact": (
            "Dr. Tomas Berg",
            "t.berg@climatelab.example.net",
            "https://climatelab.example.net",
        ),
        "title": "Drought and unrest in the Sahel: what the data show",
        "key": "Main points",
        "sections": [(1, "Rainfall and protest"), (2, "Food prices")],
        "subsections": [[], []],
        "appeal": "Donate today",
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    api = playwright_api()
    with api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def write(kind: str, name: str, tmp: Path, request: pytest.FixtureRequest) -> Path:
    paper, header = PAPERS[name]
    if kind == "docx":
        data = docs.to_docx(paper)
    elif kind == "docx-numbered":
        data = docs.to_docx(paper, word_numbering=True)
    elif kind == "html":
        data = docs.to_html(paper).encode()
    else:
        data = docs.to_pdf(request.getfixturevalue("browser"), paper, tmp, running_header=header)
    path = tmp / f"{name}.{kind.split('-')[0]}"
    path.write_bytes(data)
    return path


def words(text: str) -> str:
    return " ".join(plain(parse(text)).split())


def check(b: Briefing, name: str) -> None:
    paper, _ = PAPERS[name]
    want = EXPECTED[name]
    assert (b.number, b.series, b.date) == (want["number"], want["series"], want["date"])
    assert (b.contact.name, b.contact.email, b.contact.website) == want["contact"]
    assert b.title == want["title"]
    assert b.key_decisions_heading == want["key"]
    assert [words(p.text) for p in b.key_decisions] == [
        docs.plain(x.pieces).lstrip("-•⇒▪ ") for x in paper if x.kind == "li"
    ]
    assert [(s.number, s.title) for s in b.sections] == want["sections"]
    assert [[x.heading for x in s.subsections] for s in b.sections] == want["subsections"]
    assert b.appeal is not None and b.appeal.heading == want["appeal"]
    # every link is back on its own words, with its real target
    assert {(link.text, link.url) for link in b.links} == docs.links(paper)
    # every paragraph whole: none cut at a page break, no running header or page number in it
    paragraphs = [
        docs.plain(x.pieces)
        for x in paper
        if x.kind == "p" and not docs.plain(x.pieces).endswith(":")
    ]
    assert sorted(words(p.text) for p in b.paragraphs() if not p.bullet) == sorted(
        " ".join(t.split()) for t in paragraphs
    )


@pytest.mark.parametrize("name", sorted(PAPERS))
@pytest.mark.parametrize("kind", ["docx", "docx-numbered", "html"])
def test_word_and_html_papers_import_whole(
    kind: str, name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = write(kind, name, tmp_path, request)
    briefing, found, _ = read_paper(path)
    assert found == kind.split("-")[0]
    check(briefing, name)


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(PAPERS))
def test_pdf_printed_by_chromium_imports_whole(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = write("pdf", name, tmp_path, request)
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        assert len(pdf.pages) >= 2  # so page breaks, headers and page numbers are exercised
        assert "Page 1 of" in (pdf.pages[0].extract_text() or "")
    briefing, found, _ = read_paper(path)
    assert found == "pdf"
    check(briefing, name)


def test_the_kind_of_file_is_told_by_its_content(tmp_path: Path, newsletter: Run) -> None:
    misnamed = tmp_path / "policy-brief.pdf"
    misnamed.write_bytes(docs.to_docx(docs.POLICY_BRIEF))
    assert sniff(misnamed.read_bytes(), misnamed.name) == "docx"
    proc = newsletter("briefing", "import", misnamed.name, "-o", "out.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Policy Brief No. 27 of 2025-03-14" in proc.stdout
    assert "read as:       Word" in proc.stdout
    assert f"links:         {len(docs.links(docs.POLICY_BRIEF))} (0 placeholder" in proc.stdout
    check(load(tmp_path / "out.md"), "policy-brief")


def test_a_paper_without_number_or_date_names_the_option(
    tmp_path: Path,
    newsletter: Run,
) -> None:
    paper = [b for b in docs.RESEARCH_NOTE if docs.plain(b.pieces) != "Research Note 5"]
    (tmp_path / "note.docx").write_bytes(docs.to_docx(paper))
    proc = newsletter("briefing", "import", "note.docx", "-o", "out.md", cwd=tmp_path)
    assert_one_clear_error(proc, "note.docx", "--number N")
    proc = newsletter(
        "briefing", "import", "note.docx", "-o", "out.md", "--number", "6", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path / "out.md").number == 6

    undated = [b for b in docs.RESEARCH_NOTE if docs.plain(b.pieces) != "May 2, 2025"]
    (tmp_path / "undated.docx").write_bytes(docs.to_docx(undated))
    proc = newsletter("briefing", "import", "undated.docx", "-o", "u.md", cwd=tmp_path)
    assert_one_clear_error(proc, "undated.docx", "--date YYYY-MM-DD")
    proc = newsletter(
        "briefing", "import", "undated.docx", "-o", "u.md", "--date", "2025-05-09", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path / "u.md").date == date(2025, 5, 9)


# A 1x1 grey PNG: a "scanned" page is a picture of text, with no text layer.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


@pytest.mark.browser
def test_a_scanned_pdf_gets_one_clear_line(
    browser: Any,
    tmp_path: Path,
    newsletter: Run,
) -> None:
    (tmp_path / "scan.png").write_bytes(PIXEL)
    (tmp_path / "scan.html").write_text(
        "<!doctype html><body style='margin:0'>"
        "<img src='scan.png' style='width:100%;height:900px' alt=''></body>",
        encoding="utf-8",
    )
    page = browser.new_page()
    page.goto((tmp_path / "scan.html").as_uri())
    (tmp_path / "scan.pdf").write_bytes(page.pdf(format="A4"))
    page.close()
    proc = newsletter("briefing", "import", "scan.pdf", "-o", "out.md", cwd=tmp_path)
    assert_one_clear_error(proc, "scan.pdf", "this PDF is a scan", "add a text layer")
    assert not (tmp_path / "out.md").exists()


def test_a_text_copy_without_links_is_flagged(tmp_path: Path, newsletter: Run) -> None:
    text = "\n\n".join(
        (f"{b.number}. " if b.number else "") + docs.plain(b.pieces) for b in docs.RESEARCH_NOTE
    )
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    proc = newsletter("briefing", "import", "note.txt", "-o", "out.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "links:         0" in proc.stdout
    assert "no links at all" in proc.stdout and "Word or PDF" in proc.stdout


def test_markdown_papers_with_and_without_front_matter(
    tmp_path: Path,
    newsletter: Run,
) -> None:
    lines = []
    for block in docs.POLICY_BRIEF:
        text = "".join(
            x
            if isinstance(x, str)
            else f"**{x[1]}**"
            if x[0] == "b"
            else f"*{x[1]}*"
            if x[0] == "i"
            else f"[{x[1]}]({x[2]})"
            for x in block.pieces
        )
        prefix = {"title": "# ", "h1": f"## {block.number}. ", "h2": "### "}.get(block.kind, "")
        lines.append(prefix + text)
    (tmp_path / "brief.md").write_text("\n\n".join(lines), encoding="utf-8")
    proc = newsletter("briefing", "import", "brief.md", "-o", "out.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check(load(tmp_path / "out.md"), "policy-brief")
    again = newsletter("briefing", "import", "out.md", "-o", "copy.md", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "copy.md").read_text() == (tmp_path / "out.md").read_text()


def _field_link(paragraph: Any, text: str, url: str, *, simple: bool) -> None:
    """A link written as a HYPERLINK field, as older Word and many export tools write them."""
    from docx.oxml.ns import qn
    from docx.oxml.parser import OxmlElement

    def run(child: Any) -> Any:
        r = OxmlElement("w:r")
        r.append(child)
        return r

    def text_node(tag: str, value: str) -> Any:
        node = OxmlElement(tag)
        node.text = value
        node.set(qn("xml:space"), "preserve")
        return node

    if simple:
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), f' HYPERLINK "{url}" ')
        field.append(run(text_node("w:t", text)))
        paragraph._p.append(field)
        return
    for kind, child in (
        ("begin", None),
        (None, text_node("w:instrText", f' HYPERLINK "{url}" \\o "tip" ')),
        ("separate", None),
        (None, text_node("w:t", text)),
        ("end", None),
    ):
        if kind:
            child = OxmlElement("w:fldChar")
            child.set(qn("w:fldCharType"), kind)
        paragraph._p.append(run(child))


def test_word_field_links_and_a_masthead_in_the_page_header(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Policy Brief No.27"
    for line in ("14 March 2025", "Contact: Maria Lopez, maria@example.org, www.example.org"):
        document.add_paragraph(line)
    document.add_paragraph("Exports at a ten-year high", style="Title")
    document.add_paragraph("Key findings:")
    first = document.add_paragraph("Exports rose, led by ", style="List Bullet")
    _field_link(first, "air defence", "https://example.org/air", simple=False)
    first.add_run(".")
    document.add_paragraph("Licences refused fell again.", style="List Bullet")
    document.add_paragraph("1. Air defence", style="Heading 1")
    body = document.add_paragraph("Orders doubled, says the ")
    _field_link(body, "SIPRI database", "https://www.sipri.org/databases", simple=True)
    body.add_run(" in its latest release of figures for the whole of Europe and beyond.")
    path = tmp_path / "fields.docx"
    document.save(str(path))
    briefing, kind, _ = read_paper(path)
    assert kind == "docx"
    assert (briefing.series, briefing.number, briefing.date) == (
        "Policy Brief",
        27,
        date(2025, 3, 14),
    )
    assert {(link.text, link.url) for link in briefing.links} == {
        ("air defence", "https://example.org/air"),
        ("SIPRI database", "https://www.sipri.org/databases"),
    }
    assert "HYPERLINK" not in " ".join(p.text for p in briefing.paragraphs())
