"""Signed HTTP deliveries to other systems, and the callback address the approval system
registered.

One table for everything JointDesk sends out over HTTP (a ticket to a provider's own system, a
callback to the approval system, a message to the SMS gateway): its own table rather than more
columns on ``outbox``, because an outbox row is the hand-over of a ticket to a provider's Celery
queue (done when the task ran), while a delivery lives on after that: a body that never changes,
one idempotency key for all its attempts, a retry schedule, a dead letter an operator re-drives.
The URL and secret are looked up when each attempt is made (the provider's current settings),
so re-driving after a corrected address works; ``url`` records where the last attempt went.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow

# ticket: a ticket posted to its provider's system; callback: a milestone posted to the approval
# system; sms: a message posted to the SMS gateway
DELIVERY_KINDS = ("ticket", "callback", "sms")


class HttpDelivery(db.Model):
    __tablename__ = "http_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # who it goes to: a provider's code, ``approval-system``, ``sms-gateway``
    target: Mapped[str] = mapped_column(String(60))
    url: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON bytes signed and sent, as text
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("applicant_messages.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # due for its next attempt from this moment (also the lease of an attempt under way)
    next_attempt_at = mapped_column(UTCDateTime, nullable=True, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    delivered_at = mapped_column(UTCDateTime, nullable=True)
    dead_at = mapped_column(UTCDateTime, nullable=True, index=True)


class CallbackEndpoint(db.Model):
    """Where an integrated system wants its callbacks (one row per system), and the secret
    they are signed with (never shown again once set)."""

    __tablename__ = "callback_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
