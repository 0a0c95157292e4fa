"""Tables of the web app itself (not of any one audience's domain)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.orm import Base


class RateHit(Base):
    """How often one (hashed) key was seen in one window: shared by every web process,
    so four workers allow the same rate as one. Keys are HMACs, never addresses or IPs."""

    __tablename__ = "rate_hits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    expires: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
