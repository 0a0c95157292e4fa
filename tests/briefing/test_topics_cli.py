"""Section topics from the command line, with the organisation's topics in a real
database (SQLite and PostgreSQL): import guesses them, lint checks them, and
``briefing render`` / ``campaign preview`` show the copy of a reader with topics."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from newsletter import database
from newsletter.briefing.markdown import load
from newsletter.cli import common
from newsletter.cli.app import app
from newsletter.errors import NotFound
from subscribers import topics
from tests.briefing.helpers import SEED
from tests.campaigns.conftest import CLEAN_SOURCE


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def add_topics(sessions: sessionmaker[Session], *names: str) -> None:
    with database.transaction(sessions) as session:
        for name in names:
            topics.create(session, name)


def test_import_guesses_section_topics_and_writes_them_for_staff_to_edit(
    cli_env: Path, sessions: sessionmaker[Session]
) -> None:
    add_topics(sessions, "Ukraine", "China", "Western Balkans", "Climate")
    out = cli_env / "112.md"
    result = run("briefing", "import", str(SEED), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "## 2. Support for Ukraine\n\nTopics: China, Ukraine\n" in text
    assert "## 4. Tensions in the Western Balkans\n\nTopics: Western Balkans\n" in text
    by_number = {s.number: s.topics for s in load(out).sections}
    assert by_number[3] == ("China",)
    assert "Climate" not in text
    assert "topics:        4 sections of 6 given topics (Ukraine, China, Western Balkans)" in (
        result.output
    )


def test_import_without_a_database_guesses_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'absent' / 'nl.db'}")
    common.settings.cache_clear()
    try:
        result = run("briefing", "import", str(SEED), "-o", str(tmp_path / "112.md"))
    finally:
        common.settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "topics:        not guessed: there is no database yet" in result.output
    assert not (tmp_path / "absent").exists()  # reading a paper creates no database


def test_lint_warns_about_a_topic_the_organisation_does_not_have(
    cli_env: Path, sessions: sessionmaker[Session]
) -> None:
    add_topics(sessions, "Ukraine")
    path = cli_env / "112.md"
    path.write_text(
        CLEAN_SOURCE.replace(
            "## 2. Support for Ukraine\n", "## 2. Support for Ukraine\n\nTopics: Ukraine, Ukriane\n"
        ),
        encoding="utf-8",
    )
    line = path.read_text(encoding="utf-8").splitlines().index("Topics: Ukraine, Ukriane") + 1
    result = run("briefing", "lint", str(path))
    assert result.exit_code == 0, result.output  # a warning, not an error
    assert (
        f"{path}:{line}: warning: section 2: 'Ukriane' is not one of the organisation's topics"
        in result.output
    )
    assert "'Ukraine' is not" not in result.output


def test_render_shows_the_copy_of_a_reader_with_topics(
    cli_env: Path, sessions: sessionmaker[Session]
) -> None:
    path = cli_env / "112.md"
    path.write_text(
        CLEAN_SOURCE.replace(
            "## 3. Strategic competition with China\n",
            "## 3. Strategic competition with China\n\nTopics: China, Trade\n",
        ),
        encoding="utf-8",
    )
    result = run("briefing", "render", str(path), "--out", "mine", "--topics", "trade, Sahel")
    assert result.exit_code == 0, result.output
    assert "no section of" in result.output and "'Sahel'" in result.output
    text = (cli_env / "mine" / "digest.txt").read_text(encoding="utf-8")
    assert text.index("Your topics") < text.index("3. Strategic competition with China")
    assert text.index("3. Strategic") < text.index("Also in this briefing")
    assert text.index("Also in this briefing") < text.index("1. The Israel-Hamas war")
    html = (cli_env / "mine" / "digest.html").read_text(encoding="utf-8")
    assert (
        html.index('id="your-topics"') < html.index('id="section-3"') < html.index('id="section-1"')
    )

    plain = run("briefing", "render", str(path), "--out", "plain")
    assert plain.exit_code == 0, plain.output
    assert "Your topics" not in (cli_env / "plain" / "digest.txt").read_text(encoding="utf-8")


def test_campaign_preview_shows_the_copy_for_given_topics(
    cli_env: Path, sessions: sessionmaker[Session]
) -> None:
    add_topics(sessions, "China", "Ukraine")
    run("subscribers", "lists", "create", "All briefings")
    path = cli_env / "112.md"
    path.write_text(
        CLEAN_SOURCE.replace(
            "## 3. Strategic competition with China\n",
            "## 3. Strategic competition with China\n\nTopics: China\n",
        ),
        encoding="utf-8",
    )
    created = run("campaign", "create", str(path), "--list", "All briefings", "-q")
    assert created.exit_code == 0, created.output
    cid = created.output.strip()
    result = run("campaign", "preview", cid, "--out", "pv", "--topics", "china")
    assert result.exit_code == 0, result.output
    assert "follows china: sections 3 first" in result.output
    text = (cli_env / "pv" / "preview.txt").read_text(encoding="utf-8")
    assert text.index("Your topics") < text.index("3. Strategic") < text.index("1. The Israel")

    other = run("campaign", "preview", cid, "--out", "pv2", "--topics", "Ukraine")
    assert "none of its sections: paper order" in other.output
    unknown = run("campaign", "preview", cid, "--topics", "Atlantis")
    assert isinstance(unknown.exception, NotFound)
    assert "no topic called 'Atlantis'" in str(unknown.exception)
