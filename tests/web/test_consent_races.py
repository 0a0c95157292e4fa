"""Twenty clicks at once on a confirm or one-click link record exactly one consent change.

A reader double-clicks, a mail scanner follows the link beside them, a mail client
fires the one-click POST twice: the consent log must still say it once. The requests
go through a real uvicorn, so they meet in the database as they would in production.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.web.app import create_app
from subscribers import consent, people
from subscribers.models import ConsentEvent, Status
from tests.local import free_port, serving

PARALLEL = 20


@pytest.fixture
def site(settings: Settings, db_url: str) -> Iterator[tuple[str, Settings]]:
    port = free_port()
    settings = settings.model_copy(
        update={
            "database_url": db_url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "database_pool_size": PARALLEL,
            "database_pool_timeout": 120.0,  # every click waits its turn, none answers 503
        }
    )
    app = create_app(settings)
    with serving(app, port):
        yield f"http://127.0.0.1:{port}", settings
    app.state.engine.dispose()


def _all_at_once(send: Callable[[httpx.Client], httpx.Response]) -> list[int]:
    """Run ``send`` from PARALLEL threads released together; their status codes."""
    start = threading.Barrier(PARALLEL)

    def one(_: int) -> int:
        with httpx.Client(timeout=120, follow_redirects=True) as client:
            start.wait()
            return send(client).status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


def _events(settings: Settings, subscriber_id: int, action: str) -> int:
    engine_app = create_app(settings)
    try:
        with transaction(engine_app.state.sessions) as s:
            query = select(func.count()).where(
                ConsentEvent.subscriber_id == subscriber_id, ConsentEvent.action == action
            )
            return int(s.scalar(query) or 0)
    finally:
        engine_app.state.engine.dispose()


def _person(settings: Settings, status: Status) -> int:
    app = create_app(settings)
    try:
        with transaction(app.state.sessions) as s:
            context = consent.Context(form="test")
            return people.add(s, "reader@example.org", context, status=status).id
    finally:
        app.state.engine.dispose()


def test_parallel_confirmations_record_one_consent(site: tuple[str, Settings]) -> None:
    _, settings = site
    sid = _person(settings, Status.PENDING)
    url = links.confirm_url(settings, sid)
    codes = _all_at_once(lambda client: client.post(url))
    assert codes == [200] * PARALLEL
    assert _events(settings, sid, consent.CONFIRM) == 1


def test_parallel_one_clicks_record_one_unsubscribe(site: tuple[str, Settings]) -> None:
    base, settings = site
    sid = _person(settings, Status.ACTIVE)
    token = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 7})
    form = {"List-Unsubscribe": "One-Click"}
    codes = _all_at_once(lambda client: client.post(f"{base}/u/{token}", data=form))
    assert codes == [200] * PARALLEL
    assert _events(settings, sid, consent.UNSUBSCRIBE) == 1


def test_parallel_subscribes_of_one_new_address_make_one_person(
    site: tuple[str, Settings],
) -> None:
    base, _ = site

    def subscribe(client: httpx.Client) -> httpx.Response:
        page = client.get(f"{base}/subscribe")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match
        form = {"csrf_token": match.group(1), "email": "same@example.org", "name": "Ann"}
        return client.post(f"{base}/subscribe", data=form)

    codes = _all_at_once(subscribe)
    assert codes == [200] * PARALLEL  # each followed on to the check-email page
