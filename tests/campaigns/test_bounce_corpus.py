"""Returned mail that nobody here wrote: GNU Mailman's corpus of real bounces, re-addressed
to our readers' VERP return paths and read by ``newsletter bounces process``.

The truth table (``fixtures/flufl_bounce/truth.csv``) comes from flufl.bounce's own test
expectations; its README says how. Each reader gets one sample, so a reader's status
says exactly what their report did.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner, Result

from newsletter.campaigns import verp
from newsletter.campaigns.bounces.parse import parse
from newsletter.campaigns.bounces.verdict import decide
from newsletter.campaigns.models import BounceEvent, Campaign
from newsletter.campaigns.states import BounceKind
from newsletter.cli.app import app
from newsletter.config import Settings
from subscribers.models import MailingList, Subscriber
from tests.campaigns.conftest import seed_audience

CORPUS = Path(__file__).parent / "fixtures" / "flufl_bounce"
with (CORPUS / "truth.csv").open(encoding="utf-8") as _fh:
    TRUTH = {row["file"]: row["truth"] for row in csv.DictReader(_fh)}
SAMPLES = sorted(TRUTH)
NEVER_SUPPRESS = {"temporary", "refused", "auto-reply", "not-a-bounce"}
_CLEAN = re.compile(r"^[^\s\x00-\x1f<>()\[\]\"',;:@]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


def readdressed(name: str, return_path: str) -> bytes:
    """The sample as our bounce mailbox receives it: sent to the reader's return path.

    The mbox ``From `` line is not part of the message; the top-level To: (and its
    folded lines) becomes the return path, and a Delivered-To: goes on top, as the
    receiving server adds it. Nothing else changes.
    """
    raw = (CORPUS / name).read_bytes()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"to:")
        if not skipping:
            kept.append(line)
    address = return_path.encode()
    return b"Delivered-To: %s\nTo: %s\n%s%s%s" % (address, address, b"\n".join(kept), sep, body)


def _seed(engine: Engine) -> dict[str, int]:
    """A reader per sample and three campaigns they were all sent; sample -> reader id."""
    ids = seed_audience(engine, len(SAMPLES))
    with engine.begin() as conn:
        list_id = conn.scalar(select(MailingList.id))
        for campaign_id in (1, 2, 3):
            conn.execute(
                insert(Campaign).values(
                    id=campaign_id, briefing_path="b.md", briefing_slug="b", source_text="",
                    subject="s", list_id=list_id, status="finished", stop_reason="",
                    lint_override=False, total=len(SAMPLES),
                )
            )  # fmt: skip
    return dict(zip(SAMPLES, ids, strict=True))


def _write_round(folder: Path, settings: Settings, readers: dict[str, int], campaign: int) -> Path:
    folder.mkdir()
    for name, reader in readers.items():
        path = folder / f"{Path(name).stem}.eml"
        path.write_bytes(readdressed(name, verp.return_path(settings, campaign, reader)))
    return folder


def _process(folder: Path) -> Result:
    result = CliRunner().invoke(app, ["bounces", "process", str(folder)])
    assert result.exit_code == 0, result.output
    return result


def _suppressed(engine: Engine, readers: dict[str, int]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(Subscriber.id, Subscriber.status))
        bounced = {sid for sid, status in rows if status != "active"}
    return {name for name, reader in readers.items() if reader in bounced}


def test_the_corpus_suppresses_dead_addresses_and_nobody_else(
    cli_env: Path, engine: Engine, settings: Settings
) -> None:
    readers = _seed(engine)
    permanent = {name for name, truth in TRUTH.items() if truth == "permanent"}
    harmless = {name for name, truth in TRUTH.items() if truth in NEVER_SUPPRESS}

    _process(_write_round(cli_env / "first", settings, readers, 1))
    after_one = _suppressed(engine, readers)
    assert not after_one & harmless  # no delay, auto-reply, refusal or reply marks anyone
    assert after_one == permanent  # every permanent failure, at its first report

    # The same readers' next two campaigns bounce the same way: nobody else is marked.
    _process(_write_round(cli_env / "second", settings, readers, 2))
    _process(_write_round(cli_env / "third", settings, readers, 3))
    assert _suppressed(engine, readers) == permanent
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(BounceEvent.subscriber_id, BounceEvent.kind)).all())
        untraced = conn.scalar(select(BounceEvent.id).where(BounceEvent.subscriber_id.is_(None)))
    assert untraced is None  # every report was traced by its token alone
    assert {name for name, reader in readers.items() if kinds.get(reader) == "delayed"} == {
        name for name, truth in TRUTH.items() if truth == "temporary"
    }
    assert kinds[readers["qmail_08.txt"]] == BounceKind.AUTO_REPLY
    assert kinds[readers["simple_42.txt"]] == BounceKind.POLICY
    assert readers["groupwise_03.txt"] not in kinds  # a person's reply is not recorded at all


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_gets_the_verdict_its_truth_says(name: str, settings: Settings) -> None:
    raw = readdressed(name, verp.return_path(settings, 1, 1))
    found = decide(parse(raw), raw)
    expected: dict[str, BounceKind | None] = {
        "temporary": BounceKind.DELAYED,
        "refused": BounceKind.POLICY,
        "auto-reply": BounceKind.AUTO_REPLY,
        "not-a-bounce": None,
        "permanent": BounceKind.HARD,
    }
    assert found.kind == expected[TRUTH[name]], found.rule
    assert found.rule  # staff can always see why
    # Whatever address the report names is clean, never our own return path.
    assert found.recipient == "" or _CLEAN.match(found.recipient), found.recipient
    assert not found.recipient.lower().startswith("bounces+")


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("exim_01.txt", "userx@its.example.nl"),  # Exim's "address:" loses its colon
        ("dsn_02.txt", "zzzzz@example.uk"),  # X.400 Final-Recipient: the original recipient
        ("dsn_09.txt", "userx@example.com"),  # X.400 with an RFC-822 attribute, likewise
        ("microsoft_04.txt", "userx@example.COM"),  # Exchange's SMTP=address
        ("dsn_04.txt", "userx@example.ch"),  # a relay's internal name: the original recipient
    ],
)
def test_the_failed_address_is_read_clean(name: str, address: str, settings: Settings) -> None:
    raw = readdressed(name, verp.return_path(settings, 1, 1))
    assert decide(parse(raw), raw).recipient == address


@settings_(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    name=st.sampled_from(SAMPLES),
    cut=st.integers(min_value=0, max_value=30_000),
    noise=st.binary(max_size=200),
)
def test_a_damaged_report_still_gets_a_verdict_and_a_reason(
    name: str, cut: int, noise: bytes
) -> None:
    """Truncated or garbled mail (a full disk, a bad relay) never stops a run."""
    raw = (CORPUS / name).read_bytes()[:cut] + noise
    found = decide(parse(raw), raw)
    assert found.rule
    assert found.recipient == "" or _CLEAN.match(found.recipient), found.recipient
