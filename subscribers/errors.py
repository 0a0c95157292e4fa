"""The one error hierarchy of the toolkit.

It lives in the lower package (``subscribers``) so that both packages share it
while imports still go one way: ``newsletter`` -> ``subscribers``.
Each subclass also inherits the matching stdlib type, so callers that only
know ``ValueError`` or ``LookupError`` still catch it.
"""


class NewsletterError(Exception):
    """Anything the toolkit reports to a person as one clear line."""


class InvalidAddress(NewsletterError, ValueError):
    """An email address that cannot be used."""


class NotFound(NewsletterError, LookupError):
    """A person, list, campaign or donation that does not exist."""


class Conflict(NewsletterError, ValueError):
    """An action that the current state forbids (e.g. re-subscribing a suppressed address)."""
