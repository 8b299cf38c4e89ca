"""``/healthz``: liveness, and the state of the database and the broker."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from jointdesk.extensions import db

bp = Blueprint("health", __name__)


def broker_state() -> str:
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return "down"
    return "ok"


def database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return "down"
    return "ok"


@bp.get("/healthz")
def healthz():
    """200 while the database answers (the broker may be down: intake still works); else 503."""
    database = database_state()
    broker = broker_state()
    body = {"status": "ok" if database == "ok" else "down", "database": database, "broker": broker}
    return jsonify(body), 200 if database == "ok" else 503
