"""Who a campaign would reach if it started now: the count staff see before they send.

The same rule as the snapshot ``Ledger.start`` takes when the send begins: active people
subscribed to the list and, when a topic is chosen, to that topic too.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from subscribers.models import Status, Subscriber, Subscription


def count(session: Session, list_id: int, topic_list_id: int | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            Subscription.list_id == list_id,
            Subscription.subscribed.is_(True),
            Subscriber.status == Status.ACTIVE,
        )
    )
    if topic_list_id is not None:
        topic = aliased(Subscription)
        query = query.where(
            exists().where(
                topic.subscriber_id == Subscriber.id,
                topic.list_id == topic_list_id,
                topic.subscribed.is_(True),
            )
        )
    return int(session.scalar(query) or 0)
