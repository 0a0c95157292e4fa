"""Security headers on every answer, set in one place so no page can forget them.

- ``Content-Security-Policy``: no inline or foreign script can run, nothing may frame
  a page (clickjacking of the unsubscribe and donate buttons), forms post only here
  or to Stripe's Checkout. Inline ``<style>`` stays allowed: staff restyle the page
  templates with it and published archive pages carry it; style cannot run code.
- ``Referrer-Policy``: pages whose URL carries a signed token never send it on to
  another site (``no-referrer``); other pages send only the origin across sites.
- ``Cache-Control: no-store`` on every page that carries a token or shows a reader's or
  donor's data, and on every answer that sets a cookie or answers a POST, so neither a
  shared proxy nor the browser's history keeps them.
- ``Strict-Transport-Security`` when the public URL is https, and ``Secure`` on every
  cookie when the request or the public URL is https.
- A redirect never points at the host the request named: Starlette builds absolute
  redirects (``/archive/{slug}/`` to ``/archive/{slug}``) from the ``Host`` header, so a
  forged header would send readers elsewhere. Such a ``Location`` is rebuilt on the
  public address.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.config import Settings

STRIPE_CHECKOUT = "https://checkout.stripe.com"
HSTS = "max-age=31536000"  # one year; subdomains are the organisation's own business
# Pages whose path carries a signed token, or that show one reader's or donor's data.
PRIVATE_PREFIXES = ("/confirm/", "/u/", "/preferences/", "/donate/manage", "/donate/thanks")


TOKEN_PARAMETER = "t"  # the donate link's signed reader token: /donate?c=12&t=<token>


def is_private(path: str, query: bytes = b"") -> bool:
    """True for a page that carries a token (in its path or query) or shows personal data."""
    if path.startswith(PRIVATE_PREFIXES):
        return True
    names = (pair.partition(b"=")[0] for pair in query.split(b"&"))
    return any(name.decode("latin-1") == TOKEN_PARAMETER for name in names)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def own_location(location: str, request_host: str, public_base_url: str) -> str:
    """``location``, moved onto the public address when it names the request's own host."""
    parts = urlsplit(location)
    netloc = parts.netloc.lower()
    if not netloc or netloc != request_host.lower() or netloc == urlsplit(public_base_url).netloc:
        return location  # relative, already ours, or a real foreign target (Stripe Checkout)
    path = "/" + parts.path.lstrip("/\\")
    return public_base_url + urlunsplit(("", "", path, parts.query, parts.fragment))


def content_security_policy(settings: Settings) -> str:
    """The policy of every page; forms may also go to the Stripe the app talks to."""
    targets = ["'self'", STRIPE_CHECKOUT]
    api = _origin(settings.stripe_api_base)  # a test's local Stripe serves its own Checkout
    if api and api not in targets:
        targets.append(api)
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https: data:",
            "font-src 'self'",
            "connect-src 'self'",
            # The console's preview frames load the email from the console itself (each
            # answer is sandboxed by its own policy); without this a browser blocks them.
            "frame-src 'self'",
            f"form-action {' '.join(targets)}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.csp = content_security_policy(settings)
        self.public_https = settings.public_base_url.startswith("https://")
        self.public_base_url = settings.public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = is_private(scope["path"], scope.get("query_string", b""))
        https = self.public_https or scope.get("scheme") == "https"
        changes_state = scope["method"] not in ("GET", "HEAD")
        request_host = Headers(scope=scope).get("host", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                own = headers.get("content-security-policy")
                if own is None:
                    headers["Content-Security-Policy"] = self.csp
                # A route that sets a stricter policy of its own keeps it: the console's
                # sandboxed preview frames may be framed by the console itself, nothing else.
                framed_by_us = own is not None and "frame-ancestors 'self'" in own
                headers["X-Frame-Options"] = "SAMEORIGIN" if framed_by_us else "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = (
                    "no-referrer" if private else "strict-origin-when-cross-origin"
                )
                if self.public_https:
                    headers["Strict-Transport-Security"] = HSTS
                if "location" in headers:
                    headers["Location"] = own_location(
                        headers["location"], request_host, self.public_base_url
                    )
                cookies = headers.getlist("set-cookie")
                if private or changes_state or cookies:
                    headers["Cache-Control"] = "no-store"
                if https and cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        secure = "secure" in (p.strip().lower() for p in cookie.split(";"))
                        headers.append("set-cookie", cookie if secure else f"{cookie}; Secure")
            await send(message)

        await self.app(scope, receive, send_with_headers)
