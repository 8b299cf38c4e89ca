"""``/healthz``: the database and the broker, whether workers and the scheduler are alive
(their heartbeat age), and whether deliveries to the providers, and the signed HTTP deliveries
to other systems, are getting stuck."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text

from jointdesk import heartbeat
from jointdesk.extensions import db
from jointdesk.models import HttpDelivery, OutboxMessage
from jointdesk.models.types import utcnow

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


def deliveries_state(now=None) -> dict:
    """Open outbox rows (tickets not yet handed to their provider) and the oldest one's age."""
    now = now or utcnow()
    count, oldest = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.done_at.is_(None)
        )
    ).one()
    age = round(max((now - oldest).total_seconds(), 0.0), 1) if oldest is not None else None
    threshold = current_app.config["JOINTDESK_HEALTH_STUCK_SECONDS"]
    return {
        "undelivered": count,
        "oldest_age": age,
        "stuck_after": threshold,
        "stuck": age is not None and age > threshold,
    }


def http_state(now=None) -> dict:
    """Signed HTTP deliveries (providers' systems, callbacks, SMS): how many wait, how many are
    dead letters, and how late the most overdue attempt is. A provider's system that is down
    keeps its deliveries waiting on their retry schedule, which is no fault here; an attempt
    due for longer than the threshold means nobody is running them (no sender worker)."""
    now = now or utcnow()
    waiting, first_due = db.session.execute(
        select(func.count(HttpDelivery.id), func.min(HttpDelivery.next_attempt_at)).where(
            HttpDelivery.delivered_at.is_(None), HttpDelivery.dead_at.is_(None)
        )
    ).one()
    dead = db.session.scalar(
        select(func.count(HttpDelivery.id)).where(HttpDelivery.dead_at.is_not(None))
    )
    late = (
        round((now - first_due).total_seconds(), 1)
        if first_due is not None and first_due < now
        else None
    )
    threshold = current_app.config["JOINTDESK_HEALTH_STUCK_SECONDS"]
    return {
        "waiting": waiting,
        "dead": dead,
        "overdue_age": late,
        "stuck": late is not None and late > threshold,
    }


def background_state(now=None) -> dict:
    """Liveness of the workers and the scheduler, deliveries, and whether it adds up to a
    degraded system: deliveries stuck past the threshold, or no worker or no scheduler alive
    for that long after one was last seen."""
    now = now or utcnow()
    threshold = current_app.config["JOINTDESK_HEALTH_STUCK_SECONDS"]
    live = heartbeat.liveness(now)
    out = {}
    degraded = False
    for key, kind in (("workers", heartbeat.WORKER), ("scheduler", heartbeat.SCHEDULER)):
        entry = live[kind]
        out[key] = {k: entry[k] for k in ("status", "alive", "heartbeat_age")}
        age = entry["heartbeat_age"]
        if entry["alive"] == 0 and age is not None and age > threshold:
            degraded = True
    out["deliveries"] = deliveries_state(now)
    out["http_deliveries"] = http_state(now)
    degraded = degraded or out["deliveries"]["stuck"] or out["http_deliveries"]["stuck"]
    return {"degraded": degraded, "detail": out, "vanished": live}


@bp.get("/healthz")
def healthz():
    """200 ``ok``; 503 ``degraded`` when deliveries are stuck or the workers or the scheduler
    are gone; 503 ``down`` when the database does not answer. The broker may be down while
    the status is ok: intake still works and the relay catches up."""
    database = database_state()
    broker = broker_state()
    body = {"status": "down", "database": database, "broker": broker}
    if database != "ok":
        return jsonify(body), 503
    try:
        state = background_state()
    except Exception:
        db.session.rollback()
        return jsonify(body | {"database": "down"}), 503
    body.update(state["detail"])
    body["status"] = "degraded" if state["degraded"] else "ok"
    return jsonify(body), 503 if state["degraded"] else 200
