"""Staff adding one new address twice at once (two tabs, a double-click) make one person:
the second is told the address is already a subscriber, never a database error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from newsletter import database
from newsletter.database import transaction
from subscribers import consent, people
from subscribers.errors import Conflict
from subscribers.models import ConsentEvent, Subscriber

PARALLEL = 8


def test_parallel_adds_of_one_address_make_one_person(db_url: str) -> None:
    engine = database.make_engine(db_url)
    factory = database.session_factory(engine)
    start = threading.Barrier(PARALLEL)

    def add(_: int) -> str:
        start.wait()
        try:
            with transaction(factory) as session:
                people.add(session, "Same@Example.org", consent.Context(form="test"))
        except Conflict as refused:
            return str(refused)
        return "added"

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            outcomes = list(pool.map(add, range(PARALLEL)))
        with transaction(factory) as session:
            persons = session.scalar(select(func.count()).select_from(Subscriber))
            events = session.scalar(select(func.count()).select_from(ConsentEvent))
    finally:
        engine.dispose()
    assert outcomes.count("added") == 1
    assert all("is already a subscriber" in o for o in outcomes if o != "added")
    assert (persons, events) == (1, 1)
