"""Imports every module that defines tables, so the metadata is complete.

Alembic's environment and the tests import this one module.
"""

from __future__ import annotations

import importlib

for _name in (
    "subscribers.models",
    "subscribers.tags",
    "newsletter.campaigns.models",
    "newsletter.campaigns.heartbeat",
    "newsletter.donations.models",
    "newsletter.web.models",
    "newsletter.staff.models",
    "newsletter.staff.formkeys",
    "newsletter.results.models",
    "newsletter.briefing.store",
):
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a domain not built yet has no tables
        if exc.name != _name:
            raise
