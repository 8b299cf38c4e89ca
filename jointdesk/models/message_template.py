"""Administrators' wording of applicants' messages: one row per template they changed.

A template without a row is sent in its shipped wording (``messaging.templates.DEFAULTS``);
resetting to the default deletes the row. Every change (before and after) is an audit event,
so the history lives in the append-only trail, not here.
"""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow


class MessageTemplate(db.Model):
    __tablename__ = "message_templates"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
