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

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.config import Settings

STRIPE_CHECKOUT = "https://checkout.stripe.com"
HSTS = "max-age=31536000"  # one year; subdomains are the organisation's own business
# Pages whose path carries a signed token, or that show one reader's or donor's data.
# A tracked link (/r/, /o/) carries a reader or a copy in its token.
PRIVATE_PREFIXES = (
    "/confirm/",
    "/u/",
    "/preferences/",
    "/donate/manage",
    "/donate/thanks",
    "/r/",
    "/o/",
)


TOKEN_PARAMETER = "t"  # noqa: S105 -- the name of the donate link's reader token: /donate?t=


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


_CSP = b"content-security-policy"
_LOCATION = b"location"
_CACHE = b"cache-control"
_COOKIE = b"set-cookie"
_HSTS = b"strict-transport-security"
_ALWAYS_SET = frozenset({b"x-frame-options", b"x-content-type-options", b"referrer-policy"})


def _secure_cookie(cookie: bytes) -> bytes:
    parts = (p.strip().lower() for p in cookie.decode("latin-1").split(";"))
    return cookie if "secure" in parts else cookie + b"; Secure"


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer.

    It works on the raw header list in one pass: it runs on every answer, tracked-link
    redirects included, where a header object per change cost more than the redirect."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.csp = content_security_policy(settings).encode("latin-1")
        self.public_https = settings.public_base_url.startswith("https://")
        self.public_base_url = settings.public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = is_private(scope["path"], scope.get("query_string", b""))
        https = self.public_https or scope.get("scheme") == "https"
        changes_state = scope["method"] not in ("GET", "HEAD")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.secured(
                    scope, message.get("headers") or [], private, https, changes_state
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def secured(
        self,
        scope: Scope,
        raw: list[tuple[bytes, bytes]],
        private: bool,
        https: bool,
        changes_state: bool,
    ) -> list[tuple[bytes, bytes]]:
        """``raw`` with the policy's headers set, replacing any the route set itself."""
        out: list[tuple[bytes, bytes]] = []
        own_csp: bytes | None = None
        cookies: list[bytes] = []
        cache: list[tuple[bytes, bytes]] = []
        for name, value in raw:
            key = name.lower()
            if key in _ALWAYS_SET or (key == _HSTS and self.public_https):
                continue
            if key == _CSP and own_csp is None:
                own_csp = value
            elif key == _COOKIE:
                cookies.append(value)
                continue
            elif key == _CACHE:
                cache.append((name, value))
                continue
            elif key == _LOCATION:
                host = Headers(scope=scope).get("host", "")
                text = own_location(value.decode("latin-1"), host, self.public_base_url)
                value = text.encode("latin-1")
            out.append((name, value))
        if own_csp is None:
            out.append((_CSP, self.csp))
        # A route that sets a stricter policy of its own keeps it: the console's
        # sandboxed preview frames may be framed by the console itself, nothing else.
        framed_by_us = own_csp is not None and b"frame-ancestors 'self'" in own_csp
        out.append((b"x-frame-options", b"SAMEORIGIN" if framed_by_us else b"DENY"))
        out.append((b"x-content-type-options", b"nosniff"))
        out.append(
            (b"referrer-policy", b"no-referrer" if private else b"strict-origin-when-cross-origin")
        )
        if self.public_https:
            out.append((_HSTS, HSTS.encode("latin-1")))
        if private or changes_state or cookies:
            out.append((_CACHE, b"no-store"))
        else:
            out.extend(cache)
        if https:
            cookies = [_secure_cookie(cookie) for cookie in cookies]
        out.extend((_COOKIE, cookie) for cookie in cookies)
        return out
