"""Authentication: password hashing, sessions for the web UI, bearer tokens for the API.

Web sessions live on the server (``user_sessions``): the signed cookie carries only a random
session id, so logging out, a password change, deactivating a user and an administrator's
"sign out everywhere" end sessions for good, even where a copy of the cookie survives.
Failed sign-ins are counted per username (``login_throttle``), whatever the address they come
from; too many lock the username for a while.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, current_app, g, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import bindparam, case, literal
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from jointdesk import audit
from jointdesk.access import Viewer, can_use_web
from jointdesk.extensions import db, login_manager
from jointdesk.models import ApiToken, LoginThrottle, User, UserSession
from jointdesk.models.types import UTCDateTime, utcnow
from jointdesk.prebuilt import first_row

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


def user_for_token(token: str, *, reading: bool = False) -> User | Viewer | None:
    """The active user a token belongs to, else None. ``reading`` (a request that only reads,
    see ``cases.read.read_without_transaction``): the user as a ``Viewer`` (identity, role,
    provider: all any read decides by) from plain columns, not a model instance."""
    if reading:  # plain columns, on the request's autocommit connection
        from jointdesk.cases.read import read_connection

        connection = read_connection()
        row = first_row(connection, _TOKEN_VIEWER, {"digest": _token_digest(token)})
    else:  # the same plain read; the user becomes the session's model instance below
        row = first_row(db.session.connection(), _TOKEN_USER, {"digest": _token_digest(token)})
    if row is None or not row["active"]:
        return None
    now = utcnow()
    last_used = row["last_used_at"]
    if last_used is None or last_used < now - TOKEN_USE_GRANULARITY:
        # kept coarse (one write per token every few minutes) so that administrators can see
        # which tokens are in use without a write on every API request
        touch = db.update(ApiToken).where(ApiToken.id == row["token_id"]).values(last_used_at=now)
        if reading:
            connection.execute(touch)  # autocommit: one statement that commits alone
        else:
            db.session.execute(touch)
            db.session.commit()
    if reading:
        return Viewer(row["id"], row["username"], row["role"], row["provider_id"])
    return _session_user(row)


def _session_user(row: dict) -> User:
    """The session's ``User`` for a row of its columns, without a query: the one the session
    already holds, else one made from the row and attached as if loaded (SQLAlchemy's way of
    taking in an object read elsewhere, ``make_transient_to_detached``); an ORM load of the
    entity cost more than the rest of a token's check."""
    session = db.session()
    held = session.identity_map.get(session.identity_key(User, row["id"]))
    if held is not None:  # as a query would: what it has not loaded (or had expired) is set
        unloaded = sa_inspect(held).unloaded
        for attr, name in _USER_ATTRIBUTES:
            if attr in unloaded:
                set_committed_value(held, attr, row[name])
        return held
    user = User(**{attr: row[name] for attr, name in _USER_ATTRIBUTES})
    make_transient_to_detached(user)
    session.add(user)
    return user


def _by_token(*columns):
    """A token's user (``columns``), with the token's id and last use, in one indexed read;
    built once, the token's digest bound per request."""
    return (
        db.select(*columns, User.active, ApiToken.id.label("token_id"), ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
    )


# each mapped column of a user as (attribute, label in the token's read)
_USER_ATTRIBUTES = tuple((prop.key, f"u_{prop.key}") for prop in User.__mapper__.column_attrs)
_TOKEN_USER = _by_token(
    *(getattr(User, attr).label(name) for attr, name in _USER_ATTRIBUTES)
).add_columns(User.id)  # ``id`` as the viewer's read names it
_TOKEN_VIEWER = _by_token(User.id, User.username, User.role, User.provider_id)


# --- web sessions -------------------------------------------------------------------------

SESSION_KEY = "sid"  # the key of the random session id in the signed cookie


def start_session(user: User) -> str:
    """A new server-side session for ``user``; returns the id to keep in the cookie."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    hours = current_app.config["JOINTDESK_SESSION_HOURS"]
    # the table stays small: this user's ended sessions go (the audit log keeps the history)
    db.session.execute(
        db.delete(UserSession).where(
            UserSession.user_id == user.id,
            db.or_(UserSession.revoked_at.is_not(None), UserSession.expires_at <= now),
        )
    )
    db.session.add(
        UserSession(
            id=_token_digest(sid),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return sid


def end_session(sid: str | None) -> None:
    """Revokes one session (logout); the caller commits."""
    if isinstance(sid, str) and sid:
        db.session.execute(
            db.update(UserSession)
            .where(UserSession.id == _token_digest(sid), UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def revoke_sessions(user: User, actor: User | str | None, reason: str) -> int:
    """Ends every session of ``user`` (sign out everywhere); audited; the caller commits."""
    count = db.session.execute(
        db.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    audit.record(
        "sessions_revoked",
        actor=actor,
        detail={"username": user.username, "reason": reason, "sessions": count},
    )
    return count


def active_session_counts() -> dict[int, int]:
    """Sessions still usable, per user id (for the administrator's user list)."""
    rows = db.session.execute(
        db.select(UserSession.user_id, db.func.count())
        .where(UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow())
        .group_by(UserSession.user_id)
    )
    return {user_id: n for user_id, n in rows}


def set_password(user: User, password: str, actor: User | str | None) -> None:
    """A new password; every session of the user ends. The caller commits."""
    user.password_hash = hash_password(password)
    audit.record("password_changed", actor=actor, detail={"username": user.username})
    revoke_sessions(user, actor, "password_changed")


def set_active(user: User, active: bool, actor: User | str | None) -> None:
    """Deactivating a user ends their sessions (their API tokens stop working too)."""
    user.active = active
    audit.record(
        "user_activated" if active else "user_deactivated",
        actor=actor,
        detail={"username": user.username},
    )
    if not active:
        revoke_sessions(user, actor, "deactivated")


# --- sign-in throttling, per username --------------------------------------------------------


def login_locked_until(username: str):
    """When the lock on this username ends, if it is locked now."""
    until = db.session.execute(
        db.select(LoginThrottle.locked_until).where(LoginThrottle.username == username[:64])
    ).scalar_one_or_none()
    return until if until is not None and until > utcnow() else None


def _upsert(table):
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def record_login_failure(username: str):
    """Counts one failure for ``username`` (known or not); returns the lock's end when this
    failure locked it. Failures older than the lock period are forgotten. Commits."""
    cfg = current_app.config
    now = utcnow()
    period = timedelta(minutes=cfg["JOINTDESK_LOGIN_LOCK_MINUTES"])
    username = username[:64]
    stale = LoginThrottle.first_failure_at < literal(now - period, UTCDateTime())
    stmt = _upsert(LoginThrottle).values(username=username, failures=1, first_failure_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.username],
        set_={
            "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
            "first_failure_at": case(
                (stale, literal(now, UTCDateTime())), else_=LoginThrottle.first_failure_at
            ),
        },
    ).returning(LoginThrottle.failures)
    failures = db.session.execute(stmt).scalar_one()
    audit.record("login_failed", detail={"username": username, "failures": failures})
    locked = None
    if failures >= cfg["JOINTDESK_LOGIN_LOCK_FAILURES"]:
        locked = now + period
        db.session.execute(
            db.update(LoginThrottle)
            .where(LoginThrottle.username == username)
            .values(failures=0, first_failure_at=now, locked_until=locked)
        )
        audit.record(
            "account_locked",
            detail={"username": username, "failures": failures, "until": locked.isoformat()},
        )
    db.session.commit()
    return locked


def clear_login_failures(username: str) -> None:
    """After a successful sign-in (also forgets other usernames' old failures and ended locks,
    so guessed usernames do not pile up); the caller commits."""
    now = utcnow()
    cutoff = now - timedelta(minutes=current_app.config["JOINTDESK_LOGIN_LOCK_MINUTES"])
    db.session.execute(
        db.delete(LoginThrottle).where(
            db.or_(
                LoginThrottle.username == username[:64],
                db.and_(
                    LoginThrottle.first_failure_at < cutoff,
                    db.or_(
                        LoginThrottle.locked_until.is_(None),
                        LoginThrottle.locked_until < now,
                    ),
                ),
            )
        )
    )


def unlock_login(username: str, actor: User | str | None) -> bool:
    """An administrator lifts a lock (and forgets the failures); audited. Commits."""
    was_locked = login_locked_until(username) is not None
    clear_login_failures(username)
    audit.record("account_unlocked", actor=actor, detail={"username": username[:64]})
    db.session.commit()
    return was_locked


def init_auth(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in first.")
    login_manager.login_message_category = "warning"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        """One indexed look-up: the cookie's session, alive, of this active web user."""
        sid = session.get(SESSION_KEY)
        if not isinstance(sid, str) or not sid:
            return None
        try:
            uid = int(user_id)
        except ValueError:
            return None
        user = db.session.execute(
            db.select(User)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                UserSession.id == _token_digest(sid),
                UserSession.user_id == uid,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
                User.active.is_(True),
            )
        ).scalar_one_or_none()
        return user if user is not None and can_use_web(user) else None


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


def api_user() -> User | Viewer | None:
    """The user behind this request's bearer token, if any; also kept as ``g.api_user``. In a
    request that only reads, a ``Viewer`` (see ``user_for_token``)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    g.api_user = (
        user_for_token(token.strip(), reading=g.get("read_without_transaction", False))
        if scheme.lower() == "bearer"
        else None
    )
    return g.api_user
