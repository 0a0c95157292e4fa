from __future__ import annotations

import pytest

from newsletter.briefing import markdown
from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import Digest, render_digest
from tests.conftest import EXAMPLE_BRIEFING
from tests.digest import factory


@pytest.fixture(scope="session")
def example() -> Briefing:
    """The real example briefing, read by the real parser."""
    return markdown.load(EXAMPLE_BRIEFING)


@pytest.fixture
def example_digest(example: Briefing, settings: Settings) -> Digest:
    return render_digest(example, settings)


@pytest.fixture
def made() -> Briefing:
    """A briefing built in code, with real links, placeholders and sub-headings."""
    return factory.briefing()
