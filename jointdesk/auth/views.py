"""Sign in and out, language choice, and the home page that sends each role to its work."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from jointdesk import LOCALES, audit
from jointdesk.access import can_use_web
from jointdesk.auth import (
    SESSION_KEY,
    clear_login_failures,
    end_session,
    login_locked_until,
    record_login_failure,
    start_session,
    verify_password,
)
from jointdesk.extensions import db, limiter
from jointdesk.models import User

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {
    "clerk": "windows.new_application",
    "staff": "desk.queue",
    "supervisor": "cases.search",
    "admin": "admin.dashboard",
}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PostForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that change state."""


def _login_limit() -> str:
    return current_app.config["JOINTDESK_LOGIN_LIMIT"]


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/")
def home():
    """Each role starts where its work is; the public start at the status look-up."""
    if not current_user.is_authenticated:
        return redirect(url_for("cases.public_status"))
    return redirect(url_for(HOME_BY_ROLE.get(current_user.role, "cases.public_status")))


def _fresh_session() -> None:
    """A new session at sign-in and sign-out: nothing from before (CSRF token included)
    carries over but the language."""
    lang = session.get("lang")
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF's per-request copy of the old token
    if lang:
        session["lang"] = lang


def _locked_message(until) -> str:
    return _(
        "Too many failed sign-ins for this username. Try again after %(time)s, "
        "or ask an administrator to unlock it.",
        time=format_datetime(until, "HH:mm"),
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Sign in with username and password; the same message for any wrong pair.

    Failures are counted per username, known or not, from any address: too many lock it
    (the same message whether the username exists or not)."""
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data.strip()[:64]
        locked = login_locked_until(username)
        if locked is not None:
            audit.record("login_refused_locked", detail={"username": username})
            db.session.commit()
            flash(_locked_message(locked), "error")
            return render_template("auth/login.html", form=form)
        user = db.session.execute(
            db.select(User).where(User.username == username)
        ).scalar_one_or_none()
        # API-only accounts fail like a wrong password: the page tells nothing about them
        if verify_password(user, form.password.data) and can_use_web(user):
            clear_login_failures(username)
            _fresh_session()
            session[SESSION_KEY] = start_session(user)
            login_user(user)
            session.permanent = False
            audit.record("login", actor=user)
            db.session.commit()
            home = url_for(HOME_BY_ROLE.get(user.role, "cases.public_status"))
            return redirect(_safe_next(request.args.get("next")) or home)
        locked = record_login_failure(username)
        if locked is not None:
            flash(_locked_message(locked), "error")
        else:
            flash(_("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST with the CSRF token, so no other site can sign you out). The session
    ends on the server: a copy of the cookie opens nothing afterwards."""
    form = PostForm()
    if form.validate_on_submit():
        end_session(session.get(SESSION_KEY))
        db.session.commit()
        logout_user()
        _fresh_session()
    return redirect(url_for("auth.login"))


@bp.post("/lang/<code>")
def set_language(code: str):
    """Switch the interface language for this browser session."""
    form = PostForm()
    if form.validate_on_submit() and code in LOCALES:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.home"))
