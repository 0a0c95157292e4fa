"""A private Dovecot IMAP server for tests: its own config, port, user and Maildir.

Debian's ``dovecot-imapd`` (``make pytest`` installs it) is started with ``dovecot -F -c``
on a config written into a scratch folder, so the system's Dovecot, if any, is never
used or touched. It serves plain IMAP (offering STARTTLS) and IMAPS, with a certificate
from a throwaway CA, on free ports of 127.0.0.1 only. One Maildir under the scratch
folder; the user ``bounces`` owns it, and :meth:`ImapServer.user` adds more names for the
same Maildir, so a test can find its own sessions in Dovecot's log.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import mailbox
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.local import free_port

DOVECOT = Path("/usr/sbin/dovecot")
USER = "bounces"
PASSWORD = "s3cret p@ss/w%rd"  # "@", "/", "%" and a space: the URL must be percent-encoded
SPARE_USERS = 100  # more names for USER's Maildir, one per session a test wants to follow


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed or would not start; the message says why."""


@dataclass
class ImapServer:
    root: Path
    port: int
    ssl_port: int
    ca_file: Path  # the CA that signed the server's certificate
    uid: int
    gid: int
    tls: bool = True  # False: no TLS at all, so no STARTTLS either (as some old servers)
    users_given: int = 0

    @property
    def maildir(self) -> Path:
        return self.root / "home" / USER / "Maildir"

    @property
    def log(self) -> str:
        return (self.root / "dovecot.log").read_text(encoding="utf-8", errors="replace")

    def url(
        self,
        folder: str = "INBOX",
        *,
        scheme: str = "imap",
        user: str = USER,
        password: str = PASSWORD,
        query: str = "",
    ) -> str:
        port = self.ssl_port if scheme == "imaps" else self.port
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
        tail = f"?{query}" if query else ""
        return f"{scheme}://{auth}@127.0.0.1:{port}/{quote(folder, safe='')}{tail}"

    def user(self) -> str:
        """A login name no other session used, for the same Maildir: its log lines belong
        to one test alone. (Written into the passwd file up front: Dovecot may not notice
        a change made within the same second.)"""
        self.users_given += 1
        if self.users_given > SPARE_USERS:
            raise RuntimeError(f"only {SPARE_USERS} spare users; raise SPARE_USERS")
        return f"{USER}-{self.users_given}"

    def logins(self, user: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Dovecot's log line for each successful login of ``user`` (polled, see below)."""
        marker = f"Login: user=<{user}>,"
        return _poll(lambda: [ln for ln in self.log.splitlines() if marker in ln], count, timeout)

    def session_ends(self, user: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """How the IMAP sessions of ``user`` ended: "Disconnected: Logged out ..." after a
        LOGOUT, "Disconnected: Connection closed ..." when the client just went away.

        Dovecot's log process writes a moment after the session ends, later still on a
        loaded machine: poll until ``count`` lines are there or ``timeout`` passes, then
        return every one seen, so a missing or extra session shows in the caller's assert.
        """
        pattern = re.compile(rf"imap\({re.escape(user)}\)<[^>]*><[^>]*>: (?:Info: )?(.*)$")

        def ends() -> list[str]:
            found = (pattern.search(line) for line in self.log.splitlines())
            return [m.group(1) for m in found if m and m.group(1).startswith(_ENDS)]

        return _poll(ends, count, timeout)

    def login_refusals(self, count: int, timeout: float = 10.0) -> list[str]:
        """The log lines of connections that logged out before any login, polled."""
        marker = "imap-login: Info: Disconnected: Aborted login by logging out (no auth"
        return _poll(lambda: [ln for ln in self.log.splitlines() if marker in ln], count, timeout)

    def deliver(self, folder: str, messages: list[bytes]) -> None:
        """Drop messages into ``new/`` of a folder, as a local delivery agent would."""
        box = mailbox.Maildir(self.maildir, factory=None, create=True)
        target = box if folder == "INBOX" else box.add_folder(folder)
        for raw in messages:
            target.add(raw)
        self._own(self.maildir)

    def files(self, folder: str) -> dict[str, bytes]:
        """Every message file of a folder on disk, by ``new/`` or ``cur/`` name."""
        base = self.maildir if folder == "INBOX" else self.maildir / f".{folder}"
        return {
            f"{sub}/{path.name}": path.read_bytes()
            for sub in ("new", "cur")
            for path in sorted((base / sub).iterdir())
        }

    def _own(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, self.uid, self.gid)
        for parent, dirs, names in os.walk(path):
            for name in dirs + names:
                os.chown(os.path.join(parent, name), self.uid, self.gid)


_ENDS = ("Logged out", "Disconnected")


def _poll(collect: Callable[[], list[str]], count: int, timeout: float) -> list[str]:
    """``collect()`` once it has ``count`` items, or whatever it has after ``timeout``."""
    deadline = time.monotonic() + timeout
    while len(found := collect()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _certificates(root: Path, names: list[str]) -> Path:
    """A throwaway CA and a server certificate for ``names``; returns the CA file."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newsletter test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file = root / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


def _config(server: ImapServer, login_user: str, internal_user: str) -> str:
    root = server.root
    tls = f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"
    if not server.tls:  # and the imaps listener is off (port 0)
        tls = "ssl = no"
    return f"""\
base_dir = {root}/run
state_dir = {root}/state
instance_name = newsletter-test-{server.port}
log_path = {root}/dovecot.log
protocols = imap
# The one address free_port() probes, so a port it found free is free here too.
listen = 127.0.0.1
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {min(server.uid, 500)}
first_valid_gid = 0
{tls}
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
# A message Dovecot cannot read ends FETCH with a NO reply (as many servers answer),
# instead of Dovecot's default of dropping the connection.
imap_fetch_failure = no-after
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
# No growing delay for this address after the wrong-password test.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {server.port}
  }}
  inet_listener imaps {{
    port = {server.ssl_port if server.tls else 0}
    ssl = {"yes" if server.tls else "no"}
  }}
}}
"""


def _wait_for_greeting(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DovecotUnavailable(f"dovecot exited with {process.returncode}: {_tail(log)}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            if conn.recv(100).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise DovecotUnavailable(f"dovecot did not greet on port {port} within 20 s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def _two_free_ports() -> tuple[int, int]:
    """Two distinct ports free on 127.0.0.1, the one address Dovecot listens on."""
    port = free_port()
    while (ssl_port := free_port()) == port:
        pass
    return port, ssl_port


def _start(server: ImapServer, login_user: str, internal_user: str) -> subprocess.Popen[bytes]:
    """Dovecot in the foreground on ``server``'s ports, once it greets."""
    config = server.root / "dovecot.conf"
    config.write_text(_config(server, login_user, internal_user), encoding="utf-8")
    with (server.root / "stderr.log").open("ab") as errors:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=errors,
        )
    try:
        _wait_for_greeting(process, server.port, server.root / "dovecot.log")
    except BaseException:
        _stop(process)
        raise
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_dovecot(*, tls: bool = True) -> Iterator[ImapServer]:
    """Start a private Dovecot; stop it and remove its folder afterwards."""
    if not DOVECOT.is_file():
        raise DovecotUnavailable(f"{DOVECOT} is missing (make pytest installs dovecot-imapd)")
    if os.geteuid() == 0:
        # Dovecot refuses mail access as root: the mailbox belongs to nobody, and the login
        # and internal processes run as the users Debian's package creates.
        mail_user, login_user, internal_user = "nobody", "dovenull", "dovecot"
    else:
        mail_user = login_user = internal_user = pwd.getpwuid(os.getuid()).pw_name
    entry = pwd.getpwnam(mail_user)
    # Not under pytest's tmp_path: its parents are private to root, and Dovecot's
    # unprivileged processes must reach the passwd file and the Maildir. Directly under
    # /tmp, whatever TMPDIR says, so Dovecot's Unix sockets under run/ stay within the
    # 108-byte limit of a socket path.
    root = Path(tempfile.mkdtemp(prefix="nl-dovecot-", dir="/tmp"))
    root.chmod(0o755)
    process: subprocess.Popen[bytes] | None = None
    try:
        port, ssl_port = _two_free_ports()
        server = ImapServer(
            root=root,
            port=port,
            ssl_port=ssl_port,
            ca_file=root / "ca.pem",
            uid=entry.pw_uid,
            gid=entry.pw_gid,
            tls=tls,
        )
        _certificates(root, ["localhost", "127.0.0.1"])
        home = root / "home" / USER
        home.mkdir(parents=True)
        server._own(root / "home")
        names = [USER, *(f"{USER}-{n}" for n in range(1, SPARE_USERS + 1))]
        (root / "passwd").write_text(
            "".join(
                f"{name}:{{PLAIN}}{PASSWORD}:{entry.pw_uid}:{entry.pw_gid}::{home}::\n"
                for name in names
            ),
            encoding="utf-8",
        )
        for attempt in itertools.count(1):
            try:
                process = _start(server, login_user, internal_user)
                break
            except DovecotUnavailable:
                # A free port can be taken by someone else before Dovecot binds it.
                logs = _tail(root / "dovecot.log") + _tail(root / "stderr.log")
                if attempt == 3 or "Address already in use" not in logs:
                    raise
                server.port, server.ssl_port = _two_free_ports()
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
