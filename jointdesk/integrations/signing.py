"""Signing of every HTTP message JointDesk exchanges with another system (the contract's
"Providers' own systems and other integrations").

A message is its raw body bytes plus three headers:
- ``X-JointDesk-Timestamp``: Unix seconds when this attempt was sent;
- ``X-JointDesk-Signature: sha256=<hex>``: HMAC-SHA256 with the shared secret of the bytes
  ``<timestamp>.`` followed by the raw body;
- ``Idempotency-Key``: one value per delivery, the same on every retry of it (outbound only).

The receiver recomputes the signature over the bytes it received (never over re-serialised
JSON), compares in constant time and refuses a timestamp more than ``TOLERANCE_SECONDS`` away
from its own clock, so a captured message cannot be replayed later. Pure: no Flask, no database.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-JointDesk-Timestamp"
SIGNATURE_HEADER = "X-JointDesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256="
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A message whose signature or timestamp does not hold; ``reason`` says which, for logs."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value for these bytes: ``sha256=<hex>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(
    secret: str, body: bytes, *, idempotency_key: str | None = None, now: float | None = None
) -> dict[str, str]:
    """The headers of one attempt to send ``body`` (JSON), timestamped ``now``."""
    ts = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
    }
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


def verify(
    secret: str,
    timestamp: str | None,
    signature_value: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Checks one received message; returns its timestamp or raises SignatureError."""
    if not secret:
        raise SignatureError("no secret is configured")
    if not timestamp or not signature_value:
        raise SignatureError("missing signature headers")
    try:
        ts = int(timestamp.strip())
    except ValueError as exc:
        raise SignatureError("timestamp is not Unix seconds") from exc
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = signature(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), signature_value.strip().encode()):
        raise SignatureError("signature does not match")
    return ts
