"""In real Chromium the policy keeps the pages styled and stops an injected inline script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from newsletter.config import Settings
from newsletter.web.app import create_app
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, serving


@pytest.fixture
def site(settings: Settings) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app: FastAPI = create_app(settings.model_copy(update={"public_base_url": base}))

    @app.get("/injected", response_class=HTMLResponse)
    def injected() -> str:  # what a successful HTML injection would put on a page
        return "<p id=target>untouched</p><script>document.title = 'script ran'</script>"

    with serving(app, port):
        yield base
    app.state.engine.dispose()


@pytest.mark.browser
def test_pages_keep_their_style_and_inline_script_never_runs(site: str) -> None:
    sync_api = playwright_api()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{site}/subscribe")
        header = page.eval_on_selector("header.site", "e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(29, 78, 137)"  # the brand colour from the inline <style>
        assert violations == []
        page.goto(f"{site}/injected")
        assert page.title() != "script ran"
        assert any("script" in v for v in violations)
        browser.close()
