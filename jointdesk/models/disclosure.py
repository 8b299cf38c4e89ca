"""What providers publish: their disclosure catalog and their outage notices.

A catalog item is one (provider, scope, kind) of ``policy.disclosure.CATALOG``; ``jointdesk init``
creates every mandatory item empty and unpublished, and the provider's staff fill and publish it.
Every change writes a revision (who, when, what it became), so the history is complete without
reading the audit trail; revisions are never updated or deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jointdesk.extensions import db
from jointdesk.models.reference import District, Provider
from jointdesk.models.types import UTCDateTime, utcnow


class DisclosureItem(db.Model):
    __tablename__ = "disclosure_items"
    __table_args__ = (UniqueConstraint("provider_id", "scope", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    scope: Mapped[str] = mapped_column(String(20))  # "company" or a service's code
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    # published: shown to the public; published_at: when it was (last) published
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # updated_at: the content's last change (title or body), what staleness is measured by
    updated_at = mapped_column(UTCDateTime, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    provider: Mapped[Provider] = relationship()

    __mapper_args__ = {"version_id_col": version}


class DisclosureRevision(db.Model):
    """One change of one item: append-only."""

    __tablename__ = "disclosure_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("disclosure_items.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # edit | publish | unpublish
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


outage_notice_districts = Table(
    "outage_notice_districts",
    db.metadata,
    Column("notice_id", ForeignKey("outage_notices.id"), primary_key=True),
    Column("district_id", ForeignKey("districts.id"), primary_key=True, index=True),
)


class OutageNotice(db.Model):
    """A planned or unplanned stop of a service in some districts, and its restoration."""

    __tablename__ = "outage_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    planned: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(Text, default="")  # streets, estates: free text
    reason: Mapped[str] = mapped_column(Text, default="")
    starts_at = mapped_column(UTCDateTime, nullable=False, index=True)
    expected_restore_at = mapped_column(UTCDateTime, nullable=True)
    restored_at = mapped_column(UTCDateTime, nullable=True)
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    provider: Mapped[Provider] = relationship()
    districts: Mapped[list[District]] = relationship(secondary=outage_notice_districts)

    __mapper_args__ = {"version_id_col": version}
