"""One ticket per requested service of a case, worked by one provider."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import Provider
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.models.user import User


class Ticket(db.Model):
    __tablename__ = "tickets"
    # the database itself guarantees exactly one ticket per (case, service)
    __table_args__ = (UniqueConstraint("case_id", "service_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="dispatching", index=True)
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    suspend_reason: Mapped[str | None] = mapped_column(Text)
    return_reason: Mapped[str | None] = mapped_column(Text)
    representative_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow)
    queued_at = mapped_column(UTCDateTime, nullable=True)
    closed_at = mapped_column(UTCDateTime, nullable=True)
    due_at = mapped_column(UTCDateTime, nullable=True, index=True)
    step_due_at = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    case = relationship("Case", back_populates="tickets")
    provider: Mapped[Provider] = relationship()
    representative: Mapped[User | None] = relationship()
    steps: Mapped[list[Step]] = relationship(
        back_populates="ticket", order_by="Step.seq", cascade="all, delete-orphan"
    )


class Step(db.Model):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(20))
    started_at = mapped_column(UTCDateTime, nullable=True)
    due_at = mapped_column(UTCDateTime, nullable=True)
    completed_at = mapped_column(UTCDateTime, nullable=True)

    ticket: Mapped[Ticket] = relationship(back_populates="steps")
