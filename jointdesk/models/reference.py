"""Reference data: services, districts, providers and the routing table."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.policy.process import PublishedPrices


class Service(db.Model):
    __tablename__ = "services"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class District(db.Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    division_code: Mapped[str | None] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


QUEUE_PREFIX = "provider."


class Provider(db.Model):
    """A utility company (or one branch of it) that works tickets from its own queue."""

    __tablename__ = "providers"
    # the bounds of policy.process.MAX_CONNECTION_FEE / MAX_PRICE_PER_METRE; NaN fails them too
    __table_args__ = (
        CheckConstraint(
            "connection_fee >= 0 AND connection_fee <= 10000000", name="connection_fee_range"
        ),
        CheckConstraint(
            "price_per_metre >= 0 AND price_per_metre <= 100000", name="price_per_metre_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20), default="desk")  # desk | webhook
    # the provider's own system (channel ``webhook``): where tickets are posted, and the secret
    # both sides sign with (integrations/signing.py); never shown once set
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    # published connection prices and their charging basis (公示收费标准、收费依据); None: not
    # published here, so costs at this provider's prices stay unknown
    connection_fee: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    price_per_metre: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    price_basis: Mapped[str | None] = mapped_column(String(500))
    prices_updated_at = mapped_column(UTCDateTime)

    @property
    def published_prices(self) -> PublishedPrices:
        return PublishedPrices(
            None if self.connection_fee is None else float(self.connection_fee),
            None if self.price_per_metre is None else float(self.price_per_metre),
            self.price_basis or None,
        )

    @property
    def queue_name(self) -> str:
        return queue_name_for(self.code)


def queue_name_for(provider_code: str) -> str:
    """The Celery queue of one provider; the one place queue names are made."""
    return f"{QUEUE_PREFIX}{provider_code}"


class Route(db.Model):
    """Routing table row: (service, district) is served by exactly one provider."""

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("service_code", "district_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    provider: Mapped[Provider] = relationship()
    district: Mapped[District] = relationship()
