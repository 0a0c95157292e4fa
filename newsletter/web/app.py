"""The FastAPI application: one router per audience, settings injected."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.exc import TimeoutError as PoolTimeout

from newsletter import database
from newsletter.config import Settings
from newsletter.console.guard import Forbidden, SignInNeeded, login_redirect
from newsletter.errors import NewsletterError, NotFound, TokenError
from newsletter.web import outage
from newsletter.web.clientip import ClientAddress
from newsletter.web.headers import SecurityHeaders
from newsletter.web.limits import BodyLimit

BUSY_RETRY_AFTER = 5  # seconds, in the Retry-After of a 503 when the database pool is full


def templates(settings: Settings) -> Jinja2Templates:
    """Page templates from ``templates/web``: staff may restyle them, so they are
    sandboxed, autoescaped and given ``Settings.public()``, never the secrets."""
    loader = FileSystemLoader(str(settings.templates_dir / "web"))
    return Jinja2Templates(env=SandboxedEnvironment(loader=loader, autoescape=True))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
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
    from newsletter.web.services import Outbox, SubscribeLimits

    app.state.outbox = Outbox.from_settings(settings)
    app.state.subscribe_limits = SubscribeLimits.from_settings(settings, app.state.sessions)
    from newsletter.web.archive import PageCache

    app.state.page_cache = PageCache()

    @app.exception_handler(NewsletterError)
    async def _problem(request: Request, exc: NewsletterError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        title = "Link not valid" if isinstance(exc, TokenError) else "Something is not right"
        return HTMLResponse(
            app.state.templates.get_template("error.html").render(
                settings=settings.public(), title=title, message=str(exc)
            ),
            status_code=status,
        )

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> Response:
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
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(login_redirect(exc.next_path), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return HTMLResponse(
            app.state.templates.get_template("admin/problem.html").render(
                settings=settings.public(), title="Not allowed", message=str(exc), nav=[]
            ),
            status_code=403,
            headers={"Cache-Control": "no-store"},
        )

    from newsletter import console
    from newsletter.web import archive, donate, public, stripe_webhook

    app.include_router(console.router())
    outage.register(app)

    app.include_router(public.router)
    app.include_router(archive.router)
    app.include_router(donate.router)
    app.include_router(stripe_webhook.router)
    from newsletter.web.redirect import router as tracked_links

    app.include_router(tracked_links)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(ClientAddress, trusted_proxies=settings.trusted_proxies)  # outermost
    return app
