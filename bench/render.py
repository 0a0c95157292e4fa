"""How fast one core turns the example briefing into personalised, signed messages.

Prints, per message: personalising (signed links + ``Digest.personalise``), building
the MIME bytes, DKIM-signing with RSA-2048 (and RSA + Ed25519), the end-to-end rate
on one core, the bare OpenSSL RSA-2048 signature (the ceiling on this machine), the
stdlib ``email`` + dkimpy way for comparison, and the MJML render time.

Campaign copies are built from the digest's prebuilt parts (``PartTemplate``: only
the lines holding personal values are encoded per copy); the plain-text path
(``Digest.personalise`` then ``build_message`` on strings) is measured beside it.

The personalised run gives the briefing's sections 5 topics and spreads the readers
over all 32 combinations of them: each distinct order of the sections is rendered
once per campaign (31 renderings beside the paper's), counted in the figure.

Run: ``.venv/bin/python -m bench.render [N] [--rounds R]`` (default N = 2000 messages
per round, best of 3 rounds).
"""

from __future__ import annotations

import argparse
import email.message
import email.policy
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.briefing import markdown
from newsletter.campaigns.composer import CampaignComposer, campaign_identity
from newsletter.campaigns.ledger import Claimed
from newsletter.config import Settings
from newsletter.digest import Digest, Personal, render_digest
from newsletter.digest.render import forget_renderings, reordered
from newsletter.links import RecipientLinks, recipient_links
from newsletter.mail import identities
from newsletter.mail.dkim import Signer, generate_ed25519, generate_rsa
from newsletter.mail.message import Identity
from newsletter.results import linktable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"
ROUNDS = 3
TOPICS = 5


def best(rounds: int, run: Callable[[], float]) -> float:
    """The fastest of ``rounds`` runs: the least disturbed by other work on the machine."""
    return min(run() for _ in range(rounds))


def timed(count: int, body: Callable[[int], object]) -> float:
    """CPU seconds per call of ``body(i)`` over ``count`` calls.

    CPU time of this one-threaded process, not wall time: on a machine shared with
    other work, wall time measures the neighbours; CPU time is what one core spends.
    """
    start = time.process_time()
    for i in range(count):
        body(i)
    return (time.process_time() - start) / count


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=2000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="best of this many rounds")
    args = parser.parse_args()
    count, rounds = args.count, args.rounds
    where = f"one thread, CPU time, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    settings = Settings(_env_file=None, public_base_url="https://news.example.org")
    briefing = markdown.load(EXAMPLE)

    render_times = []
    digest: Digest | None = None
    for _ in range(10):
        start = time.process_time()
        digest = render_digest(briefing, settings)
        render_times.append(time.process_time() - start)
    if digest is None:
        raise RuntimeError("nothing was rendered")

    rsa_pem, _ = generate_rsa(2048)
    ed_pem, _ = generate_ed25519()
    rsa_only = Signer("bench", "example.org", rsa_pem)
    both = Signer("bench", "example.org", rsa_pem, ed25519=("bench-ed", ed_pem))
    identity = identities.identity(settings, campaign=112)

    def links(i: int) -> RecipientLinks:
        return recipient_links(
            settings, subscriber_id=i, campaign_id=112, briefing_slug=briefing.slug
        )

    people = [Personal(f"Reader {i}", f"reader{i}@example.com", links(i)) for i in range(count)]
    copies = [digest.personalise(p) for p in people]

    def build(ident: Identity, i: int, signer: Signer | None) -> bytes:
        """``Digest.message`` without its personalising step (timed on its own)."""
        return digest.message(ident, people[i], signer, parts=copies[i])

    def end_to_end(signer: Signer | None) -> Callable[[int], object]:
        ident = identities.identity(settings, campaign=next(campaign_ids))  # cold line cache

        def one(i: int) -> bytes:
            person = Personal(f"Reader {i}", f"reader{i}@example.com", links(i))
            return digest.message(ident, person, signer)

        return one

    # The same briefing with a real URL behind each of its links, for the tracked paths.
    linked_source = "".join(
        piece if n == 0 else f"](https://www.example.org/paper/{n}){piece}"
        for n, piece in enumerate(EXAMPLE.read_text(encoding="utf-8").split("](#)"))
    )
    linked = render_digest(markdown.parse(linked_source, source=str(EXAMPLE)), settings)
    link_table = linktable.extract(linked)

    def prebuilt(signer: Signer | None, tracking: str = "") -> Callable[[int], object]:
        """The campaign path itself: ``CampaignComposer.compose`` for a new campaign;
        ``tracking`` ("aggregate" or "person") composes the linked briefing, its links
        pointing to ``/r/`` as a started campaign's are."""
        campaign_id = next(campaign_ids)
        chosen, per_copy = digest, None
        if tracking:
            mode = settings.model_copy(update={"tracking": tracking})
            tracked = linktable.track(mode, linked, campaign_id, link_table)
            chosen, per_copy = tracked.digest, tracked.per_copy
        composer = CampaignComposer(
            settings=settings,
            campaign_id=campaign_id,
            briefing_slug=briefing.slug,
            subject=digest.subject,
            digest=chosen,
            identity=campaign_identity(settings, campaign_id),
            signer=signer,
            tracked_links=per_copy,
        )

        def one(i: int) -> bytes:
            return composer.compose(
                Claimed(i, i, f"reader{i}@example.com", f"Reader {i}", 0)
            ).message

        return one

    def campaign(signer: Signer | None, n: int) -> float:
        """A new campaign identity, warmed by two copies, then every copy built once:
        building the same copy twice would find its personal lines cached."""
        ident = identities.identity(settings, campaign=next(campaign_ids))
        build(ident, 0, None)
        build(ident, 1, None)
        return timed(n - 2, lambda i: build(ident, i + 2, signer))

    campaign_ids = iter(range(1000, 2000))
    t_links = best(rounds, lambda: timed(count, links))
    t_personalise = best(rounds, lambda: timed(count, lambda i: digest.personalise(people[i])))
    t_build = best(rounds, lambda: campaign(None, count))
    t_rsa = best(rounds, lambda: campaign(rsa_only, count))
    t_both = best(rounds, lambda: campaign(both, count // 2))
    t_e2e = best(rounds, lambda: timed(count, end_to_end(rsa_only)))
    t_e2e_unsigned = best(rounds, lambda: timed(count, end_to_end(None)))
    t_pre = best(rounds, lambda: timed(count, prebuilt(rsa_only)))
    t_pre_unsigned = best(rounds, lambda: timed(count, prebuilt(None)))
    t_aggregate = best(rounds, lambda: timed(count, prebuilt(rsa_only, "aggregate")))
    t_person = best(rounds, lambda: timed(count, prebuilt(rsa_only, "person")))

    # 5 topics (ids 1-5): topic k is section k's, topic 5 also the last section's.
    sections = len(briefing.sections)
    keys = tuple(frozenset({min(i, TOPICS - 1) + 1}) for i in range(sections))
    combos = [tuple(k + 1 for k in range(TOPICS) if mask >> k & 1) for mask in range(2**TOPICS)]
    editions: list[int] = []

    def personalised(signer: Signer | None, warm: bool = False) -> Callable[[int], object]:
        """``CampaignComposer.compose`` for a new campaign whose readers follow topics:
        reader i follows combination i % 32, so every order is rendered in the run
        (``warm``: rendered before it, to show the cost of a copy alone). Each round
        starts with the rendering caches empty and the paper rendered, as a campaign's
        process does: the orders do not reuse the text a past round wrapped."""
        campaign_id = next(campaign_ids)
        forget_renderings()
        paper = render_digest(briefing, settings)
        composer = CampaignComposer(
            settings=settings,
            campaign_id=campaign_id,
            briefing_slug=briefing.slug,
            subject=paper.subject,
            digest=paper,
            identity=campaign_identity(settings, campaign_id),
            signer=signer,
            section_topics=keys,
            render_order=lambda first: linktable.Tracked(
                reordered(paper, briefing, settings, first), None
            ),
        )
        editions.append(len(composer.editions))
        if warm:
            for order in {composer.order(Claimed(0, 0, "", "", 0, c)) for c in combos}:
                composer.edition(order)

        def one(i: int) -> bytes:
            row = Claimed(i, i, f"reader{i}@example.com", f"Reader {i}", 0, combos[i % 32])
            message = composer.compose(row).message
            editions[-1] = len(composer.editions)
            return message

        return one

    t_topics = best(rounds, lambda: timed(count, personalised(rsa_only)))
    t_topics_unsigned = best(rounds, lambda: timed(count, personalised(None)))
    t_topics_warm = best(rounds, lambda: timed(count, personalised(rsa_only, warm=True)))

    key = serialization.load_pem_private_key(rsa_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("generate_rsa made no RSA key")
    data = b"x" * 600  # about the size of the canonical signed header block
    t_openssl = best(
        rounds, lambda: timed(count, lambda _i: key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    )
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    t_stdlib = stdlib_dkimpy(copies, people, digest.subject, pkcs1, 30)

    size = len(build(identity, 0, rsa_only))
    print(f"bench/render.py: example briefing {EXAMPLE.name}, {count} recipients/round, {where}")
    print(f"  message size (RSA-signed)             {size:>8,} bytes")
    print(
        f"  MJML render (render_digest, once/campaign) median "
        f"{statistics.median(render_times) * 1000:.1f} ms, best {min(render_times) * 1000:.1f} ms"
    )
    print("  per message:")
    print(f"    signed links (3 HMAC tokens)        {us(t_links)}")
    print(f"    Digest.personalise                  {us(t_personalise)}")
    print(f"    build_message, unsigned             {us(t_build)}")
    print(f"    build_message + RSA-2048 DKIM       {us(t_rsa)}")
    print(f"    build_message + RSA + Ed25519 DKIM  {us(t_both)}")
    print(f"    bare OpenSSL RSA-2048 signature     {us(t_openssl)}  (the ceiling here)")
    print(f"    stdlib email + dkimpy (reference)   {us(t_stdlib)}")
    print("  per message, end to end (signed links, personalise, build, sign):")
    print(f"    campaign path, prebuilt parts       {us(t_pre)}  unsigned {us(t_pre_unsigned)}")
    print(f"    plain text path, line cache         {us(t_e2e)}  unsigned {us(t_e2e_unsigned)}")
    print("  messages per second on one core:")
    print(f"    campaign path + RSA-2048 sign       {1 / t_pre:8.0f} /s  (target 2,000; 3,000)")
    print(f"    campaign path, unsigned             {1 / t_pre_unsigned:8.0f} /s")
    tracked = f"{len(link_table)} links"
    print(f"    + RSA, {tracked} tracked, aggregate  {1 / t_aggregate:8.0f} /s  (target 2,000)")
    print(f"    + RSA, {tracked} tracked, person     {1 / t_person:8.0f} /s")
    print(
        f"    personalised order + RSA-2048 sign  {1 / t_topics:8.0f} /s  (target 2,000; "
        f"{TOPICS} topics, 32 combinations: {max(editions) - 1} orders rendered in the run)"
    )
    print(f"    personalised order, unsigned        {1 / t_topics_unsigned:8.0f} /s")
    print(f"    personalised, orders rendered before {1 / t_topics_warm:7.0f} /s  (+ RSA)")
    print(f"    plain text path + RSA-2048 sign     {1 / t_e2e:8.0f} /s")
    print(f"    plain text path, unsigned           {1 / t_e2e_unsigned:8.0f} /s")
    print(f"    RSA-2048 signatures alone           {1 / t_openssl:8.0f} /s")
    print(f"    stdlib email + dkimpy               {1 / t_stdlib:8.0f} /s")


def stdlib_dkimpy(
    copies: list[tuple[str, str]], people: list[Personal], subject: str, pem: bytes, count: int
) -> float:
    """The straightforward way (``email.message`` + dkimpy's pure-Python RSA), for scale."""
    import dkim

    def one(i: int) -> bytes:
        html, text = copies[i]
        msg = email.message.EmailMessage(policy=email.policy.SMTP)
        msg["From"] = "NATO Watch <briefings@example.org>"
        msg["To"] = f"{people[i].name} <{people[i].email}>"
        msg["Subject"] = subject
        msg["List-Unsubscribe"] = f"<{people[i].links.unsubscribe}>"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        raw = msg.as_bytes()
        signature: bytes = dkim.sign(
            raw, b"bench", b"example.org", pem, include_headers=[b"from", b"to", b"subject"]
        )
        return signature + raw

    return best(1, lambda: timed(min(count, len(copies)), one))


if __name__ == "__main__":
    main()
