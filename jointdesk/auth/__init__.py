"""Authentication: password hashing, sessions for the web UI, bearer tokens for the API."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from jointdesk.extensions import db, login_manager
from jointdesk.models import ApiToken, User
from jointdesk.models.types import utcnow

# Argon2id, RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4): above the OWASP minimum
# (m=19 MiB, t=2, p=1).
_hasher = PasswordHasher()
# verified against when the username is unknown, so both paths cost the same
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10
TOKEN_USE_GRANULARITY = timedelta(minutes=5)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if user is None or not user.active:
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return True


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    """Creates a token for the user and returns it; only its digest is kept."""
    token = "jd_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), prefix=token[:8]))
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.execute(
        db.select(ApiToken).where(
            ApiToken.token_hash == _token_digest(token), ApiToken.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or row.last_used_at < now - TOKEN_USE_GRANULARITY:
        # kept coarse (one write per token every few minutes) so that administrators can see
        # which tokens are in use without a write on every API request
        row.last_used_at = now
        db.session.commit()
    return row.user


def init_auth(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in first.")
    login_manager.login_message_category = "warning"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            user = db.session.get(User, int(user_id))
        except ValueError:
            return None
        return user if user and user.active else None


def roles_required(*roles: str) -> Callable:
    """Web views: signed in, and one of these roles; 403 otherwise."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def api_user() -> User | None:
    """The user behind this request's bearer token, if any; also kept as ``g.api_user``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    g.api_user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
    return g.api_user
