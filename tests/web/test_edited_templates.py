"""A page template staff edit on disk is served within a second, without a restart;
in between Jinja does not ask the disk on every page. The clock is injected."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment

from newsletter.web.app import EditedLoader


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_an_edited_template_is_used_once_a_second_has_passed(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("first", encoding="utf-8")
    clock = Clock()
    env = SandboxedEnvironment(loader=EditedLoader(str(tmp_path), clock=clock), autoescape=True)
    assert env.get_template("page.html").render() == "first"

    page.write_text("second, longer", encoding="utf-8")
    stat = page.stat()
    # a modification time the file system cannot confuse with the first write
    os.utime(page, (stat.st_atime, stat.st_mtime + 5))
    clock.now += EditedLoader.CHECK_EVERY * 0.5
    assert env.get_template("page.html").render() == "first"  # the disk was not asked
    clock.now += EditedLoader.CHECK_EVERY
    assert env.get_template("page.html").render() == "second, longer"
