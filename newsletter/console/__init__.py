"""The staff console under ``/admin``: server-rendered pages that call the same domain
functions as the command line. Routes hold no business rules; ``guard`` decides who may."""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.console import (
    briefings,
    campaigns,
    gifts,
    home,
    imports,
    parts,
    people,
    reports,
    signin,
    static,
    team,
)


def router() -> APIRouter:
    combined = APIRouter()
    for module in (
        static,
        signin,
        home,
        imports,
        people,
        gifts,
        team,
        briefings,
        parts,
        campaigns,
        reports,
    ):
        combined.include_router(module.router)
    return combined
