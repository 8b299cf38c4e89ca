"""JointDesk: one window for water, electricity, gas and heat connections."""

from __future__ import annotations

import inspect
import logging
import os
import time
from pathlib import Path
from typing import Any

from babel import Locale
from flask import Flask, request, session
from flask_babel import refresh as flask_babel_refresh
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from jointdesk.extensions import babel, csrf, db, limiter, login_manager, migrate
from jointdesk.workingtime import forget_calendar

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALES = ("zh_CN", "en")
# Babel parses zh_CN as zh_Hans_CN, so that is the name of the catalog folder
BABEL_NAMES = {"zh_CN": "zh_Hans_CN", "en": "en"}
# parsed once: Flask-Babel takes a Locale as it is, and would parse a name on every request
_BABEL_LOCALES = {name: Locale.parse(babel_name) for name, babel_name in BABEL_NAMES.items()}
log = logging.getLogger(__name__)


class App(Flask):
    """Flask, running plain functions as they are without asking ``inspect`` whether each is a
    coroutine function, for every hook and view of every request (a dozen a request); any
    other callable (a partial, an async function) goes Flask's way."""

    def ensure_sync(self, func):
        code = getattr(func, "__code__", None)
        if code is not None and not code.co_flags & _COROUTINE_FLAGS:
            return func
        return super().ensure_sync(func)


_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def select_locale() -> Locale:
    """The user's chosen language; API clients may ask with Accept-Language; else Chinese."""
    req = request._get_current_object() if request else None
    chosen = session.get("lang") if req is not None else None
    if chosen not in LOCALES and req is not None and req.path.startswith("/api/"):
        chosen = req.accept_languages.best_match(LOCALES, default="zh_CN")
    return _BABEL_LOCALES.get(chosen or "zh_CN", _BABEL_LOCALES["zh_CN"])


def _fresh_request_state() -> None:
    """Per request: the locale is chosen again and the calendar looked up again (one hook)."""
    flask_babel_refresh()
    forget_calendar()


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, connection_record) -> None:
    """SQLite: WAL so web and workers can write side by side, foreign keys enforced.
    PostgreSQL: JSON values parsed by orjson."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
    elif module.startswith("psycopg"):
        # the JSON PostgreSQL builds for a case read (its children, aggregated) parsed by
        # orjson; SQLAlchemy's own JSON columns keep their own deserializer
        import orjson
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, dbapi_connection)


def ping_when_idle(engine, idle_seconds: float) -> None:
    """Checks a pooled connection before use only if it sat idle for ``idle_seconds`` (a
    database restart or a dropped link is then noticed without failing a request), instead of
    SQLAlchemy's pool_pre_ping, which costs a round trip on every request. A connection in
    steady use is not pinged: should the database restart under load, the first statement on
    an old connection fails, SQLAlchemy discards the whole pool, and the request answers an
    error without having written anything (a client retrying with its Idempotency-Key is safe)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["jointdesk_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("jointdesk_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app (and its Celery app, in ``app.extensions['celery']``)."""
    from config import build_settings
    from jointdesk.json_answers import JSONProvider

    app = App(__name__, instance_relative_config=False)
    app.json = JSONProvider(app)  # orjson; keys in their builders' order
    app.config.update(build_settings())
    if test_config:
        app.config.update(test_config)
        if "SECRET_KEY" in test_config:
            app.config["JOINTDESK_SECRET_KEY_SET"] = True
    app.instance_path = app.config["JOINTDESK_INSTANCE_PATH"]
    if app.config["JOINTDESK_PROXY_COUNT"]:
        # behind a reverse proxy: trust its X-Forwarded-* so rate limits see the real client
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["JOINTDESK_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config["JOINTDESK_DEVELOPMENT"] and not app.config["JOINTDESK_SECRET_KEY_SET"]:
        # several web processes and hosts must share one key: set it explicitly
        raise RuntimeError("JOINTDESK_SECRET_KEY is required outside development")

    from jointdesk.logging_setup import configure_logging

    configure_logging(app)
    db.init_app(app)
    with app.app_context():
        ping_when_idle(db.engine, app.config["JOINTDESK_DB_PING_AFTER_SECONDS"])
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)

    from jointdesk.security import init_security

    init_security(app)
    from jointdesk.catalogs import app_words_for_form_messages, catalog_directory

    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(
            catalog_directory(
                PACKAGE_DIR / "translations", Path(app.instance_path) / "translations"
            )
        ),
    )
    app_words_for_form_messages()
    # the locale is chosen per request, even where an app context outlives one (tests, CLI)
    app.before_request(_fresh_request_state)
    limiter.init_app(app)
    if not app.config["RATELIMIT_ENABLED"]:
        log.warning("rate limiting is OFF (JOINTDESK_RATELIMIT_ENABLED); only for load tests")
    login_manager.init_app(app)

    from jointdesk.auth import init_auth

    init_auth(app)

    from jointdesk.celery_setup import celery_init_app

    celery_init_app(app)

    # the kinds of signed HTTP delivery and the approval-system callbacks' subscriber
    import jointdesk.integrations.callbacks
    import jointdesk.messaging.notifiers
    import jointdesk.routing.channels  # noqa: F401
    from jointdesk.admin.views import bp as admin_bp
    from jointdesk.api import bp as api_bp
    from jointdesk.auth.views import bp as auth_bp
    from jointdesk.cases.views import bp as cases_bp
    from jointdesk.desk.views import bp as desk_bp
    from jointdesk.disclosure.views import bp as disclosure_bp
    from jointdesk.errors import init_errors
    from jointdesk.health import bp as health_bp
    from jointdesk.online.views import bp as online_bp
    from jointdesk.windows.views import bp as windows_bp

    for bp in (auth_bp, windows_bp, desk_bp, cases_bp, admin_bp, api_bp, health_bp, online_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens, never with cookies
    from jointdesk.messaging import milestones
    from jointdesk.messaging.views import bp as messages_bp

    app.register_blueprint(messages_bp)
    app.register_blueprint(disclosure_bp)  # information disclosure: portal and staff pages

    from jointdesk.feedback.views import bp as feedback_bp

    app.register_blueprint(feedback_bp)

    from jointdesk.supervision.views import bp as supervision_bp

    app.register_blueprint(supervision_bp)
    milestones.register()  # web, command line and workers all build the app here
    init_errors(app)

    from jointdesk.templating import init_templating

    init_templating(app)
    return app
