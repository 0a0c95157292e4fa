"""`newsletter briefing import` and `lint` as a member of staff runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.briefing.markdown import load
from newsletter.cli.app import app
from tests.briefing.helpers import EXAMPLE, PAPERS, SEED, SOURCE_LINK

runner = CliRunner()


def newsletter_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process, as typed in a shell."""
    env = {**os.environ, "NEWSLETTER_OUTBOX_DIR": str(cwd / "outbox")}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_clear_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


Run = Callable[..., subprocess.CompletedProcess[str]]


def test_a_real_process_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    proc = newsletter_process("briefing", "lint", "absent.md", cwd=tmp_path)
    assert_one_clear_error(proc, "absent.md", "no such file")


def test_import_writes_the_briefing_and_summarises_it(tmp_path: Path, newsletter: Run) -> None:
    out = tmp_path / "briefings" / "112.md"
    proc = newsletter("briefing", "import", str(SEED), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    links = len(SOURCE_LINK.findall(SEED.read_text(encoding="utf-8")))
    assert "Briefing Paper No. 112 of 2023-12-03" in proc.stdout
    assert "key decisions: 5" in proc.stdout
    assert "sections:      6 (5 sub-headings)" in proc.stdout
    assert f"links:         {links} ({links} placeholder" in proc.stdout
    assert out.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")

    again = newsletter("briefing", "import", str(SEED), "-o", str(out), cwd=tmp_path)
    assert_one_clear_error(again, "already exists", "--force")


def test_import_errors_are_one_line(tmp_path: Path, newsletter: Run) -> None:
    missing = newsletter("briefing", "import", "nope.txt", "-o", "x.md", cwd=tmp_path)
    assert_one_clear_error(missing, "nope.txt", "no such file")
    (tmp_path / "notes.txt").write_text("Shopping\n\n- eggs\n- milk\n", encoding="utf-8")
    junk = newsletter("briefing", "import", "notes.txt", "-o", "x.md", cwd=tmp_path)
    assert_one_clear_error(junk, "notes.txt", "no briefing number")
    assert not (tmp_path / "x.md").exists()


def test_lint_errors_are_one_line(tmp_path: Path, newsletter: Run) -> None:
    (tmp_path / "broken.md").write_text("---\nnumber: 3\ntitle: T\n---\n", encoding="utf-8")
    broken = newsletter("briefing", "lint", "broken.md", cwd=tmp_path)
    assert_one_clear_error(broken, "broken.md:1:", "missing 'date'")
    missing = newsletter("briefing", "lint", "absent.md", cwd=tmp_path)
    assert_one_clear_error(missing, "absent.md", "no such file")


def test_import_force_and_topics(tmp_path: Path) -> None:
    out = tmp_path / "b.md"
    out.write_text("old", encoding="utf-8")
    paper = PAPERS / "briefing-113.txt"
    result = runner.invoke(
        app,
        ["briefing", "import", str(paper), "-o", str(out), "--force", "--topic", "black-sea"],
    )
    assert result.exit_code == 0, result.output
    b = load(out)
    assert b.number == 113 and b.topics == ("black-sea",)


def test_lint_exit_codes_follow_severity() -> None:
    preview = runner.invoke(app, ["briefing", "lint", str(EXAMPLE)])
    assert preview.exit_code == 0, preview.output
    lines = preview.output.strip().splitlines()
    placeholder = [line for line in lines if "placeholder" in line]
    assert len(placeholder) == len(load(EXAMPLE).links)
    assert all(line.startswith(f"{EXAMPLE}:") and ": warning: " in line for line in placeholder)
    assert lines[-1].startswith(f"{EXAMPLE}: 0 errors, ")

    sending = runner.invoke(app, ["briefing", "lint", str(EXAMPLE), "--for-sending"])
    assert sending.exit_code == 1
    assert f"{len(placeholder)} errors" in sending.output.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["briefing-113.txt", "briefing-7.txt"])
def test_lint_of_an_imported_paper_with_real_links(tmp_path: Path, name: str) -> None:
    out = tmp_path / "b.md"
    assert (
        runner.invoke(app, ["briefing", "import", str(PAPERS / name), "-o", str(out)]).exit_code
        == 0
    )
    result = runner.invoke(app, ["briefing", "lint", str(out)])
    assert result.exit_code == 0, result.output
    assert "digest HTML:" in result.output or "digest size not checked" in result.output


@pytest.mark.parametrize(("encoding", "note"), [("cp1252", True), ("utf-16", False)])
def test_import_reads_papers_saved_on_windows(tmp_path: Path, encoding: str, note: bool) -> None:
    text = (PAPERS / "briefing-113.txt").read_text(encoding="utf-8")
    paper = tmp_path / "paper.txt"
    paper.write_bytes(text.replace("€", "EUR").encode(encoding))
    out = tmp_path / "b.md"
    result = runner.invoke(app, ["briefing", "import", str(paper), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert ("Windows-1252" in result.output) is note
    assert "Türkiye" in load(out).title


def test_import_refuses_binary_files(tmp_path: Path, newsletter: Run) -> None:
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.7\n\x00\x01\x02\x81\x8d\x8f\x90\x9d")
    proc = newsletter("briefing", "import", "paper.pdf", "-o", "x.md", cwd=tmp_path)
    assert_one_clear_error(proc, "paper.pdf", "PDF cannot be read")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01\x02\x81\x8d\x8f\x90\x9d" * 10)
    proc = newsletter("briefing", "import", "data.bin", "-o", "x.md", cwd=tmp_path)
    assert_one_clear_error(proc, "data.bin", "not Word (.docx), PDF, HTML or text")
