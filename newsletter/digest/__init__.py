"""The digest email and the web archive page rendered from a briefing.

``render_digest(briefing, settings)`` renders once; ``Digest.personalise(Personal)``
gives each recipient's (html, text) by joining pre-split chunks, without re-rendering.
"""

from newsletter.digest.personalise import Personal
from newsletter.digest.render import Digest, DigestTemplateError, render_digest

__all__ = ["Digest", "DigestTemplateError", "Personal", "render_digest"]
