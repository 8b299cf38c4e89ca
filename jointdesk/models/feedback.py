"""What applicants and the public say: ratings (好差评), follow-ups, complaints (投诉举报)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import Provider
from jointdesk.models.types import UTCDateTime, utcnow

# The national five-level scale; 不满意 and 非常不满意 are a 差评.
RATING_LEVELS = (5, 4, 3, 2, 1)  # 非常满意, 满意, 基本满意, 不满意, 非常不满意
BAD_RATING_MAX = 2


class Rating(db.Model):
    """One rating of one service (ticket) of a completed case. ``round`` 1 is the first rating;
    round 2 the one more rating the applicant may give after a 差评 was followed up."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ticket_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    round: Mapped[int] = mapped_column(SmallInteger, default=1)
    level: Mapped[int] = mapped_column(SmallInteger)  # 1..5, 5 = 非常满意
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20))  # online | window | sms | app
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)

    provider: Mapped[Provider] = relationship()

    @property
    def bad(self) -> bool:
        return self.level <= BAD_RATING_MAX


class RatingFollowUp(db.Model):
    """The provider's handling of a 差评: call back, verify, rectify, report; a supervisor reviews.

    status: open → answered → closed (accepted), or answered → open again (sent back)."""

    __tablename__ = "rating_follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    due_at = mapped_column(UTCDateTime, nullable=False)
    called_back_at = mapped_column(UTCDateTime, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    rating: Mapped[Rating] = relationship()
    provider: Mapped[Provider] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Complaint(db.Model):
    """A complaint or report against a provider (and possibly one case), routed to supervisors.

    status: open → answered → closed; the complainant looks it up by reference and query code."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    query_code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))  # online | hotline | window
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    complainant_name: Mapped[str] = mapped_column(String(100))
    complainant_phone: Mapped[str] = mapped_column(String(11))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    due_at = mapped_column(UTCDateTime, nullable=False)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at = mapped_column(UTCDateTime, nullable=True)
    close_note: Mapped[str] = mapped_column(Text, default="")
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64))  # the hotline clerk; None online
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    provider: Mapped[Provider | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
