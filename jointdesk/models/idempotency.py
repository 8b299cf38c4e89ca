"""Remembered requests: what one caller's key (an API ``Idempotency-Key``, a window form's
one-time token, a receipt link) already created, so that a retry answers with it."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime, utcnow


class RequestKey(db.Model):
    """One key of one caller, written in the same transaction as the case it created.

    ``fingerprint`` is an HMAC of the request (scope, path and canonical body), so a retry with
    another body is told apart. ``sealed_code`` is the case's query code, sealed with a pad
    derived from the secret key, kept only until it is shown (receipts) or the key expires
    (API retries); it is erased when a clerk issues a new code.
    """

    __tablename__ = "request_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key", name="uq_request_keys_caller"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    sealed_code: Mapped[str | None] = mapped_column(String(8))
    created_at = mapped_column(UTCDateTime, default=utcnow, index=True)
