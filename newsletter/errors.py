"""Errors of the newsletter package, all under the shared ``NewsletterError``."""

from subscribers.errors import Conflict, InvalidAddress, NewsletterError, NotFound

__all__ = [
    "BriefingError",
    "ConfigError",
    "Conflict",
    "DatabaseUnavailable",
    "HeaderInjection",
    "InvalidAddress",
    "NewsletterError",
    "NotFound",
    "TokenError",
    "TransportError",
]


class ConfigError(NewsletterError, ValueError):
    """A setting that cannot work (bad SMTP URL, unreadable key file...)."""


class BriefingError(NewsletterError, ValueError):
    """A briefing source that cannot be parsed; carries the file and line when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class DatabaseUnavailable(NewsletterError, ConnectionError):
    """The database cannot be reached or opened (server down, wrong host, no such folder)."""


class HeaderInjection(NewsletterError, ValueError):
    """A header value carrying CR or LF, which would let data forge headers."""


class TokenError(NewsletterError, ValueError):
    """A signed token that is forged, expired, or meant for another purpose."""


class TransportError(NewsletterError, OSError):
    """The mail transport cannot be used at all (connection refused, login failed)."""
