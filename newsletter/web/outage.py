"""A request that meets a database outage answers 503 with ``Retry-After``, never 500.

Pooled connections the server has closed are replaced before use (``liveness``), so a
restart of the database server costs no request once it is back; while it is down
or restarting, readers and Stripe's webhook deliveries are told to come back in a
moment (Stripe retries a 503), and a broken query is still a 500 to be fixed.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import DBAPIError

from newsletter.database import lost
from newsletter.errors import DatabaseUnavailable

RETRY_AFTER = 10  # seconds: about what a database restart or fail-over takes


def register(app: FastAPI) -> None:
    """Answer database outages with a 503 page; the app's settings and templates are used."""

    async def unavailable(_request: Request, exc: Exception) -> Response:
        if not lost(exc):
            raise exc
        settings = app.state.settings
        page = app.state.templates.get_template("error.html").render(
            settings=settings.public(),
            title="Temporarily unavailable",
            message="We cannot reach our records just now. Please try again in a few seconds.",
        )
        return HTMLResponse(page, status_code=503, headers={"Retry-After": str(RETRY_AFTER)})

    app.add_exception_handler(DBAPIError, unavailable)
    app.add_exception_handler(DatabaseUnavailable, unavailable)
