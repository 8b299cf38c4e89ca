"""Events a provider's own system sent and JointDesk applied (inbound, signed).

One row per applied event, written in the transaction of the ticket action it caused, so a row
exists exactly when the change was committed. ``event_id`` is the provider's own and unique per
provider: a replayed or concurrently repeated event meets the unique constraint and changes
nothing. Refused events (401, 404, 409, 422) leave no row, so the provider may correct the
request and retry it with the same ``event_id``.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow


class ProviderEvent(db.Model):
    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # the ticket action it was applied as
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    outcome: Mapped[int] = mapped_column(Integer, default=200)  # the HTTP status answered
