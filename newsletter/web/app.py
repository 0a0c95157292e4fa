"""The FastAPI application: one router per audience, settings injected."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter import database
from newsletter.config import Settings
from newsletter.console.guard import Forbidden, SignInNeeded, login_redirect
from newsletter.errors import NewsletterError, NotFound, TokenError
from newsletter.web import outage
from newsletter.web.clientip import ClientAddress
from newsletter.web.headers import SecurityHeaders
from newsletter.web.limits import BodyLimit

if TYPE_CHECKING:
    from newsletter.web.fast_archive import FastArchive
    from newsletter.web.fast_unsubscribe import FastUnsubscribe
    from newsletter.web.redirect import FastClicks
    from newsletter.web.stripe_webhook import FastWebhook

BUSY_RETRY_AFTER = 5  # seconds, in the Retry-After of a 503 when the database pool is full


class EditedLoader(FileSystemLoader):
    """Templates read from disk again when staff edit them, noticed within ``CHECK_EVERY``
    seconds: Jinja asks the file's modification time on every page otherwise."""

    CHECK_EVERY = 1.0

    def __init__(self, searchpath: str, clock: Callable[[], float] = monotonic) -> None:
        super().__init__(searchpath)
        self.clock = clock

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        checked = self.clock()

        def seldom() -> bool:
            nonlocal checked
            if self.clock() - checked < self.CHECK_EVERY:
                return True
            checked = self.clock()
            return bool(uptodate())

        return source, filename, seldom


def templates(settings: Settings) -> Jinja2Templates:
    """Page templates from ``templates/web``: staff may restyle them, so they are
    sandboxed, autoescaped and given ``Settings.public()``, never the secrets."""
    loader = EditedLoader(str(settings.templates_dir / "web"))
    return Jinja2Templates(env=SandboxedEnvironment(loader=loader, autoescape=True))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = PublicApp(
        title=settings.organisation_name,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.debug else None,  # app.openapi() still works
    )
    app.state.settings = settings
    app.state.engine = database.open_database(
        settings.database_url, settings.database_pool_size, settings.database_pool_timeout
    )
    app.state.sessions = database.session_factory(app.state.engine)
    app.state.templates = templates(settings)
    from newsletter.web.services import Donations, Outbox, SubscribeLimits

    app.state.outbox = Outbox.from_settings(settings)
    app.state.subscribe_limits = SubscribeLimits.from_settings(settings, app.state.sessions)
    app.state.donations = Donations.from_settings(settings, app.state.sessions)
    from newsletter.web.page_cache import PageCache
    from newsletter.web.topic_list import PublicTopics

    app.state.page_cache = PageCache()
    app.state.public_topics = PublicTopics(app.state.sessions)

    @app.exception_handler(NewsletterError)
    async def _problem(_request: Request, exc: NewsletterError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        title = "Link not valid" if isinstance(exc, TokenError) else "Something is not right"
        return HTMLResponse(
            app.state.templates.get_template("error.html").render(
                settings=settings.public(), title=title, message=str(exc)
            ),
            status_code=status,
        )

    @app.exception_handler(PoolTimeout)
    async def _busy(_request: Request, _exc: PoolTimeout) -> Response:
        """Every database connection is taken: say so now rather than hang, and let
        the client (a reader's browser, Stripe's retries) come back in a moment."""
        return HTMLResponse(
            app.state.templates.get_template("error.html").render(
                settings=settings.public(),
                title="Busy",
                message="Too many requests at once. Please try again in a few seconds.",
            ),
            status_code=503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER)},
        )

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(login_redirect(exc.next_path), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, exc: Forbidden) -> Response:
        return HTMLResponse(
            app.state.templates.get_template("admin/problem.html").render(
                settings=settings.public(), title="Not allowed", message=str(exc), nav=[]
            ),
            status_code=403,
            headers={"Cache-Control": "no-store"},
        )

    from newsletter import console
    from newsletter.web import archive, donate, public, stripe_webhook

    outage.register(app)
    from newsletter.web.redirect import FastClicks
    from newsletter.web.redirect import router as tracked_links

    # A request is matched against routes in the order they were included, and FastAPI
    # walks every route of an included router that does not match: the busiest paths
    # (Stripe's webhook, tracked links, reader pages) come before the console's sixty.
    # No two routers share a path, so the order changes nothing else.
    app.include_router(stripe_webhook.router)
    app.include_router(tracked_links)
    app.include_router(archive.router)
    app.include_router(public.router)
    app.include_router(donate.router)
    app.include_router(console.router())
    for middleware, options in guards(settings):
        app.add_middleware(middleware, **options)

    def guarded(inner: ASGIApp) -> ASGIApp:
        for middleware, options in guards(settings):
            inner = middleware(inner, **options)
        return inner

    app.fast_clicks = FastClicks(app.state, guarded)
    from newsletter.web.fast_archive import FastArchive

    app.fast_archive = FastArchive(app.state, guarded)
    from newsletter.web.fast_unsubscribe import FastUnsubscribe

    app.fast_unsubscribe = FastUnsubscribe(app.state, guarded, super(PublicApp, app).__call__)
    app.fast_webhook = stripe_webhook.FastWebhook(app, guarded)
    return app


def guards(settings: Settings) -> list[tuple[Any, dict[str, Any]]]:
    """The middlewares every answer goes through, innermost first: the app's, and the
    tracked-link redirects' that skip the rest of the stack."""
    return [
        (BodyLimit, {}),
        (SecurityHeaders, {"settings": settings}),
        (ClientAddress, {"trusted_proxies": settings.trusted_proxies}),  # outermost
    ]


class PublicApp(FastAPI):
    """The FastAPI app, with tracked-link clicks, archive pages in memory, one-click
    unsubscribes and Stripe's deliveries answered before its own layers."""

    fast_clicks: FastClicks | None = None
    fast_archive: FastArchive | None = None  # the home page and published pages
    fast_unsubscribe: FastUnsubscribe | None = None
    fast_webhook: FastWebhook | None = None  # Stripe's deliveries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Busiest first; each one's claim is a cheap look at the path before anything.
            for fast in (
                self.fast_webhook,
                self.fast_archive,
                self.fast_clicks,
                self.fast_unsubscribe,
            ):
                if fast is not None and fast.claim(scope):
                    await fast(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)
