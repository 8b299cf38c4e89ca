"""One ticket per requested service of a case, worked by one provider."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import Provider
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.models.user import User

# The provider queue's sort key (``desk.services.queue_query``): open before closed, the running
# step's due time (none: last), the ticket's due time, the id. Indexed as written here, and the
# queries use these same expressions (an expression index serves only its own expression).
QUEUE_FAR = "'9999-12-31 00:00:00'"
QUEUE_CLOSED_SQL = "closed_at IS NOT NULL"  # set by exactly the moves to connected and returned
QUEUE_STEP_DUE_SQL = f"COALESCE(step_due_at, {QUEUE_FAR})"
QUEUE_DUE_SQL = f"COALESCE(due_at, {QUEUE_FAR})"
# open tickets (dispatching included), written out so that a partial index can be proved from it
OPEN_SQL = "status IN ('dispatching', 'queued', 'accepted', 'suspended')"


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # the database itself guarantees exactly one ticket per (case, service)
        UniqueConstraint("case_id", "service_code"),
        # a provider's queue in its order, and the same within one status (keyset pages)
        Index(
            "ix_tickets_queue",
            "provider_id",
            text(f"({QUEUE_CLOSED_SQL})"),
            text(QUEUE_STEP_DUE_SQL),
            text(QUEUE_DUE_SQL),
            "id",
        ),
        Index(
            "ix_tickets_queue_status",
            "provider_id",
            "status",
            text(QUEUE_STEP_DUE_SQL),
            text(QUEUE_DUE_SQL),
            "id",
        ),
        # tickets closed since a moment, per provider (the live part of a queue's total)
        Index("ix_tickets_provider_closed", "provider_id", "closed_at"),
        # the open tickets, in id order: the SLA jobs walk them in batches (sla.py)
        Index(
            "ix_tickets_open",
            "id",
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # no index of their own: the unique (case_id, service_code) and the provider's queue
    # indexes lead with them (migration 0021)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    status: Mapped[str] = mapped_column(String(20), default="dispatching", index=True)
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    suspend_reason: Mapped[str | None] = mapped_column(Text)
    return_reason: Mapped[str | None] = mapped_column(Text)
    representative_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # 企业主动对接: when the provider first reached the applicant, and how often it did
    first_contact_at = mapped_column(UTCDateTime, nullable=True)
    contacts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at = mapped_column(UTCDateTime, default=utcnow, index=True)  # month figures
    queued_at = mapped_column(UTCDateTime, nullable=True)
    closed_at = mapped_column(UTCDateTime, nullable=True)
    due_at = mapped_column(UTCDateTime, nullable=True, index=True)
    step_due_at = mapped_column(UTCDateTime, nullable=True)
    # due times that rest on a year whose official calendar is not known yet
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the clock stops while suspended; working time lost is added to the limits
    suspended_at = mapped_column(UTCDateTime, nullable=True)
    suspended_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sla_state: Mapped[str] = mapped_column(String(20), default="on_time", server_default="on_time")
    # a connected ticket: whether it was within every limit (``sla.within_limit`` on the stored
    # step times), stored when it connects and restated with them; None while not connected
    on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    # Optimistic locking: every UPDATE checks the version, but only people's actions move it
    # (desk.services), so background writes (SLA marks, due-time recomputation) never make a
    # member of staff's open form stale.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    case = relationship("Case", back_populates="tickets")
    provider: Mapped[Provider] = relationship()
    representative: Mapped[User | None] = relationship()
    steps: Mapped[list[Step]] = relationship(
        back_populates="ticket", order_by="Step.seq", cascade="all, delete-orphan"
    )
    permits: Mapped[list[Permit]] = relationship(
        back_populates="ticket", order_by="Permit.id", cascade="all, delete-orphan"
    )
    suspensions: Mapped[list[Suspension]] = relationship(
        back_populates="ticket", order_by="Suspension.id", cascade="all, delete-orphan"
    )

    @property
    def current_step(self) -> Step | None:
        return next((s for s in self.steps if s.completed_at is None), None)


class Step(db.Model):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # no index of its own: the unique index leads with it (migration 0022)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(20))
    started_at = mapped_column(UTCDateTime, nullable=True)
    due_at = mapped_column(UTCDateTime, nullable=True)
    completed_at = mapped_column(UTCDateTime, nullable=True)
    suspended_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the working time the step took, suspensions not counted, stored when it ended (completed,
    # or its ticket closed) and restated when the calendar changes; None while it runs
    working_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)

    ticket: Mapped[Ticket] = relationship(back_populates="steps")


class Permit(db.Model):
    """An administrative permit the provider applies for on the applicant's behalf."""

    __tablename__ = "permits"
    __table_args__ = (UniqueConstraint("ticket_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # no index of its own: the unique index leads with it (migration 0022)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    filed_at = mapped_column(UTCDateTime, nullable=True)
    due_at = mapped_column(UTCDateTime, nullable=True)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    granted_at = mapped_column(UTCDateTime, nullable=True)
    # the permit's own light, as the SLA job last announced it (a background write)
    sla_state: Mapped[str] = mapped_column(String(20), default="on_time", server_default="on_time")

    ticket: Mapped[Ticket] = relationship(back_populates="permits")


class Suspension(db.Model):
    """One stop of a ticket's clock. The working time it cost is measured again whenever the
    calendar changes, so a suspension across a provisional year is corrected later."""

    __tablename__ = "suspensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    step_seq: Mapped[int | None] = mapped_column(Integer)
    started_at = mapped_column(UTCDateTime, nullable=False)
    ended_at = mapped_column(UTCDateTime, nullable=True)
    # one of policy.process.SUSPENSION_REASONS; ``reason`` holds the words (required for other)
    reason_code: Mapped[str] = mapped_column(String(30), default="other", server_default="other")
    reason: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="suspensions")


class ClosedTicketCount(db.Model):
    """How many tickets of a provider were closed (connected or returned) before a moment.

    A closed ticket never changes its provider, its status or its ``closed_at`` again, and
    ``closed_at`` is the moment of the closing action, so the count of those closed before a
    moment safely in the past (an hour) is final: a queue's total is this count plus a live
    count of the open tickets and of those closed since (``desk.services.queue_count``).
    Rebuilt every hour by the beat (``refresh_closed_counts``) and after ``bench seed``; with no
    row for a provider the total is simply counted.
    """

    __tablename__ = "closed_ticket_counts"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    closed_before = mapped_column(UTCDateTime, nullable=False)
    tickets: Mapped[int] = mapped_column(Integer, nullable=False)
