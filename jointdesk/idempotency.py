"""One request, one case: a caller's key remembers what its first request created.

Three kinds of key, each unique per caller (user) and scope:

- ``api``: the ``Idempotency-Key`` header of a POST that creates a case. The same key and the
  same body within ``KEY_LIFETIME`` answer the first case again; another body is refused.
- ``form``: the one-time token of a window form, issued with the page; a resubmitted form
  (double click, slow network, Back and submit) shows the first case's receipt.
- ``receipt``: a one-time link to a receipt that shows a newly issued query code once.

The row is written in the SAME transaction as the case, behind a unique constraint: of
concurrent requests with one key, exactly one commits a case; the others fail on the constraint
(PostgreSQL makes them wait for the first to commit), roll back, and answer with its case.

Query codes are otherwise kept only as a keyed hash. A row may keep its case's code *sealed*
(added to a pad derived from the secret key; a database dump alone does not reveal it) so that
the first answer can be given again: a receipt shows it once and erases it, an API retry gets
it until the key expires, and issuing a new code erases every sealed copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from jointdesk.extensions import db
from jointdesk.models import Case, RequestKey
from jointdesk.models.types import utcnow

KEY_LIFETIME = timedelta(hours=24)
HEADER = "Idempotency-Key"
API, FORM, RECEIPT = "api", "form", "receipt"
MAX_KEY = 64
# printable ASCII, no space at either end: HTTP drops such spaces, so a key sent with them could
# not be told from one without (and " " would be no key at all); the OpenAPI document serves it
KEY_PATTERN = r"[!-~]([ -~]{0,62}[!-~])?"
_KEY = re.compile(KEY_PATTERN)
_CODE_SPACE = 10**8  # query codes are eight digits


class BadKey(ValueError):
    """The key is empty, longer than 64 characters, or not printable ASCII."""


class Replay(Exception):  # noqa: N818  (a signal, not an error)
    """The key was used before: ``row`` says for which case."""

    def __init__(self, row: RequestKey):
        super().__init__(row.key)
        self.row = row


@dataclass(frozen=True)
class Claim:
    """What one request would remember if it creates a case."""

    user_id: int
    scope: str
    key: str
    fingerprint: str = ""
    keep_code: bool = False


def check_key(value: str | None) -> str | None:
    """The header's value, or None when absent; raises BadKey when malformed."""
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise BadKey(value)
    return value


def new_token() -> str:
    """A one-time form token or receipt link (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def is_token(value: str | None) -> bool:
    return bool(value) and len(value) <= MAX_KEY and re.fullmatch(r"[A-Za-z0-9_-]+", value)


def _hmac(message: str) -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def fingerprint(scope: str, path: str, data: object) -> str:
    """Keyed digest of the request: equal for the same body whatever its key order or spacing."""
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":")
    )  # ASCII: lone surrogates too
    return _hmac(f"request:{scope}:{path}:{canonical}").hex()


def _pad(claim_scope: str, user_id: int, key: str, reference: str) -> int:
    digest = _hmac(f"seal:{claim_scope}:{user_id}:{key}:{reference}")
    return int.from_bytes(digest[:8], "big") % _CODE_SPACE


def _seal(row: RequestKey, reference: str, code: str) -> str:
    pad = _pad(row.scope, row.user_id, row.key, reference)
    return f"{(int(code) + pad) % _CODE_SPACE:08d}"


def _unseal(row: RequestKey, reference: str) -> str | None:
    if not row.sealed_code:
        return None
    pad = _pad(row.scope, row.user_id, row.key, reference)
    return f"{(int(row.sealed_code) - pad) % _CODE_SPACE:08d}"


def find(user_id: int, scope: str, key: str) -> RequestKey | None:
    """The caller's unexpired row for this key, if any."""
    return db.session.execute(
        db.select(RequestKey).where(
            RequestKey.user_id == user_id,
            RequestKey.scope == scope,
            RequestKey.key == key,
            RequestKey.created_at > utcnow() - KEY_LIFETIME,
        )
    ).scalar_one_or_none()


def find_claim(claim: Claim) -> RequestKey | None:
    return find(claim.user_id, claim.scope, claim.key)


def attach(claim: Claim, case: Case, code: str) -> RequestKey:
    """Remembers the claim for ``case`` in the caller's transaction (the case must be flushed).

    Flushes at once, so that a concurrent request with the same key waits or fails here,
    before any other work; an expired row of the same key makes way first.
    """
    db.session.execute(
        db.delete(RequestKey).where(
            RequestKey.user_id == claim.user_id,
            RequestKey.scope == claim.scope,
            RequestKey.key == claim.key,
            RequestKey.created_at <= utcnow() - KEY_LIFETIME,
        )
    )
    row = RequestKey(
        user_id=claim.user_id,
        scope=claim.scope,
        key=claim.key,
        fingerprint=claim.fingerprint,
        case_id=case.id,
        created_at=utcnow(),
    )
    if claim.keep_code:
        row.sealed_code = _seal(row, case.reference, code)
    db.session.add(row)
    db.session.flush()
    return row


def code_of(row: RequestKey) -> str | None:
    """The sealed query code of the row's case, left in place (API retries)."""
    case = db.session.get(Case, row.case_id)
    return _unseal(row, case.reference) if case is not None else None


def take_code(user_id: int, key: str, case: Case) -> str | None:
    """Shows a receipt's code once: the caller's form or receipt row for this case gives its
    sealed code up and forgets it, in one conditional update (two tabs cannot both get it)."""
    if not is_token(key):
        return None
    row = db.session.execute(
        db.select(RequestKey).where(
            RequestKey.user_id == user_id,
            RequestKey.scope.in_((FORM, RECEIPT)),
            RequestKey.key == key,
            RequestKey.case_id == case.id,
            RequestKey.created_at > utcnow() - KEY_LIFETIME,
            RequestKey.sealed_code.is_not(None),
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    code = _unseal(row, case.reference)
    taken = db.session.execute(
        db.update(RequestKey)
        .where(RequestKey.id == row.id, RequestKey.sealed_code == row.sealed_code)
        .values(sealed_code=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return code if taken == 1 else None


def forget_codes(case_id: int) -> None:
    """Erases every sealed copy of a case's code (a new one is being issued)."""
    db.session.execute(
        db.update(RequestKey)
        .where(RequestKey.case_id == case_id, RequestKey.sealed_code.is_not(None))
        .values(sealed_code=None)
        .execution_options(synchronize_session=False)
    )


def remember_receipt(user_id: int, case: Case, code: str) -> str:
    """A one-time receipt link that shows ``code`` once; returns its key."""
    claim = Claim(user_id=user_id, scope=RECEIPT, key=new_token(), keep_code=True)
    attach(claim, case, code)
    return claim.key


def purge() -> int:
    """Deletes expired keys (beat task, hourly); returns how many."""
    deleted = db.session.execute(
        db.delete(RequestKey)
        .where(RequestKey.created_at <= utcnow() - KEY_LIFETIME)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return deleted
