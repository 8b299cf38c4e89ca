"""A combined application (联办申请) and its materials."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import District
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.policy.process import ProjectFacts


class Case(db.Model):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    query_code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    applicant_kind: Mapped[str] = mapped_column(String(20))
    applicant_name: Mapped[str] = mapped_column(String(100))
    applicant_id_number: Mapped[str] = mapped_column(String(18), index=True)
    applicant_phone: Mapped[str] = mapped_column(String(11))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    address_detail: Mapped[str] = mapped_column(String(200))
    approval_system_code: Mapped[str | None] = mapped_column(String(64), index=True)
    # set only on cases the approval system pushed: one case per pushed project code
    approval_push_code: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    low_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    external_works: Mapped[bool] = mapped_column(Boolean, default=False)
    pipeline_length_m: Mapped[float | None] = mapped_column(Float)
    supporting_fee_paid: Mapped[bool] = mapped_column(Boolean, default=False)
    excavates_road: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    moves_trees: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    occupies_green_space: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, index=True)

    district: Mapped[District] = relationship()
    tickets: Mapped[list[Ticket]] = relationship(  # noqa: F821
        back_populates="case", order_by="Ticket.id"
    )
    materials: Mapped[list[Material]] = relationship(
        back_populates="case", order_by="Material.id", cascade="all, delete-orphan"
    )

    def facts(self) -> ProjectFacts:
        """The facts the policy's rules decide on."""
        return ProjectFacts(
            channel=self.channel,
            approval_system_code=self.approval_system_code,
            external_works=self.external_works,
            low_risk=self.low_risk,
            pipeline_length_m=self.pipeline_length_m,
            supporting_fee_paid=self.supporting_fee_paid,
            excavates_road=self.excavates_road,
            moves_trees=self.moves_trees,
            occupies_green_space=self.occupies_green_space,
        )


class Material(db.Model):
    __tablename__ = "materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    provided: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # 容缺: a missing material is a to-do, handed over at the site survey
    handed_over_at = mapped_column(UTCDateTime, nullable=True)
    handed_over_by: Mapped[str | None] = mapped_column(String(64))
    # or not needed after all: waived by a named person, with a reason
    waived_at = mapped_column(UTCDateTime, nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(64))
    waive_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def outstanding(self) -> bool:
        """Accepted missing (容缺) and neither handed over nor waived yet."""
        return not self.provided and self.handed_over_at is None and self.waived_at is None

    case: Mapped[Case] = relationship(back_populates="materials")
