"""Tracked links: only the stored URL, never for a forged token, machines told apart."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import tokens
from newsletter.results import linktable
from newsletter.results.clicks import ClickRecorder
from newsletter.results.models import CampaignLink, Click
from newsletter.web.redirect import LinkTables
from tests.results.conftest import Site, client, copies, path_of


def _clicks(sessions: sessionmaker[Session]) -> list[Click]:
    with sessions() as session:
        return list(session.scalars(select(Click).order_by(Click.id)))


def _frozen(app: object) -> None:
    """Hold every click until the app stops: the burst window never closes on its own."""
    app.state.clicks.clock = lambda: 0.0  # type: ignore[attr-defined]


def test_a_link_in_a_copy_redirects_to_the_briefings_url_and_counts_one_human_click(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    [first, *_] = copies(site.settings, sessions, site.campaign_id)
    with sessions() as session:
        table = linktable.load(session, site.campaign_id)
    assert table, "the campaign's link table was stored"
    assert table[0].url == "https://www.natowatch.org/paper/1?a=1&b=2"
    assert table[0].text, "the anchor text is kept with the link"
    assert len(first.tracked) == len(table) >= 3
    assert "/r/" in first.text
    with client(site) as browser:
        _frozen(site.app)
        answer = browser.get(path_of(first.tracked[0]), follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == table[0].url
    [click] = _clicks(sessions)
    assert (click.campaign_id, click.link_idx, click.machine) == (site.campaign_id, 0, False)


def _token(url: str) -> str:
    return url.rsplit("/r/", 1)[1]


def test_forged_edited_foreign_and_unknown_tokens_never_redirect(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    [first, *_] = copies(site.settings, sessions, site.campaign_id)
    real = _token(first.tracked[0])
    body, sig = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    edited_body = (
        base64.urlsafe_b64encode(json.dumps({**payload, "l": 1}).encode()).rstrip(b"=").decode()
    )
    secret = site.settings.secret
    bad = {
        "edited payload": f"{edited_body}.{sig}",
        "forged signature": f"{body}.{'A' * len(sig)}",
        "another site's key": tokens.sign(b"another-secret", linktable.CLICK, payload),
        "unknown link": tokens.sign(secret, linktable.CLICK, {"c": site.campaign_id, "l": 999}),
        "unknown campaign": tokens.sign(secret, linktable.CLICK, {"c": 424242, "l": 0}),
        "another purpose": tokens.sign(secret, "unsubscribe", payload),
        "a URL in the token": tokens.sign(
            secret, linktable.CLICK, {"c": site.campaign_id, "l": "https://evil.example"}
        ),
        "damaged": "not-a-token",
    }
    with client(site) as browser:
        for what, token in bad.items():
            answer = browser.get(f"/r/{token}", follow_redirects=False)
            assert answer.status_code == 404, what
            assert "location" not in answer.headers, what
    assert _clicks(sessions) == []


def test_head_requests_and_a_scanner_burst_are_machine_clicks(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    first, second, third = copies(site.settings, sessions, site.campaign_id)
    assert len(first.tracked) >= 3, "the example briefing has several links"
    with client(site, "203.0.113.9") as scanner:
        _frozen(site.app)
        answer = scanner.head(path_of(second.tracked[0]), follow_redirects=False)
        assert answer.status_code == 302
        for url in first.tracked:  # every link of one copy at once
            assert scanner.get(path_of(url), follow_redirects=False).status_code == 302
    with client(site, "198.51.100.20") as reader:
        _frozen(site.app)
        reader.get(path_of(third.tracked[1]), follow_redirects=False)
    found = _clicks(sessions)
    assert len(found) == len(first.tracked) + 2
    head, *burst, human = found
    assert (head.machine, head.reason) == (True, "head")
    assert all(c.machine and c.reason == "burst" for c in burst)
    assert (human.machine, human.link_idx) == (False, 1)


def test_aggregate_mode_stores_nothing_that_identifies_a_reader(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "aggregate":
        return
    every = copies(site.settings, sessions, site.campaign_id)
    # a token names the campaign, the link and a random per-copy nonce: never the reader
    payload = tokens.verify(site.settings.secret, linktable.CLICK, _token(every[0].tracked[0]))
    assert set(payload) == {"c", "l", "iat", "k"}
    again = copies(site.settings, sessions, site.campaign_id)
    assert _payload(again[0].tracked[0])["k"] != payload["k"], "drawn per copy, not per reader"
    for n, copy in enumerate(every):
        with client(site, f"198.51.100.{n + 1}") as reader:
            _frozen(site.app)
            reader.get(path_of(copy.tracked[0]), follow_redirects=False)
    with sessions() as session:
        columns = {c["name"] for c in inspect(session.get_bind()).get_columns("clicks")}
        rows = session.execute(select(Click.__table__)).mappings().all()
    kept = {"id", "campaign_id", "link_idx", "subscriber_id", "machine", "reason", "clicked_at"}
    assert columns == kept
    assert len(rows) == 3
    assert all(row["subscriber_id"] is None for row in rows)
    emails = {f"reader{n}@example.net" for n in range(10)}
    for row in rows:
        assert not {str(v) for v in row.values()} & emails
        assert not any("198.51.100" in str(v) for v in row.values())


def test_person_mode_names_the_reader_and_erasure_removes_their_clicks(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "person":
        return
    from newsletter import privacy
    from newsletter.database import transaction
    from subscribers import consent
    from subscribers.models import Subscriber

    first, second, _ = copies(site.settings, sessions, site.campaign_id)
    assert first.tracked[0] != second.tracked[0], "each reader's copy has its own tokens"
    with client(site) as reader:
        _frozen(site.app)
        reader.get(path_of(first.tracked[0]), follow_redirects=False)
        reader.get(path_of(second.tracked[0]), follow_redirects=False)
    assert sorted(c.subscriber_id or 0 for c in _clicks(sessions)) == sorted(
        [first.subscriber_id, second.subscriber_id]
    )
    with transaction(sessions) as session:
        address = session.get(Subscriber, first.subscriber_id).email  # type: ignore[union-attr]
        [held] = privacy.export_person(session, address)["clicks"]
        assert held["link"] == "https://www.natowatch.org/paper/1?a=1&b=2"
        privacy.erase(session, address, consent.Context(form="test"))
    assert [c.subscriber_id for c in _clicks(sessions)] == [second.subscriber_id]


def test_tracking_off_leaves_links_as_written(site: Site, sessions: sessionmaker[Session]) -> None:
    cfg = site.settings.model_copy(update={"tracking": "off"})
    [first, *_] = copies(cfg, sessions, site.campaign_id)
    assert first.tracked == []
    assert 'href="https://www.natowatch.org/paper/1?a=1&amp;b=2"' in first.html
    with sessions() as session:
        assert session.scalars(select(CampaignLink)).first() is None


def test_a_started_campaign_keeps_one_link_table_across_workers(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    first = copies(site.settings, sessions, site.campaign_id)[0].tracked
    again = copies(site.settings, sessions, site.campaign_id)[0].tracked
    assert [_payload(u)["l"] for u in first] == [_payload(u)["l"] for u in again]


def _payload(url: str) -> dict[str, object]:
    body = _token(url).split(".")[0]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return data


def test_aggregate_mode_judges_a_burst_per_copy_not_per_office_address(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "aggregate":
        return
    first, second, third = copies(site.settings, sessions, site.campaign_id)
    nonces = [{_payload(url)["k"] for url in copy.tracked} for copy in (first, second, third)]
    assert all(len(n) == 1 for n in nonces), "every link of a copy carries that copy's nonce"
    assert len(set.union(*nonces)) == 3, "each copy has its own"
    office = "192.0.2.50"  # three readers behind one address, each following another link
    with client(site, office) as browser:
        _frozen(site.app)
        for n, copy in enumerate((first, second, third)):
            assert browser.get(path_of(copy.tracked[n]), follow_redirects=False).status_code == 302
    readers = _clicks(sessions)
    assert [(c.link_idx, c.machine) for c in readers] == [(0, False), (1, False), (2, False)]
    with client(site, office) as scanner:  # the same address now fetches one whole copy
        _frozen(site.app)
        for url in second.tracked:
            assert scanner.get(path_of(url), follow_redirects=False).status_code == 302
    scanned = _clicks(sessions)[len(readers) :]
    assert len(scanned) == len(second.tracked) >= 3
    assert all(c.machine and c.reason == "burst" for c in scanned)


def test_a_token_without_a_copy_nonce_is_still_judged_by_the_client_address(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "aggregate":
        return
    copies(site.settings, sessions, site.campaign_id)  # stores the link table
    secret = site.settings.secret
    shared = [
        tokens.sign(secret, linktable.CLICK, {"c": site.campaign_id, "l": i}) for i in range(3)
    ]
    with client(site, "192.0.2.60") as browser:
        _frozen(site.app)
        for token in shared:
            assert browser.get(f"/r/{token}", follow_redirects=False).status_code == 302
    assert [c.machine for c in _clicks(sessions)] == [True, True, True]


def test_the_fast_answer_carries_the_same_security_headers_as_the_route(
    site: Site, sessions: sessionmaker[Session]
) -> None:
    [first, *_] = copies(site.settings, sessions, site.campaign_id)
    with client(site) as browser:
        _frozen(site.app)
        tables = site.app.state.link_tables
        assert tables.get(site.campaign_id) is None
        by_route = browser.get(path_of(first.tracked[0]), follow_redirects=False)
        assert tables.get(site.campaign_id) is not None, "the route read the table"
        fast = browser.get(path_of(first.tracked[0]), follow_redirects=False)
        head = browser.head(path_of(first.tracked[1]), follow_redirects=False)
    for answer in (by_route, fast, head):
        assert answer.status_code == 302
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert dict(fast.headers) == dict(by_route.headers)
    assert [(c.link_idx, c.reason) for c in _clicks(sessions)] == [(0, ""), (0, ""), (1, "head")]


def test_a_batch_written_through_the_driver_reads_back_as_recorded(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "aggregate":
        return
    at = datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=UTC)
    recorder = ClickRecorder(site.app.state.engine, clock=lambda: 0.0, wall=lambda: at)
    recorder.record(site.campaign_id, 2, reader=None, key="k1", links_in_copy=5, head=True)
    recorder.record(site.campaign_id, 1, reader=None, key="k2", links_in_copy=5)
    assert recorder.close() == 2
    rows = [
        (c.link_idx, c.machine, c.reason, c.subscriber_id, c.clicked_at) for c in _clicks(sessions)
    ]
    assert rows == [(2, True, "head", None, at), (1, False, "", None, at)]


def test_first_clicks_arriving_together_read_the_link_table_once(
    site: Site, sessions: sessionmaker[Session], mode: str
) -> None:
    if mode != "aggregate":
        return
    copies(site.settings, sessions, site.campaign_id)  # stores the link table

    class Counted(LinkTables):
        reads = 0

        def load(self, campaign_id: int) -> tuple[bytes, ...]:
            Counted.reads += 1
            return super().load(campaign_id)

    tables = Counted(sessions)

    async def together() -> list[tuple[bytes, ...]]:
        return await asyncio.gather(*(tables.fetch(site.campaign_id) for _ in range(20)))

    found = asyncio.run(together())
    assert Counted.reads == 1
    assert len(set(found)) == 1 and found[0][0] == b"https://www.natowatch.org/paper/1?a=1&b=2"
