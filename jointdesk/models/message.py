"""Messages to applicants (SMS): one row per message, written in the transaction of what it is
about, whatever the gateway does later.

``dedup_key`` is unique: the event a message answers (``case:12:accepted``, ``otp:34``) names it,
so a retried worker or a replayed event never sends the applicant the same message twice.
The row keeps the whole phone number because the gateway needs it; screens show it masked and
logs never name it.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow

# pending: written, not yet handed to a gateway; sent: the gateway (or, in the embedded default,
# the outbox itself) has it; dead: the gateway refused it on every try (see the dead letters)
MESSAGE_STATES = ("pending", "sent", "dead")


class ApplicantMessage(db.Model):
    __tablename__ = "applicant_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    phone: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at = mapped_column(UTCDateTime, nullable=True)
