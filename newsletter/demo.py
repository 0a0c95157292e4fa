"""``make demo``: the whole job on the embedded defaults, as a newcomer would type it.

Each step runs the real ``newsletter`` command in a subprocess and shows it first, so the
demo doubles as a walk-through of the command line. Nothing leaves the machine: the
transport is the Maildir outbox under ``var/outbox`` and the database is SQLite. Run it
again and it sends nothing more: the send of briefing 112 is refused (it already went to
the list) and the demo says so.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "examples" / "papers" / "briefing-112.txt"
SUBSCRIBERS = ROOT / "examples" / "subscribers.csv"
LIST_NAME = "All briefings"

console = Console()


def attempt(*args: str) -> subprocess.CompletedProcess[str]:
    """Run one ``newsletter`` command, echoing it and its output, whatever its exit code."""
    console.rule(f"[bold]$ newsletter {shlex.join(args)}", align="left")
    exe = Path(sys.executable).parent / "newsletter"
    proc = subprocess.run(  # noqa: S603 -- our own CLI, arguments from this file
        [str(exe), *args], cwd=ROOT, text=True, capture_output=True, env=os.environ.copy()
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc


def run(*args: str) -> str:
    """Run one ``newsletter`` command; stop the demo if it fails."""
    proc = attempt(*args)
    if proc.returncode != 0:
        console.print(f"[red]step failed with exit code {proc.returncode}[/]")
        raise SystemExit(proc.returncode)
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    out = (ROOT / parser.parse_args().out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    briefing = out / "briefing-112.md"

    run("briefing", "import", str(PAPER), "-o", str(briefing), "--force")
    # A preview: the PDF lost every link target, so placeholder links are warnings here
    # and errors for sending (the campaign below passes the explicit override).
    run("briefing", "lint", str(briefing))
    run("briefing", "render", str(briefing), "--out", str(out / "render"))
    rejected = out / "subscribers.errors.csv"
    run(
        "subscribers",
        "import",
        str(SUBSCRIBERS),
        "--list",
        LIST_NAME,
        "--errors",
        str(rejected),
        "--consent",
        "Sample readers who asked for the briefings (demo data)",
    )
    run("send-test", str(briefing), "--to", "preview@example.org")
    campaign = run("campaign", "create", str(briefing), "--list", LIST_NAME, "-q").strip()
    # The PDF lost every link target: sending needs the explicit override. A second run
    # of the demo is refused here (briefing 112 already went to the list) and says so:
    # the demo never mails the whole list twice.
    sent = attempt("campaign", "send", campaign, "--force")
    if sent.returncode == 0:
        run("campaign", "status", campaign)
    elif "--again" in sent.stderr:
        console.print(
            f"[yellow]Not sent:[/] briefing 112 already went to {LIST_NAME} on an earlier run "
            f"of the demo; campaign {campaign} is cancelled rather than mail everyone twice. "
            "(To send a briefing to the same list again on purpose, add --again.)",
            highlight=False,
        )
        run("campaign", "cancel", campaign)
    else:
        console.print(f"[red]step failed with exit code {sent.returncode}[/]")
        raise SystemExit(sent.returncode)

    outbox = ROOT / "var" / "outbox"
    console.rule("[bold green]Done", align="left")
    console.print(f"Briefing source   {briefing}")
    console.print(f"Rendered files    {out / 'render'}  (digest.html, digest.txt, web.html, ...)")
    console.print(f"Rejected CSV rows {rejected}")
    console.print(f"Outbox (Maildir)  {outbox / 'new'}")
    console.print("Database          var/newsletter.db")
    console.print(
        "Next: [bold].venv/bin/newsletter serve[/] then open http://127.0.0.1:8000/subscribe"
    )
    console.print(
        "Staff console: [bold].venv/bin/newsletter staff add you@example.org --role owner[/] "
        "prints a link to choose your password, then http://127.0.0.1:8000/admin"
    )


if __name__ == "__main__":
    main()
