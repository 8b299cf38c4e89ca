"""Heartbeats of workers and the scheduler, in the database every process can read.

Each worker and scheduler process has one row (``heartbeats``), written when it starts and
refreshed every ``JOINTDESK_HEARTBEAT_SECONDS`` with one small UPDATE. A process is alive while
its row was refreshed within three intervals and it has not stopped. ``/healthz``, the admin
dashboard and the outbox relay (which redelivers at once what a dead worker had taken) read them.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, insert, select, update

from jointdesk.extensions import db
from jointdesk.models.heartbeat import SCHEDULER, WORKER, Heartbeat
from jointdesk.models.types import utcnow

# This process's row. Generated at import, so a worker's forked pool processes share their
# parent's id: a delivery they take is recorded against the worker that must stay alive.
INSTANCE_ID = uuid.uuid4().hex
# a row not refreshed for this many intervals belongs to a process that vanished
STALE_INTERVALS = 3
# rows of processes gone for longer than this are deleted
KEEP = timedelta(days=1)
log = logging.getLogger(__name__)

__all__ = ["SCHEDULER", "WORKER", "INSTANCE_ID", "record", "stopped", "mark_dead", "liveness"]


def interval() -> float:
    return float(current_app.config["JOINTDESK_HEARTBEAT_SECONDS"])


def stale_after() -> timedelta:
    return timedelta(seconds=STALE_INTERVALS * interval())


def alive_ids(now=None):
    """A subquery of the ids of the processes alive at ``now``."""
    now = now or utcnow()
    return select(Heartbeat.id).where(
        Heartbeat.stopped_at.is_(None), Heartbeat.seen_at >= now - stale_after()
    )


def record(kind: str, name: str) -> None:
    """Refreshes this process's row (creates it on the first call). One UPDATE normally."""
    now = utcnow()
    with db.engine.begin() as conn:
        refreshed = conn.execute(
            update(Heartbeat)
            .where(Heartbeat.id == INSTANCE_ID)
            .values(seen_at=now, stopped_at=None)
        ).rowcount
        if not refreshed:
            host = socket.gethostname()[:200]
            conn.execute(delete(Heartbeat).where(Heartbeat.seen_at < now - KEEP))
            # a process of the same name on this host that did not stop is known dead: restarted
            conn.execute(
                update(Heartbeat)
                .where(
                    Heartbeat.kind == kind,
                    Heartbeat.name == name[:200],
                    Heartbeat.hostname == host,
                    Heartbeat.stopped_at.is_(None),
                )
                .values(stopped_at=now)
            )
            conn.execute(
                insert(Heartbeat).values(
                    id=INSTANCE_ID,
                    kind=kind,
                    name=name[:200],
                    hostname=host,
                    pid=os.getpid(),
                    started_at=now,
                    seen_at=now,
                )
            )


def safe_record(kind: str, name: str) -> None:
    """``record`` for timers: a database hiccup is logged, never fatal to the process."""
    try:
        record(kind, name)
    except Exception:
        log.exception("could not record the %s heartbeat; will try again", kind)


def stopped() -> None:
    """This process stops cleanly: it is no longer expected to beat."""
    try:
        with db.engine.begin() as conn:
            conn.execute(
                update(Heartbeat).where(Heartbeat.id == INSTANCE_ID).values(stopped_at=utcnow())
            )
    except Exception:
        log.exception("could not record that this process stopped")


def mark_dead(pid: int, hostname: str | None = None) -> int:
    """A supervisor saw process ``pid`` on this host die: its rows stop counting as alive."""
    with db.engine.begin() as conn:
        return conn.execute(
            update(Heartbeat)
            .where(
                Heartbeat.pid == pid,
                Heartbeat.hostname == (hostname or socket.gethostname())[:200],
                Heartbeat.stopped_at.is_(None),
            )
            .values(stopped_at=utcnow())
        ).rowcount


def liveness(now=None) -> dict:
    """Per kind: how many processes are alive, the age of the latest heartbeat, and the
    processes that vanished without stopping (seen within a day, not since)."""
    now = now or utcnow()
    stale = stale_after()
    rows = db.session.execute(
        select(Heartbeat).where(Heartbeat.seen_at >= now - KEEP).order_by(Heartbeat.seen_at.desc())
    ).scalars()
    out = {
        kind: {"status": "missing", "alive": 0, "heartbeat_age": None, "vanished": []}
        for kind in (WORKER, SCHEDULER)
    }
    for row in rows:
        entry = out.get(row.kind)
        if entry is None:
            continue
        age = max((now - row.seen_at).total_seconds(), 0.0)
        if entry["heartbeat_age"] is None:
            entry["heartbeat_age"] = round(age, 1)
        if row.stopped_at is None and age <= stale.total_seconds():
            entry["alive"] += 1
            entry["status"] = "ok"
        elif row.stopped_at is None:
            entry["vanished"].append(
                {"name": row.name, "pid": row.pid, "last_seen": row.seen_at, "age": round(age)}
            )
    return out
