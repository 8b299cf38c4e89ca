"""Online self-service (网上报装): one-time SMS codes and the submissions they made.

A ``VerificationCode`` keeps only keyed hashes (HMAC with the secret key) of the phone number
and the code: a database dump gives neither away. ``OnlineSubmission`` is the unique key that
makes a repeated submission (double click, a retried app request, the same application sent
again within 24 hours) answer with the first case: its ``dedup_key`` is unique, so of two
concurrent twins exactly one commits a case.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from jointdesk.extensions import db
from jointdesk.models.types import UTCDateTime


class VerificationCode(db.Model):
    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts_left: Mapped[int] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, index=True)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    # set once, by the one request that used the code (a conditional update)
    consumed_at = mapped_column(UTCDateTime, nullable=True)


class OnlineSubmission(db.Model):
    __tablename__ = "online_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # HMAC of the normalised application ("same:") or of phone and Idempotency-Key ("key:")
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC of the request body, for an Idempotency-Key sent again with another body
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    verification_id: Mapped[int] = mapped_column(ForeignKey("verification_codes.id"), index=True)
    # the case's query code, sealed with a pad derived from the secret key, for the submitting
    # browser's receipt and downloads and for a replay; gone after 24 hours
    sealed_code: Mapped[str | None] = mapped_column(String(8))
    created_at = mapped_column(UTCDateTime, nullable=False, index=True)
