"""Campaigns in the console: audience count, schedule in the local zone, send now after a
confirmation, the CLI's refusals, progress, pause/resume/cancel and the report."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from newsletter.database import transaction
from newsletter.staff import audit
from newsletter.staff.models import Role
from tests.console.conftest import Console, form_token
from tests.console.flow import add_readers, outbox, send_due
from tests.console.test_briefings import fill, upload


def ready(console: Console, client: TestClient) -> str:
    """A lint-clean briefing and readers to send it to; returns the briefing's URL."""
    add_readers(console.app)
    url = upload(client)
    fill(client, url)
    return url


def campaign_form(client: TestClient, url: str) -> dict[str, str]:
    """The new-campaign form's hidden fields: the session's form token and its one-time key."""
    page = client.get(f"{url}/campaign").text
    match = re.search(r'name="once" value="([^"]+)"', page)
    assert match, "the form has no one-time key"
    return {"csrf_token": form_token(page), "once": match.group(1)}


def local_in(console: Console, minutes: int) -> str:
    """A time ``minutes`` from the console's clock, as typed in the organisation's zone."""
    zone = console.app.state.settings.zone
    return (
        (console.clock.now + timedelta(minutes=minutes)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    )


def test_the_form_counts_the_audience_of_a_list_and_topic(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    page = editor.get(f"{url}/campaign", params={"list": "ukraine"}).text
    assert "<strong>2</strong> readers of Ukraine" in page  # the unsubscribed one is not
    page = editor.get(f"{url}/campaign", params={"list": "ukraine", "topic": "arms-trade"}).text
    assert "<strong>1</strong> reader of Ukraine who also follow Arms trade" in page
    fragment = editor.get("/admin/briefings/1/audience", params={"list": "ukraine"}).text
    assert fragment.startswith('<p id="audience"') and "<strong>2</strong>" in fragment


def test_send_now_asks_first_repeating_the_count_and_subject(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {**campaign_form(editor, url), "list": "ukraine", "when": "now"}
    confirm = editor.post(f"{url}/campaign", data=data)
    assert confirm.status_code == 200
    assert "goes now to <strong>2</strong> readers of Ukraine" in confirm.text
    assert "European arms exports reach a ten-year high" in confirm.text
    assert "Send to 2 readers now" in confirm.text
    assert "No campaigns yet." in editor.get("/admin/campaigns").text  # nothing created yet
    answer = editor.post(f"{url}/campaign", data={**data, "confirm": "yes"}, follow_redirects=False)
    assert answer.status_code == 303
    campaign = answer.headers["location"].split("?")[0]
    page = editor.get(campaign).text
    assert 'id="status">scheduled' in page and 'hx-trigger="every 2s"' in page
    send_due(console.app, int(campaign.rsplit("/", 1)[1]))
    progress = editor.get(f"{campaign}/progress").text
    assert 'id="status">finished' in progress and "hx-trigger" not in progress
    report = editor.get(f"{campaign}/report").text
    assert re.search(r'id="count-sent">2<', report)
    assert re.search(r'id="count-failed">0<', report)
    assert sorted(m["To"] for m in outbox(console.app)) == [
        "Ana <ana@example.net>",
        "Ben <ben@example.net>",
    ]


def test_a_time_is_read_in_the_organisations_zone_and_the_past_is_refused(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {**campaign_form(editor, url), "list": "ukraine", "when": "later"}
    past = editor.post(f"{url}/campaign", data={**data, "at": local_in(console, -5)})
    assert past.status_code == 400
    assert "is in the past" in past.text and "choose “Send now”" in past.text
    assert "--" not in re.sub(r"<!--.*?-->", "", past.text.split('role="alert">')[1][:300])
    at = local_in(console, 2)
    answer = editor.post(f"{url}/campaign", data={**data, "at": at}, follow_redirects=False)
    assert answer.status_code == 303
    page = editor.get(answer.headers["location"]).text
    assert f"Scheduled for {at.replace('T', ' ')} GMT." in page
    data |= campaign_form(editor, url)  # a new form: the first one has done its work
    again = editor.post(f"{url}/campaign", data={**data, "at": local_in(console, 60)})
    assert again.status_code == 400
    assert "already scheduled to go to Ukraine" in again.text
    assert "tick “Send again”" in again.text


def test_a_briefing_with_lint_errors_cannot_be_sent(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    add_readers(console.app)
    editor = signed_in(Role.EDITOR)
    url = upload(editor)  # the two placeholder links are still there
    page = editor.get(f"{url}/campaign", params={"list": "ukraine"}).text
    assert "Sending is blocked: 2 lint error(s)." in page
    assert "Continue" not in page
    token = form_token(page)
    data = {"csrf_token": token, "list": "ukraine", "when": "now", "confirm": "yes"}
    answer = editor.post(f"{url}/campaign", data=data)
    assert answer.status_code == 400
    assert "the briefing has 2 lint error(s)" in answer.text
    assert "No campaigns yet." in editor.get("/admin/campaigns").text


def test_a_scheduled_campaign_is_sent_now_paused_resumed_and_cancelled(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {
        **campaign_form(editor, url),
        "list": "ukraine",
        "when": "later",
        "at": local_in(console, 60),
    }
    campaign = (
        editor.post(f"{url}/campaign", data=data, follow_redirects=False)
        .headers["location"]
        .split("?")[0]
    )
    page = editor.get(campaign).text
    assert "Send now instead" in page
    token = form_token(page)
    confirm = editor.post(f"{campaign}/now", data={"csrf_token": token})
    assert "goes now to <strong>2</strong> readers of Ukraine" in confirm.text
    paused = editor.post(f"{campaign}/pause", data={"csrf_token": token})
    assert "Campaign paused." in paused.text and 'id="status">paused' in paused.text
    refused = editor.post(f"{campaign}/now", data={"csrf_token": token, "confirm": "yes"})
    assert "Not sent: campaign 1 is paused" in refused.text
    resumed = editor.post(f"{campaign}/resume", data={"csrf_token": token})
    assert 'id="status">scheduled' in resumed.text
    now = editor.post(f"{campaign}/now", data={"csrf_token": token, "confirm": "yes"})
    assert "Sending now." in now.text
    cancelled = editor.post(f"{campaign}/cancel", data={"csrf_token": token})
    assert 'id="status">cancelled' in cancelled.text
    send_due(console.app, 1)
    assert outbox(console.app) == []
    with transaction(console.app.state.sessions) as session:
        actions = [e.action for e in audit.events(session, actor="editor@example.org")]
    for action in (
        "campaign.schedule",
        "campaign.pause",
        "campaign.resume",
        "campaign.send",
        "campaign.cancel",
    ):
        assert action in actions, action


def test_a_viewer_watches_but_cannot_reach_the_send_button(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = ready(console, editor)
    data = {
        **campaign_form(editor, url),
        "list": "ukraine",
        "when": "later",
        "at": local_in(console, 60),
    }
    campaign = (
        editor.post(f"{url}/campaign", data=data, follow_redirects=False)
        .headers["location"]
        .split("?")[0]
    )
    viewer = signed_in(Role.VIEWER)
    assert viewer.get(f"{url}/campaign").status_code == 403
    page = viewer.get(campaign)
    assert page.status_code == 200 and "Send now instead" not in page.text
    assert "Pause" not in page.text and "Cancel the rest" not in page.text
    assert viewer.get(f"{campaign}/progress").status_code == 200
    assert viewer.get(f"{campaign}/report").status_code == 200
    token = form_token(page.text)
    forged = {"csrf_token": token, "list": "ukraine", "when": "now", "confirm": "yes"}
    assert viewer.post(f"{url}/campaign", data=forged).status_code == 403
    for action in ("now", "pause", "cancel"):
        answer = viewer.post(f"{campaign}/{action}", data={"csrf_token": token, "confirm": "yes"})
        assert answer.status_code == 403, action
    assert 'id="status">scheduled' in viewer.get(campaign).text
