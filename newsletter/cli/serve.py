"""The ``newsletter serve`` command: the public web app under uvicorn."""

from __future__ import annotations

import typer

from newsletter import startup
from newsletter.cli.common import console, settings


def register(app: typer.Typer) -> None:
    """Add this command to the top-level app."""

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, help="Worker processes."),
        access_log: bool = typer.Option(
            False, "--access-log", help="Log every request (off: it costs CPU per request)."
        ),
    ) -> None:
        """Serve the subscribe, confirm, preferences, unsubscribe and donation pages."""
        import uvicorn

        from newsletter import database

        config = settings()
        startup.refuse_unsafe(config)
        if config.uses_demo_secret:
            console.print(
                "[yellow]warning:[/] NEWSLETTER_SECRET_KEY is the demo value; "
                "set a long random secret before real use."
            )
        if not config.trusted_proxies and not startup.is_loopback(config.public_base_url):
            console.print(
                "note: NEWSLETTER_TRUSTED_PROXIES is empty, so behind a proxy every reader "
                "shares one rate limit; see docs/deployment.md",
                highlight=False,
            )
        # Upgrade the schema once here, so several workers never race the migrations.
        database.open_database(config.database_url).dispose()
        console.print(f"subscribe page: http://{host}:{port}/subscribe")
        uvicorn.run(
            "newsletter.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,  # NEWSLETTER_TRUSTED_PROXIES decides (web/clientip.py)
            log_level="info",
            access_log=access_log,
        )
