"""What a compose helper process builds from settings: a composer for each campaign.

The sending process opens the database (and so checks or upgrades its schema) before it
starts any helper, so a helper's engine is a plain one: no Alembic import and no schema
check in every helper, which would only delay its first copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from newsletter import database, wiring
from newsletter.config import Settings

if TYPE_CHECKING:
    from newsletter.campaigns.composer import CampaignComposer


def campaign_composers(settings: Settings) -> Callable[[int], CampaignComposer]:
    """``wiring.campaign_composers`` on this helper's own engine, its schema trusted."""
    engine = database.make_engine(settings.database_url)
    return wiring.campaign_composers(settings, database.session_factory(engine))
