"""`newsletter briefing links`: what needs a real URL, and filling it from a CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

from newsletter.briefing.lint import lint
from newsletter.briefing.markdown import load
from tests.briefing.helpers import EXAMPLE
from tests.briefing.test_cli import Run, assert_one_clear_error


def test_every_placeholder_is_listed_with_its_sentence_and_line(
    tmp_path: Path, newsletter: Run
) -> None:
    proc = newsletter("briefing", "links", str(EXAMPLE), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    placeholders = [link for link in load(EXAMPLE).links if link.is_placeholder]
    heads = [line for line in proc.stdout.splitlines() if line.startswith(f"{EXAMPLE}:")]
    assert len(heads) == len(placeholders) + 1  # and the count
    assert heads[-1] == f"{EXAMPLE}: {len(placeholders)} links to fill in or check"
    source = EXAMPLE.read_text(encoding="utf-8").split("\n")
    first = heads[0]
    line = int(first.split(":")[1])
    assert "[statement](#)" in first and "[statement](#)" in source[line - 1]
    sentence = proc.stdout.splitlines()[1].strip()
    assert sentence == (
        "The NATO-Ukraine Council met and issued a short statement reiterating existing "
        "commitments."
    )


def test_fill_by_text_and_by_line(tmp_path: Path, newsletter: Run) -> None:
    paper = tmp_path / "b.md"
    shutil.copy(EXAMPLE, paper)
    source = paper.read_text(encoding="utf-8").split("\n")
    said = next(i for i, line in enumerate(source, start=1) if "[said](#)" in line)
    (tmp_path / "links.csv").write_text(
        "text,url\nstatement,https://www.nato.int/s\nopening remarks,https://www.nato.int/o\n"
        "no such words,https://example.org/x\n",
        encoding="utf-8",
    )
    (tmp_path / "lines.csv").write_text(f"line,url\n{said},https://www.nato.int/said\n")
    proc = newsletter("briefing", "links", "b.md", "--fill", "links.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "filled " in proc.stdout and "'no such words'" in proc.stdout
    proc = newsletter("briefing", "links", "b.md", "--fill", "lines.csv", cwd=tmp_path)
    assert "filled 1 link in b.md" in proc.stdout
    b = load(paper)
    targets = {link.text: link.url for link in b.links if not link.is_placeholder}
    assert targets == {
        "statement": "https://www.nato.int/s",
        "opening remarks": "https://www.nato.int/o",
        "said": "https://www.nato.int/said",
    }
    before = sum(link.is_placeholder for link in load(EXAMPLE).links)
    filled = sum(1 for link in b.links if not link.is_placeholder)
    assert sum(link.is_placeholder for link in b.links) == before - filled
    assert len([p for p in lint(b, for_sending=True) if p.code == "placeholder-link"]) == (
        before - filled
    )


def test_a_bad_csv_changes_nothing(tmp_path: Path, newsletter: Run) -> None:
    paper = tmp_path / "b.md"
    shutil.copy(EXAMPLE, paper)
    (tmp_path / "bad.csv").write_text("text,url\nstatement,www.nato.int\n", encoding="utf-8")
    proc = newsletter("briefing", "links", "b.md", "--fill", "bad.csv", cwd=tmp_path)
    assert_one_clear_error(proc, "bad.csv", "row 2", "https://")
    (tmp_path / "cols.csv").write_text("name,link\nx,https://a.org\n", encoding="utf-8")
    proc = newsletter("briefing", "links", "b.md", "--fill", "cols.csv", cwd=tmp_path)
    assert_one_clear_error(proc, "cols.csv", "text,url or line,url")
    assert paper.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")
