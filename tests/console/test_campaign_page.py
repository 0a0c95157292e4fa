"""The campaign page after a send: the polled fragment carries the status sentence and the
buttons, so they go when the send is over; the send confirmation acts once however often
it is posted."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.campaigns.models import Campaign
from newsletter.database import transaction
from newsletter.staff.models import Role
from tests.console.conftest import Console
from tests.console.flow import outbox, send_due
from tests.console.test_campaigns import campaign_form, ready

BUTTONS = ("Send now instead", "Pause", "Cancel the rest")


def campaigns(console: Console) -> int:
    with transaction(console.app.state.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def send_confirmed(console: Console, editor: TestClient, url: str, **extra: str) -> str:
    data = {**campaign_form(editor, url), "list": "ukraine", "when": "now", **extra}
    answer = editor.post(f"{url}/campaign", data={**data, "confirm": "yes"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"]).split("?")[0]


def test_the_buttons_and_sending_now_go_when_the_send_is_over(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    campaign = send_confirmed(console, editor, url)
    page = editor.get(campaign).text
    assert "Sending now." in page and "Pause" in page and "Cancel the rest" in page
    assert "See the report" not in page
    live = editor.get(f"{campaign}/progress").text
    assert 'hx-trigger="every 2s"' in live and "Sending now." in live and "Pause" in live

    send_due(console.app, int(campaign.rsplit("/", 1)[1]))
    fragment = editor.get(f"{campaign}/progress").text  # what the next poll swaps in
    assert fragment.startswith('<div id="progress">'), fragment[:80]  # no more polling
    assert "Sending now." not in fragment and "Change it" not in fragment
    for button in BUTTONS:
        assert button not in fragment, button
    assert "Finished" in fragment and "See the report" in fragment
    page = editor.get(campaign).text  # and a reload of the whole page agrees
    assert "Sending now." not in page and all(b not in page for b in BUTTONS)
    assert f'href="{campaign.removeprefix("https://testserver")}/report">See the report' in page


def test_a_double_posted_confirmation_creates_one_campaign(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {**campaign_form(editor, url), "list": "ukraine", "when": "now", "again": "yes"}
    data["confirm"] = "yes"
    first = editor.post(f"{url}/campaign", data=data, follow_redirects=False)
    second = editor.post(f"{url}/campaign", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    target = first.headers["location"].split("?")[0]
    assert second.headers["location"].split("?")[0] == target
    assert "already sent" in editor.get(second.headers["location"]).text
    assert campaigns(console) == 1
    send_due(console.app, 1)
    assert len(outbox(console.app)) == 2  # each reader once

    # A new form is a new decision: with "Send again" ticked it really sends again.
    again = {**data, **campaign_form(editor, url)}
    answer = editor.post(f"{url}/campaign", data=again, follow_redirects=False)
    assert answer.status_code == 303 and campaigns(console) == 2


def test_a_send_without_the_forms_key_is_refused(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {**campaign_form(editor, url), "list": "ukraine", "when": "now", "confirm": "yes"}
    for key in ("", "short", "x" * 65):
        answer = editor.post(f"{url}/campaign", data={**data, "once": key})
        assert answer.status_code == 400 and "out of date" in answer.text, key
        assert 'name="once" value="' in answer.text  # a fresh key, to check and send again
        assert f'name="once" value="{key}"' not in answer.text
    assert campaigns(console) == 0
