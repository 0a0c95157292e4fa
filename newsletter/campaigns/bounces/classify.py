"""Is a returned message the address's fault, and how badly? Pure rules over SMTP statuses.

- 5.x.x: hard (the receiving server gave up on the message for good), except:
- 4.x.x: soft, and so is 4.2.2 (a mailbox full for now: the server may take it later);
- 5.7.x, 5.6.x, 5.3.4 and replies that talk about spam, block lists or policy: a
  rejection of *our* mail (reputation, authentication, content), never blamed on the
  address;
- ``delayed``, ``delivered``, ``relayed`` and ``expanded`` actions are not bounces;
- feedback reports: ``abuse`` and ``other`` are complaints, ``not-spam`` is nothing, and
  the rest (``auth-failure``, ``fraud``, ``virus``) are policy events.

Bounces written only for people are read by ``read_text``: first whether they are a
delay warning, then the SMTP status codes in them, then known phrases (the same
mailbox-full, policy and unknown-mailbox words as above).

A full mailbox, or a server that stayed unreachable until the sender stopped trying, is
hard once the report is final (5.2.2, or a non-delivery report that is not a delay
warning). RFC 3463 calls a full mailbox persistent rather than permanent, and some large
senders wait for several; but a briefing goes out monthly, so waiting for three would mail
a dead address (most mailboxes that stay full are abandoned) for a season, each bounce
counted against our reputation by the receiving providers. The reader's page shows the
reason, and confirming again (or reactivation by staff) gives the address a clean slate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.campaigns.states import BounceKind

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![.\d])")
_SMTP_CODE = re.compile(r"(?<![\d.])([245]\d\d)\b")
_POLICY_WORDS = re.compile(
    r"spam|blocklist|blacklist|block list|black list|blocked|reputation|policy|"
    r"dmarc|spf|dkim|not authori[sz]ed|content rejected|rbl|spamhaus",
    re.IGNORECASE,
)
_MAILBOX_WORDS = re.compile(
    r"user unknown|no such user|does not exist|doesn'?t exist|unknown user|"
    r"mailbox unavailable|address rejected|recipient rejected|invalid recipient|no mailbox|"
    r"disabled|no such (mailbox|recipient|address|person|account|domain|local user)|"
    r"unknown (local[- ]?part|recipient|address|mailbox|alias)|recipient unknown|"
    r"addressee unknown|not a valid (user|recipient|mailbox|address)|"
    r"invalid (address|mailbox|user)|(user|mailbox|recipient) not found|not found in|"
    r"unrouteable|unroutable|host unknown|unknown host|host not found|domain not found|"
    r"bad destination|account (has been |is )?(deactivated|suspended|closed|expired|"
    r"inactive|deleted)|(mailbox|account|user) (is )?(inactive|closed|deactivated)|"
    r"no longer (valid|active|exists|in use|available)|not (a )?known user|"
    r"not our customer|unknown or illegal|is not accepting mail|"
    r"(does not|doesn'?t) have an? [\w.-]{0,30} ?account|"
    r"no account|bad address|illegal address|non-?existent|not listed",
    re.IGNORECASE,
)
_FULL_WORDS = re.compile(
    r"mail ?box (is )?full|full mail ?box|over ?quota|quota (exceeded|exceed)|exceed\w* "
    r"(the |its |his |her |their )?(allowed |storage |mailbox |disk )?(size|quota|storage)|"
    r"insufficient (disk |system )?(space|storage)|mail ?box space not enough|"
    r"storage (space )?(is )?full|disk quota|out of (disk )?space|too much mail",
    re.IGNORECASE,
)
# The server tried for days and gave up: the message is lost, and an address whose server
# stays unreachable that long has usually gone.
_GAVE_UP_WORDS = re.compile(
    r"maximum delivery attempts|not going to try again|in the queue too long|"
    r"retry timeout exceeded|maximum[- ]time[- ]expired|could not be delivered for \d+|"
    r"server (unavailable|busy)|unavailable or busy|connection (timed out|refused)",
    re.IGNORECASE,
)
_DELAY_WORDS = re.compile(
    r"not yet been delivered|has been delayed|is delayed|delivery delayed|delayed \d+|"
    r"warning message only|do not need to (resend|take any action)|do not resend|"
    r"attempts will continue|will continue to (try|attempt|retry)|will be retried|"
    r"still being retried|will retry|will be tried again|postponed|advisory[- ]only|"
    r"delivery status notification \(delay\)|this is just a warning",
    re.IGNORECASE,
)
NOT_BOUNCES = frozenset({"delayed", "delivered", "relayed", "expanded"})


def enhanced_status(status: str, diagnostic: str = "", code: int | None = None) -> str:
    """The RFC 3463 status (``5.1.1``) from the status field, the reply text or the code."""
    for text in (status, diagnostic):
        match = _ENHANCED.search(text or "")
        if match:
            return match.group(0)
    if code is None:
        match = _SMTP_CODE.search(diagnostic or "")
        code = int(match.group(1)) if match else None
    if code is not None and code >= 400:
        return f"{str(code)[0]}.0.0"
    return ""


def classify(
    status: str, diagnostic: str = "", *, action: str = "failed", code: int | None = None
) -> BounceKind | None:
    """The kind of bounce, or None when the message is not a bounce at all."""
    if action.lower() in NOT_BOUNCES:
        return None
    full = enhanced_status(status, diagnostic, code)
    if not full:
        return None
    klass, subject, detail = (int(x) for x in full.split("."))
    if klass == 2:
        return None
    if klass == 4:
        return BounceKind.SOFT
    said = f"{status} {diagnostic or ''}"
    if subject in (6, 7) or (subject, detail) == (3, 4):
        return BounceKind.POLICY
    if _POLICY_WORDS.search(said) and not _MAILBOX_WORDS.search(said):
        return BounceKind.POLICY
    return BounceKind.HARD


#: Feedback types (RFC 5965) in which the reader tells their provider they object to our mail.
COMPLAINT_TYPES = frozenset({"abuse", "other"})


def classify_feedback(feedback_type: str) -> BounceKind | None:
    """ARF: only ``abuse`` (and ``other``) is a reader's complaint; ``not-spam`` is nothing.

    ``auth-failure`` (RFC 6591: a DMARC, DKIM or SPF failure, perhaps a forgery of our
    domain), ``fraud`` and ``virus`` are about the message or whoever sent it, not a
    sign that the reader does not want us: recorded as policy, never blamed on the address.
    """
    kind = feedback_type.strip().lower()
    if kind == "not-spam":
        return None
    return BounceKind.COMPLAINT if kind in COMPLAINT_TYPES else BounceKind.POLICY


@dataclass(frozen=True)
class Finding:
    """What the text of a bounce says, and the words that say it."""

    kind: BounceKind
    status: str
    diagnostic: str
    rule: str


_REPLY_CODE = re.compile(
    r"(?:^|[:>\])]|said|error|code|response|reply|replied|status)[:\s(]*([45][0-5]\d)(?:[ \-):]|$)",
    re.IGNORECASE | re.MULTILINE,
)


def _code_lines(lines: list[str]) -> list[tuple[str, int]]:
    """(status, line index) for every line with an SMTP status, most telling first.

    A specific permanent status (5.1.1) beats a bare one (550 alone is ``5.0.0``),
    which beats any temporary one: a bounce that quotes a 4xx from an earlier try and
    then a 5xx failed for the 5xx.
    """
    found: list[tuple[int, str, int]] = []
    for index, line in enumerate(lines):
        enhanced = _ENHANCED.search(line)
        if enhanced and enhanced.group(1) != "2":
            status = enhanced.group(0)
        else:
            code = _REPLY_CODE.search(line)
            if not code:
                continue
            status = f"{code.group(1)[0]}.0.0"
        rank = (0 if status[0] == "5" else 2) + (1 if status.endswith(".0.0") else 0)
        found.append((rank, status, index))
    return [(status, index) for _, status, index in sorted(found, key=lambda f: f[0])]


def _quote(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def read_text(text: str) -> Finding | None:
    """A delay warning, an SMTP status, or a known phrase in a bounce written for people."""
    delay = _DELAY_WORDS.search(text)
    if delay:
        return Finding(
            BounceKind.DELAYED, "", _line_around(text, delay.start()),
            f'text says the mail is delayed, not lost ("{delay.group(0)}")',
        )  # fmt: skip
    lines = [line.strip() for line in text.splitlines()]
    coded = _code_lines(lines)
    if coded:
        status, index = coded[0]
        # A reply is often folded over several lines (Gmail's 550-5.7.1 ... spam).
        diagnostic = _quote(" ".join(lines[index : index + 4]))
        kind = classify(status, diagnostic)
        if kind is not None:
            return Finding(
                kind,
                status,
                diagnostic,
                f'SMTP status {status} in the text ("{_quote(lines[index], 120)}")',
            )
    for words, kind, what in (
        (_FULL_WORDS, BounceKind.HARD, "a full mailbox"),
        (_GAVE_UP_WORDS, BounceKind.HARD, "a server that gave up retrying"),
        (_MAILBOX_WORDS, BounceKind.HARD, "an address that does not work"),
        (_POLICY_WORDS, BounceKind.POLICY, "a refusal of our mail (policy)"),
    ):
        match = words.search(text)
        if match:
            line = _line_around(text, match.start())
            return Finding(kind, "", line, f'text names {what} ("{match.group(0)}")')
    return None


_FAILED_WORDS = re.compile(
    r"could not be delivered|couldn'?t be delivered|undeliverable|undelivered|"
    r"delivery (has )?failed|failed permanently|permanent (error|failure|fatal)|"
    r"unable to deliver|was not delivered|not be delivered|did not reach|"
    r"delivery failure|fatal error|returned mail|mail delivery failed",
    re.IGNORECASE,
)


def read_failure(text: str) -> Finding | None:
    """The last resort: a bounce that says only that delivery failed, with no reason."""
    match = _FAILED_WORDS.search(text)
    if not match:
        return None
    line = _line_around(text, match.start())
    return Finding(BounceKind.HARD, "", line, f'text says delivery failed ("{match.group(0)}")')


def _line_around(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return _quote(text[start : end if end >= 0 else None])
