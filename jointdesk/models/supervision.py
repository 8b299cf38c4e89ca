"""How the city supervises providers: correction orders and the monthly evaluation (评议考核)."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import Provider
from jointdesk.models.types import UTCDateTime, utcnow


class CorrectionOrder(db.Model):
    """责令改正: a supervisor orders a provider to correct something by a deadline.

    status: open → answered → closed, or answered → open again (the answer was not enough)."""

    __tablename__ = "correction_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    deadline = mapped_column(UTCDateTime, nullable=False)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at = mapped_column(UTCDateTime, nullable=True)
    close_note: Mapped[str] = mapped_column(Text, default="")
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    provider: Mapped[Provider] = relationship()

    __mapper_args__ = {"version_id_col": version}


class EvaluationWeights(db.Model):
    """The evaluation's weights, one row per change (append-only); the newest row applies."""

    __tablename__ = "evaluation_weights"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    ratings: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class EvaluationMonth(db.Model):
    """A closed month: its scores are frozen in ``EvaluationScore`` with the weights used."""

    __tablename__ = "evaluation_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    weights: Mapped[dict] = mapped_column(JSON)
    closed_by: Mapped[str] = mapped_column(String(64))
    closed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="")


class EvaluationScore(db.Model):
    """One provider's frozen figures and score for a closed month."""

    __tablename__ = "evaluation_scores"

    month: Mapped[str] = mapped_column(ForeignKey("evaluation_months.month"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    figures: Mapped[dict] = mapped_column(JSON)  # the summary item as it stood at closing
    score = mapped_column(Numeric(5, 2), nullable=False)

    provider: Mapped[Provider] = relationship()
