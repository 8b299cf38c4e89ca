"""Transactional outbox: a row per message to publish, written with the data it is about.

A row is done only when the task it carries has done its work (``done_at``), not when it was
published, so a message lost in the broker or in a killed worker is published again.
"""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow


class OutboxMessage(db.Model):
    __tablename__ = "outbox"
    # every reader of the table but the delivery (which goes by id) wants the open rows: the
    # relay, the health check. One partial index holds them, and none holds ``next_attempt_at``
    # or ``taken_by``, so that a worker's take of a row (it writes only those) is a HOT update
    # on PostgreSQL: no index entry written (see migration 0023)
    __table_args__ = (
        Index(
            "ix_outbox_open",
            "id",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    task: Mapped[str] = mapped_column(String(80))
    queue: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    published_at = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the relay looks at a row again from this moment (backoff after each publish or failure)
    next_attempt_at = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at = mapped_column(UTCDateTime, nullable=True)
    # the worker process (heartbeats.id) whose delivery task started on this row, and when
    # (on PostgreSQL written only for a delivery still running after outbox.TAKE_AFTER_SECONDS);
    # cleared when the row is published again. A row taken by a dead worker is redelivered at once.
    taken_by: Mapped[str | None] = mapped_column(String(32))
    taken_at = mapped_column(UTCDateTime, nullable=True)

    ticket = relationship("Ticket")
