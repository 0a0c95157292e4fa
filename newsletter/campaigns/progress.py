"""What the worker has done: per batch (for progress bars) and since it started."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from newsletter.campaigns.ledger import Outcome
from newsletter.campaigns.states import RecipientState


@dataclass
class BatchReport:
    """What one batch did, for progress bars."""

    campaign_id: int
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    released: int = 0

    @classmethod
    def of(cls, campaign_id: int, outcomes: Iterable[Outcome]) -> BatchReport:
        report = cls(campaign_id)
        for o in outcomes:
            if o.state == RecipientState.QUEUED:
                report.released += 1
            elif o.state == RecipientState.SENT:
                report.sent += 1
            elif o.state == RecipientState.FAILED:
                report.failed += 1
            elif o.state == RecipientState.DEFERRED:
                report.deferred += 1
            elif o.state == RecipientState.SKIPPED:
                report.skipped += 1
        return report


@dataclass
class WorkerStats:
    batches: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    stopped_campaigns: list[int] = field(default_factory=list)

    def add(self, report: BatchReport) -> None:
        self.batches += 1
        self.sent += report.sent
        self.failed += report.failed
        self.deferred += report.deferred
        self.skipped += report.skipped
