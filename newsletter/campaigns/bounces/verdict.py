"""What one returned message means, and which rule or detector said so.

In order, the first that knows decides:
1. a feedback report (RFC 5965): its Feedback-Type;
2. a delivery status notification (RFC 3464): each recipient's Action and Status
   (``delayed`` is a warning, ``failed`` is classified by its status and diagnostic);
3. an automatic answer (RFC 3834 ``Auto-Submitted: auto-replied``, ``X-Autoreply``,
   ``Precedence: auto_reply``, an "Out of office" subject) that is not itself a bounce;
4. in a bounce written for people: a delay warning, then SMTP status codes, then
   phrases (mailbox full, unknown user, refused as spam...);
5. ``flufl.bounce``'s detectors, for historical formats without any status;
6. a bounce that only says delivery failed, with no reason given: a hard bounce.
Anything else is not a bounce. Whose report it is never comes from here: only the
VERP token or our Message-ID names a reader (see ``process``).

A returned message that is not a delay warning is final: the server has stopped trying, so
a temporary status in it (4.4.7 "message expired", 4.4.1 "no answer from host") means the
briefing was lost, and it counts as hard like any other failure. The exception is 4.2.2, a
mailbox its provider calls full for now (Gmail's "OverQuotaTemp"): soft, counted to the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.campaigns.bounces import detector
from newsletter.campaigns.bounces.classify import (
    Finding,
    classify,
    classify_feedback,
    enhanced_status,
    read_failure,
    read_text,
)
from newsletter.campaigns.bounces.parse import ADDRESS, RecipientStatus, ReturnedMail, clean_address
from newsletter.campaigns.states import BounceKind


@dataclass(frozen=True)
class Verdict:
    kind: BounceKind | None  # None: not a bounce, nothing is recorded
    recipient: str  # the failed address the report names (evidence only), or ""
    status: str
    diagnostic: str
    source: str  # dsn, arf, headers, text, flufl.bounce
    rule: str  # why, in words staff can check against the message


#: Kinds recorded but never counted against an address.
NEVER_COUNTED = frozenset({BounceKind.POLICY, BounceKind.DELAYED, BounceKind.AUTO_REPLY})
# When a report has several recipient blocks, the one that tells most about the reader.
_SEVERITY = [
    BounceKind.HARD,
    BounceKind.COMPLAINT,
    BounceKind.SOFT,
    BounceKind.POLICY,
    BounceKind.DELAYED,
    BounceKind.AUTO_REPLY,
]
_BOUNCE_SENDER = re.compile(
    r"mailer[-_ ]?daemon|postmaster|mail delivery|delivery subsystem|mail system|"
    r"mail administrator|mdaemon|mail ?router|system administrator",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|has failed|notification|problem|report|"
    r"warning)|failure notice|returned mail|returned to sender|mail delivery|could not be "
    r"delivered|delivery failed|nondeliver|non-deliver|failed delivery|mail error|"
    r"message not delivered|delayed mail|delivery delayed|not delivered|mail system error|"
    r"warning: message|bounce|rejected",
    re.IGNORECASE,
)
# What only mail software writes at the top of a bounce. Not "could not be delivered" or
# "undeliverable": a person's reply quoting one of our briefings may say that.
_BOUNCE_TEXT = re.compile(
    r"mail delivery software|this is the mail system at|qmail-send program|"
    r"delivery to the following recipients? (failed|has been delayed)|"
    r"the following address(es)? failed|delivery status notification",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response|antwort)|"
    r"auto:|autoreply|vacation|away from (my|the) (desk|office)|on (holiday|leave|vacation)|"
    r"abwesenheit|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|"
    r"fuori sede|afwezig|automatisch antwoord)",
    re.IGNORECASE,
)


def _auto_reply_marker(report: ReturnedMail) -> str:
    """The header or subject by which a message says it is an automatic answer, or ""."""
    for header in report.auto:
        name, _, value = header.partition(": ")
        value = value.lower()
        if name == "Auto-Submitted" and value.startswith("auto-replied"):
            return header
        if name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder") and value:
            return header
        if name in ("Precedence", "X-Precedence") and value.startswith("auto_reply"):
            return header
    if _AUTO_SUBJECT.search(report.subject):
        return f"Subject: {report.subject}"
    return ""


def looks_like_bounce(report: ReturnedMail) -> bool:
    """Sent by a mail server's bounce machinery rather than by a person."""
    return bool(
        report.return_path.replace(" ", "") == "<>"
        or _BOUNCE_SENDER.search(report.sender)
        or _BOUNCE_SUBJECT.search(report.subject)
        or _BOUNCE_TEXT.search(report.text[:2000])
    )


def _from_block(block: RecipientStatus, report: ReturnedMail) -> Verdict:
    action = block.action
    said = f"Action {action}" + (f", Status {block.status}" if block.status else "")
    if action == "delayed":
        rule = f"RFC 3464: {said}: still being tried, not a failure"
        return Verdict(
            BounceKind.DELAYED, block.recipient, block.status, block.diagnostic, "dsn", rule
        )
    if action in ("delivered", "relayed", "expanded"):
        rule = f"RFC 3464: {said}: a delivery receipt, not a bounce"
        return Verdict(None, block.recipient, block.status, block.diagnostic, "dsn", rule)
    kind = classify(block.status, block.diagnostic)
    if kind is not None:
        rule = f"RFC 3464: {said}" + (f" ({block.diagnostic[:160]})" if block.diagnostic else "")
        kind, rule = _final(kind, rule, enhanced_status(block.status, block.diagnostic))
        return Verdict(kind, block.recipient, block.status, block.diagnostic, "dsn", rule)
    # Failed, but no usable status: what the diagnostic or the report's words say.
    finding = read_text(block.diagnostic) or read_text(report.text)
    if finding is not None and finding.kind != BounceKind.DELAYED:
        said = f"RFC 3464: {said}, no status; {finding.rule}"
        kind, rule = _final(finding.kind, said, finding.status)
        return Verdict(kind, block.recipient, finding.status, finding.diagnostic, "dsn", rule)
    rule = f"RFC 3464: {said}: the server gave up, no reason given"
    return Verdict(BounceKind.HARD, block.recipient, block.status, block.diagnostic, "dsn", rule)


_GAVE_UP = "; final: the server stopped trying, so the briefing was lost"


def _final(kind: BounceKind, rule: str, status: str) -> tuple[BounceKind, str]:
    """A temporary status in a failure report: the server has given up, so it is hard."""
    if kind != BounceKind.SOFT or status.endswith(".2.2"):
        return kind, rule
    return BounceKind.HARD, rule + _GAVE_UP


def _severity(verdict: Verdict) -> int:
    return _SEVERITY.index(verdict.kind) if verdict.kind is not None else len(_SEVERITY)


def _text_recipient(
    report: ReturnedMail,
    raw: bytes,
    diagnostic: str = "",
    detection: detector.Detection | None = None,
) -> str:
    """The failed address as the report names it (evidence only), or "".

    What the detectors read as the failed address, else the first address in the
    diagnostic line, else in the text; never one of ours or a mail server's own.
    """
    detection = detection or detector.detect(raw)
    found = detection.addresses if detection else ()
    candidates = [*found, *ADDRESS.findall(diagnostic), *ADDRESS.findall(report.text)]
    for candidate in candidates:
        address = clean_address(candidate)
        lowered = address.lower()
        if address and not lowered.startswith(("bounces+", "mailer-daemon", "postmaster")):
            return address
    return ""


def _from_finding(finding: Finding, report: ReturnedMail, raw: bytes, source: str) -> Verdict:
    recipient = _text_recipient(report, raw, finding.diagnostic)
    kind, rule = _final(finding.kind, finding.rule, finding.status)
    return Verdict(kind, recipient, finding.status, finding.diagnostic, source, rule)


def decide(report: ReturnedMail, raw: bytes) -> Verdict:
    """The one verdict for a returned message (a report about several recipients counts
    once, by its most telling block: our mail goes to one reader per message)."""
    if report.kind == "arf":
        kind = classify_feedback(report.feedback_type)
        rule = f"RFC 5965 feedback report, Feedback-Type {report.feedback_type or 'missing'}"
        return Verdict(kind, report.feedback_recipient, "", report.feedback_type, "arf", rule)
    if report.kind == "dsn":
        verdicts = [_from_block(block, report) for block in report.recipients]
        return min(verdicts, key=_severity)
    bounce = looks_like_bounce(report)
    marker = _auto_reply_marker(report)
    if marker and not bounce:
        rule = f"an automatic answer ({marker}), not a bounce"
        return Verdict(BounceKind.AUTO_REPLY, "", "", marker, "headers", rule)
    if bounce:
        finding = read_text(report.text)
        if finding is not None:
            return _from_finding(finding, report, raw, "text")
    detection = detector.detect(raw)
    if detection is not None:
        temporary = detection.failure == "temporary"
        kind = BounceKind.DELAYED if temporary else BounceKind.HARD
        rule = f"{detector.NAME} recognised a {detection.failure} failure"
        recipient = _text_recipient(report, raw, detection=detection)
        return Verdict(kind, recipient, "", "", "flufl.bounce", rule)
    if bounce:
        finding = read_failure(report.text)
        if finding is not None:
            return _from_finding(finding, report, raw, "text")
    why = (
        "a bounce with no status, reason or failure we can read"
        if bounce
        else ("no delivery status, no sign of a mail server's bounce, no detector recognised it")
    )
    return Verdict(None, "", "", "", "none", f"not a bounce: {why}")
