"""Where returned mail is read from: a Maildir, an mbox file, a folder of .eml files, or IMAP.

Reading never changes the mailbox: processing is idempotent (every event has a
fingerprint), so running the command twice over the same mail counts nothing twice.
"""

from __future__ import annotations

import base64
import imaplib
import ipaddress
import mailbox
import ssl
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.errors import ConfigError, NewsletterError, NotFound


class MailboxError(NewsletterError, OSError):
    """A source that cannot be read (not a mailbox, IMAP login refused...)."""


def read(source: str) -> Iterator[bytes]:
    """The raw bytes of every message in ``source``."""
    if source.startswith(("imap://", "imaps://")):
        yield from _imap(source)
        return
    path = Path(source)
    if not path.exists():
        raise NotFound(f"{source}: no such Maildir, mbox or file")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in box.iterkeys():
                yield box.get_bytes(key)
            return
        for item in sorted(path.iterdir()):
            if item.is_file() and item.suffix.lower() in (".eml", ".msg", ".txt"):
                yield item.read_bytes()
        return
    head = path.read_bytes()[:5]
    if head == b"From ":
        box_m = mailbox.mbox(path, create=False)
        try:
            for key in box_m.iterkeys():
                yield box_m.get_bytes(key)
        finally:  # an mbox keeps its file open until closed; a reader may stop half-way
            box_m.close()
        return
    yield path.read_bytes()


_TIMEOUT = 60.0  # seconds without an answer before a dead server is an error, not a hang
_BATCH = 100  # messages per UID FETCH: few round trips, and never the whole folder in memory


def _imap(url: str) -> Iterator[bytes]:
    """``imaps://user:password@host[:port]/FOLDER``: every message of FOLDER, read-only.

    The folder is opened with EXAMINE and bodies fetched with ``BODY.PEEK[]``, so nothing
    is marked read or changed. ``imaps://`` (port 993) verifies the server's certificate
    against the system's trusted CAs. For a private CA or a self-signed server, point
    ``SSL_CERT_FILE`` to a bundle that includes it along with the public CAs: OpenSSL reads
    that file *instead of* its default CA file (only the CA directory, or ``SSL_CERT_DIR``,
    still counts besides it). ``imap://`` (port 143) is plain only
    to this machine (localhost, 127.0.0.0/8, ::1); to any other host it upgrades with
    STARTTLS, verified the same way, and refuses a server that does not offer it, so the
    password never crosses the network in clear. ``imap://...?starttls=1`` asks for that
    upgrade to this machine too (a local server that insists on TLS, or a tunnel whose far
    end is elsewhere). The folder is a path as the server names it (``INBOX``,
    ``Returned mail``, ``INBOX.Bounces``), percent-encoded in the URL when it has spaces;
    non-ASCII names are sent in IMAP's modified UTF-7. Messages are fetched
    100 at a time, so a large folder costs few round trips and bounded memory. Errors
    name the host and folder, never the credentials, and the connection is always logged out.
    """
    parts = urlsplit(url)
    shape = "an IMAP source looks like imaps://user:password@host[:port]/INBOX"
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{shape} (the port is a number)") from None
    if not parts.hostname or not parts.username:
        raise ConfigError(shape)
    starttls = _starttls_option(parts.scheme, parts.query)
    host = parts.hostname
    password = unquote(parts.password or "")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    where = f"cannot read {host}/{folder} over IMAP"
    context = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
    client: imaplib.IMAP4 | None = None
    try:
        if parts.scheme == "imaps":
            client = imaplib.IMAP4_SSL(host, port or 993, ssl_context=context, timeout=_TIMEOUT)
        else:
            client = imaplib.IMAP4(host, port or 143, timeout=_TIMEOUT)
            if starttls or not _is_local(host):
                if "STARTTLS" not in client.capabilities:
                    raise MailboxError(
                        f"{where}: the server offers no STARTTLS and the password would "
                        "cross the network in clear; use imaps://"
                    )
                client.starttls(context)
        client.login(unquote(parts.username), password)
        status, detail = client.select(_quote(_utf7(folder)), readonly=True)
        if status != "OK":
            raise MailboxError(f"{where}: {_text(detail) or 'no such folder'}")
        status, found = client.uid("SEARCH", "ALL")
        if status != "OK":
            raise MailboxError(f"{where}: the search failed: {_text(found)}")
        uids = b" ".join(line for line in found if isinstance(line, bytes)).split()
        for start in range(0, len(uids), _BATCH):
            batch = b",".join(uids[start : start + _BATCH]).decode("ascii")
            status, fetched = client.uid("FETCH", batch, "(BODY.PEEK[])")
            if status != "OK":
                raise MailboxError(f"{where}: fetching messages failed: {_text(fetched)}")
            for item in fetched:
                if isinstance(item, tuple):
                    # IMAP sends CRLF; a Maildir or mbox holds LF. The same message from
                    # either source is the same bytes, so its fingerprint is the same too.
                    yield bytes(item[1]).replace(b"\r\n", b"\n")
    except MailboxError:
        raise
    except (OSError, imaplib.IMAP4.error) as exc:
        reason = _text(exc.args[:1] if isinstance(exc, imaplib.IMAP4.error) else [exc])
        if password:
            reason = reason.replace(password, "***")
        raise MailboxError(f"{where}: {reason}") from None
    finally:
        if client is not None:
            with suppress(OSError, imaplib.IMAP4.error):
                client.logout()


def _starttls_option(scheme: str, query: str) -> bool:
    """Whether the URL asks for STARTTLS even to this machine (``?starttls=1``).

    Anything else in the query is refused rather than ignored: a misspelt option would
    otherwise silently leave a connection plain.
    """
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"starttls"})
    if unknown:
        raise ConfigError(f"unknown IMAP URL option {unknown[0]!r} (only starttls=1 is known)")
    values = options.get("starttls", [])
    if not values:
        return False
    if values != ["1"]:
        raise ConfigError("the IMAP URL option starttls takes only the value 1")
    if scheme == "imaps":
        raise ConfigError("starttls=1 is for imap://; imaps:// is already encrypted")
    return True


def _is_local(host: str) -> bool:
    """This machine, where a plain connection never leaves it."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quote(name: str) -> str:
    """An IMAP quoted string: folder names may have spaces (imaplib sends them as given)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7(name: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501, 5.1.3): how folder names outside ASCII are spelt."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            coded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + coded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _text(detail: Sequence[object]) -> str:
    """A server's reply text, one line."""
    words = (d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in detail)
    return " ".join(" ".join(words).split())
