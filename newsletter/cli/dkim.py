"""``newsletter dkim keygen``: a DKIM key pair and the DNS record to publish for it."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import typer

from newsletter.cli.common import console, settings
from newsletter.errors import NewsletterError

app = typer.Typer(help="DKIM keys that let receivers trust our mail.", no_args_is_help=True)


class KeyFileError(NewsletterError, OSError):
    """A key file that already exists or cannot be written."""


def _write_private(path: Path, pem: bytes, *, force: bool) -> None:
    """Write a private key readable by its owner only (0600), never over another by mistake."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if force:
            path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists (use --force to replace it)") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write ({exc.strerror or exc})") from None


@app.command()
def keygen(
    selector: str = typer.Option(
        "", "--selector", help="DKIM selector (default: NEWSLETTER_DKIM_SELECTOR or nlYYYYMM)."
    ),
    domain: str = typer.Option(
        "", "--domain", help="Signing domain (default: NEWSLETTER_DKIM_DOMAIN or the sender's)."
    ),
    out: Path = typer.Option(Path("var/dkim"), "--out", help="Directory for the private key(s)."),
    ed25519: bool = typer.Option(
        False, "--ed25519", help="Also make an Ed25519 key for a second signature."
    ),
    force: bool = typer.Option(False, "--force", help="Replace existing key files."),
) -> None:
    """Write an RSA-2048 private key (0600) and print the DNS TXT record(s) to publish."""
    from newsletter.mail.dkim import DnsRecord, Signer, generate_ed25519, generate_rsa

    cfg = settings()
    selector = selector or cfg.dkim_selector or f"nl{date.today():%Y%m}"
    domain = (domain or cfg.dkim_domain or cfg.sender_address.rpartition("@")[2]).lower()
    rsa_pem, rsa_record = generate_rsa(2048)
    keys = [(selector, rsa_pem, out / f"{selector}.{domain}.rsa.pem")]
    records = [DnsRecord(f"{selector}._domainkey.{domain}", rsa_record)]
    ed_setting: tuple[str, bytes] | None = None
    if ed25519:
        ed_selector = f"{selector}-ed"
        ed_pem, ed_record = generate_ed25519()
        keys.append((ed_selector, ed_pem, out / f"{ed_selector}.{domain}.ed25519.pem"))
        records.append(DnsRecord(f"{ed_selector}._domainkey.{domain}", ed_record))
        ed_setting = (ed_selector, ed_pem)
    Signer(selector, domain, rsa_pem, ed25519=ed_setting)  # refuses a bad selector or domain
    for _, pem, path in keys:
        _write_private(path, pem, force=force)
        console.print(f"wrote {path} (private key, mode 0600: keep it secret)", highlight=False)
    console.print("\nPublish in DNS (strings of at most 255 characters):", highlight=False)
    for record in records:
        typer.echo(record.zone_line())
    console.print("\nThen set:", highlight=False)
    typer.echo(f"NEWSLETTER_DKIM_SELECTOR={selector}")
    typer.echo(f"NEWSLETTER_DKIM_DOMAIN={domain}")
    typer.echo(f"NEWSLETTER_DKIM_KEY_FILE={keys[0][2]}")
    if ed_setting is not None:
        typer.echo(f"NEWSLETTER_DKIM_ED25519_SELECTOR={ed_setting[0]}")
        typer.echo(f"NEWSLETTER_DKIM_ED25519_KEY_FILE={keys[1][2]}")
