"""The seed digest through SpamAssassin (Debian's package, local rules only: ``-L``).

A content rule that fires on our own template (a hidden preheader in a colour close to
its background cost HTML_FONT_LOW_CONTRAST) is a cost every reader's filter charges.
HTML_MESSAGE only says the message has an HTML part and scores 0: it is allowed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import Digest
from newsletter.digest.render import sample_person
from newsletter.mail.message import Identity
from tests.local import missing


def test_seed_digest_scores_at_most_zero_with_no_html_rule(
    example_digest: Digest, example: Briefing, settings: Settings
) -> None:
    spamassassin = shutil.which("spamassassin")
    if spamassassin is None:
        missing("Debian's spamassassin is not installed (make spamassassin)")
    identity = Identity(
        settings.sender_address, settings.sender_name, list_id="briefings.example.org"
    )
    raw = example_digest.message(identity, sample_person(settings, example))
    report = subprocess.run(
        [spamassassin, "-L", "-t"], input=raw, capture_output=True, timeout=300, check=False
    ).stdout.decode("utf-8", "replace")
    details = report[report.index("Content analysis details:") :]
    score = float(re.search(r"\((-?[\d.]+) points", details)[1])  # type: ignore[index]
    rules = re.findall(r"^\s*-?[\d.]+\s+([A-Z][A-Z0-9_]+)\s", details, re.M)
    assert score <= 0, details
    assert [r for r in rules if r.startswith("HTML_") and r != "HTML_MESSAGE"] == [], details
