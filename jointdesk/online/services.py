"""One-time codes, their limits, and the submission of an online application.

Codes: six digits, kept only as an HMAC (keyed with the secret key) of phone and code, with an
expiry and a number of attempts; a wrong code uses one attempt, the last one kills the code, a
new code kills the older ones. Sending is ``messaging.send`` in the same transaction as the code
row, so a code exists exactly when its message is queued.

Limits: per phone number, counted from the stored rows (``JOINTDESK_OTP_PHONE_LIMIT``), and per
client address, counted by the rate limiter's storage (``JOINTDESK_OTP_CLIENT_LIMIT``); a refused
request learns how long to wait.

Submissions: a repeated identical application (same verified phone, same normalised data)
within ``KEY_LIFETIME`` answers with the first case. The key is a unique row written in the
case's own transaction (``OnlineGuard``), so of concurrent twins exactly one commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from limits import parse_many

from jointdesk import messaging
from jointdesk.extensions import db, limiter
from jointdesk.models import OnlineSubmission, VerificationCode
from jointdesk.models.types import utcnow
from jointdesk.schemas import PHONE_AS_TYPED
from jointdesk.windows.validation import Application

KEY_LIFETIME = timedelta(hours=24)
CODE_DIGITS = 6
_CODE_SPACE = 10**8  # query codes are eight digits
_PHONE = re.compile(PHONE_AS_TYPED)


class TooSoon(Exception):  # noqa: N818  (a refusal, with the wait)
    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = max(1, int(seconds))

    @property
    def message(self) -> str:
        return _("Too many requests; please try again in %(wait)s.", wait=wait_text(self.seconds))


class CodeRefused(Exception):  # noqa: N818
    """``reason``: wrong (attempts left), dead (no attempt left), expired, used, or none."""

    def __init__(self, reason: str, attempts_left: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.attempts_left = attempts_left

    @property
    def message(self) -> str:
        if self.reason == "wrong":
            return _("The code is not correct; attempts left: %(num)d.", num=self.attempts_left)
        if self.reason == "used":
            return _("This code was already used; request a new one.")
        if self.reason == "expired":
            return _("This code has expired; request a new one.")
        if self.reason == "dead":
            return _("Too many wrong attempts; this code no longer works. Request a new one.")
        return _("No code was sent to this number; request one first.")


def wait_text(seconds: int) -> str:
    """A wait in words: seconds under two minutes, then minutes, then hours (rounded up)."""
    if seconds < 120:
        return _("%(num)d s", num=seconds)
    if seconds < 7200:
        return _("%(num)d min", num=-(-seconds // 60))
    return _("%(num)d h", num=-(-seconds // 3600))


def clean_phone(value: str) -> str:
    """The number as stored: NFKC (full-width digits), spaces dropped."""
    return "".join(unicodedata.normalize("NFKC", value or "").split())


def is_phone(value: str) -> bool:
    return isinstance(value, str) and bool(_PHONE.fullmatch(value))


def _hmac(message: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def phone_digest(phone: str) -> str:
    return _hmac(f"otp-phone:{phone}")


def code_digest(phone: str, code: str) -> str:
    return _hmac(f"otp-code:{phone}:{code}")


def minutes() -> int:
    return int(current_app.config["JOINTDESK_OTP_MINUTES"])


# --- limits --------------------------------------------------------------------------------------


def check_client_limit(scope: str, setting: str) -> None:
    """Counts one request of this client (address) against the limits in ``setting``; raises
    TooSoon with the wait when one is used up. Shares the rate limiter's storage."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = limiter.limiter
    client = get_remote_address()
    for item in parse_many(current_app.config[setting]):
        if not strategy.hit(item, scope, client):
            reset, _remaining = strategy.get_window_stats(item, scope, client)
            raise TooSoon(int(reset - time.time()) + 1)


def _check_phone_limit(phone_hash: str, now: datetime) -> None:
    for item in parse_many(current_app.config["JOINTDESK_OTP_PHONE_LIMIT"]):
        window = timedelta(seconds=item.get_expiry())
        recent = (
            db.session.execute(
                db.select(VerificationCode.created_at)
                .where(
                    VerificationCode.phone_hash == phone_hash,
                    VerificationCode.created_at > now - window,
                )
                .order_by(VerificationCode.created_at.desc())
                .limit(item.amount)
            )
            .scalars()
            .all()
        )
        if len(recent) >= item.amount:
            raise TooSoon(int((recent[-1] + window - now).total_seconds()) + 1)


def resend_after(phone: str) -> int:
    """Seconds before ``phone`` may ask for another code (0: now)."""
    try:
        _check_phone_limit(phone_digest(phone), utcnow())
    except TooSoon as exc:
        return exc.seconds
    return 0


def _lock_phone(phone_hash: str) -> None:
    """Requests for one number, one after the other (PostgreSQL; SQLite writes one at a time)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            db.text("SELECT pg_advisory_xact_lock(:k)"),
            {"k": int(phone_hash[:15], 16)},
        )


# --- codes ---------------------------------------------------------------------------------------


def request_code(phone: str) -> int:
    """A new code for ``phone`` (already cleaned and valid), sent as a message in the same
    transaction; returns the code row's id. Raises TooSoon (nothing written)."""
    check_client_limit("otp-client", "JOINTDESK_OTP_CLIENT_LIMIT")
    digest = phone_digest(phone)
    _lock_phone(digest)
    now = utcnow()
    try:
        _check_phone_limit(digest, now)
    except TooSoon:
        db.session.rollback()
        raise
    # only the newest code works
    db.session.execute(
        db.update(VerificationCode)
        .where(
            VerificationCode.phone_hash == digest,
            VerificationCode.consumed_at.is_(None),
            VerificationCode.attempts_left > 0,
        )
        .values(attempts_left=0)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = VerificationCode(
        phone_hash=digest,
        code_hash=code_digest(phone, code),
        attempts_left=int(current_app.config["JOINTDESK_OTP_ATTEMPTS"]),
        created_at=now,
        expires_at=now + timedelta(minutes=minutes()),
    )
    db.session.add(row)
    db.session.flush()
    messaging.send(
        phone,
        "verification_code",
        {"code": code, "minutes": minutes()},
        dedup_key=f"otp:{row.id}",
    )
    db.session.commit()
    return row.id


def _latest(phone: str) -> VerificationCode | None:
    return db.session.execute(
        db.select(VerificationCode)
        .where(VerificationCode.phone_hash == phone_digest(phone))
        .order_by(VerificationCode.created_at.desc(), VerificationCode.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def code_matches(row: VerificationCode | None, phone: str, code: str) -> bool:
    """Constant time; a row of another number never matches."""
    expected = row.code_hash if row is not None else "0" * 64
    given = code_digest(phone, (code or "").strip()[:16])
    return hmac.compare_digest(given, expected) and row is not None


def check_code(phone: str, code: str) -> VerificationCode:
    """The newest code of ``phone`` if ``code`` is it and it may still be used (not consumed:
    the caller consumes it with ``consume``). A wrong code uses one attempt (committed at once).
    Raises CodeRefused."""
    row = _latest(phone)
    now = utcnow()
    if row is None:
        code_matches(None, phone, code)  # the same work either way
        raise CodeRefused("none")
    if row.consumed_at is not None:
        raise CodeRefused("used")
    if row.attempts_left <= 0:
        raise CodeRefused("dead")
    if row.expires_at <= now:
        raise CodeRefused("expired")
    if code_matches(row, phone, code):
        return row
    left = db.session.execute(
        db.update(VerificationCode)
        .where(VerificationCode.id == row.id, VerificationCode.attempts_left > 0)
        .values(attempts_left=VerificationCode.attempts_left - 1)
        .returning(VerificationCode.attempts_left)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    if not left:
        raise CodeRefused("dead")
    raise CodeRefused("wrong", left)


def consume(row_id: int) -> None:
    """Marks the code used, in the caller's transaction; CodeRefused("used") when another
    request used it first (the conditional update decides)."""
    done = db.session.execute(
        db.update(VerificationCode)
        .where(VerificationCode.id == row_id, VerificationCode.consumed_at.is_(None))
        .values(consumed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise CodeRefused("used")


# --- submissions ---------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def same_application_key(app_data: Application) -> str:
    """The key of "the same application": every field the applicant filled, normalised
    (spaces and full-width characters in name and address ignored, services in any order);
    the channel is not part of it (the page and the app are one applicant)."""
    data = asdict(app_data)
    data.pop("channel")
    data.pop("materials")
    data["applicant_name"] = _fold(data["applicant_name"])
    data["address_detail"] = _fold(data["address_detail"])
    data["services"] = sorted(data["services"])
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return _hmac(f"online-same:{canonical}")


def request_key(phone: str, key: str) -> str:
    """The key of an app's ``Idempotency-Key``, per verified phone number."""
    return _hmac(f"online-key:{phone}:{key}")


def body_fingerprint(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return _hmac(f"online-body:{canonical}")


def _pad(submission_key: str, reference: str) -> int:
    digest = _hmac(f"online-seal:{submission_key}:{reference}")
    return int(digest[:16], 16) % _CODE_SPACE


def seal(submission_key: str, reference: str, code: str) -> str:
    return f"{(int(code) + _pad(submission_key, reference)) % _CODE_SPACE:08d}"


def unseal(row: OnlineSubmission, reference: str) -> str | None:
    if not row.sealed_code or row.created_at <= utcnow() - KEY_LIFETIME:
        return None
    return f"{(int(row.sealed_code) - _pad(row.dedup_key, reference)) % _CODE_SPACE:08d}"


def find_submission(key: str) -> OnlineSubmission | None:
    """The unexpired submission of this key, if any."""
    return db.session.execute(
        db.select(OnlineSubmission).where(
            OnlineSubmission.dedup_key == key,
            OnlineSubmission.created_at > utcnow() - KEY_LIFETIME,
        )
    ).scalar_one_or_none()


def submission_for_case(case_id: int) -> OnlineSubmission | None:
    """The first submission that made the case (it keeps the sealed code)."""
    return db.session.execute(
        db.select(OnlineSubmission)
        .where(OnlineSubmission.case_id == case_id)
        .order_by(OnlineSubmission.id)
        .limit(1)
    ).scalar_one_or_none()


class Replay(Exception):  # noqa: N818  (a signal)
    """This application (or key) made a case before: ``row`` says which."""

    def __init__(self, row: OnlineSubmission):
        super().__init__(row.case_id)
        self.row = row


@dataclass
class OnlineGuard:
    """What ``submit_application`` writes with the case, in its transaction: one unique row per
    key (the same application; the app's Idempotency-Key), then the code consumed (the API; the
    page consumed it when the browser verified the phone)."""

    keys: list[tuple[str, str]]  # (dedup key, body fingerprint)
    verification_id: int
    consume: bool

    def attach(self, case, code: str) -> None:
        now = utcnow()
        names = [k for k, _f in self.keys]
        db.session.execute(
            db.delete(OnlineSubmission)
            .where(
                OnlineSubmission.dedup_key.in_(names),
                OnlineSubmission.created_at <= now - KEY_LIFETIME,
            )
            .execution_options(synchronize_session=False)
        )
        for key, fingerprint in self.keys:
            db.session.add(
                OnlineSubmission(
                    dedup_key=key,
                    fingerprint=fingerprint,
                    case_id=case.id,
                    verification_id=self.verification_id,
                    sealed_code=seal(key, case.reference, code),
                    created_at=now,
                )
            )
            db.session.flush()  # a concurrent twin waits here, then fails on the unique key
        if self.consume:
            consume(self.verification_id)

    def after_conflict(self) -> None:
        """After a unique-constraint failure: the twin that committed first, if any."""
        for key, _f in self.keys:
            row = find_submission(key)
            if row is not None:
                raise Replay(row)


def purge() -> int:
    """Forgets what is no longer needed (beat task, hourly, with the idempotency keys):
    submissions older than ``KEY_LIFETIME`` (their sealed codes with them), then codes older
    than two days (past every limit's window) that no kept submission names. Returns how
    many rows went."""
    now = utcnow()
    gone = db.session.execute(
        db.delete(OnlineSubmission)
        .where(OnlineSubmission.created_at <= now - KEY_LIFETIME)
        .execution_options(synchronize_session=False)
    ).rowcount
    kept = db.select(OnlineSubmission.verification_id)
    gone += db.session.execute(
        db.delete(VerificationCode)
        .where(
            VerificationCode.created_at <= now - timedelta(days=2),
            VerificationCode.id.not_in(kept),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return gone
