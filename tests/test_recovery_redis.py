"""PostgreSQL + Redis: after worker SIGKILLs and Redis restarted empty, every ticket is
delivered exactly once, the last one less than 30 s after the fault cleared.

Real worker and scheduler processes on a private redis-server; recovery measured on the
server's own clocks (queued_at written by the workers) from the moment the last fault cleared.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from conftest import application_body, need
from processes import Beat, RedisServer, Worker, wait_for

from jointdesk.models import Event, OutboxMessage, Ticket

pytestmark = pytest.mark.workers

APPLICATIONS = 120
RATE = 20  # per second
RECOVERY_BOUND = 30  # seconds after the fault cleared


def test_recovery_after_worker_kills_and_an_emptied_redis_is_under_30s(app, db, users, monkeypatch):
    from jointdesk import create_app

    try:
        private = RedisServer()
    except FileNotFoundError as exc:
        need(str(exc))
    env = {"JOINTDESK_BROKER_URL": private.url}
    monkeypatch.setenv("JOINTDESK_BROKER_URL", private.url)
    intake = create_app({"TESTING": True}).test_client()
    # a slow worker falls behind, so that the faults below have plenty to lose: deliveries it
    # has started, messages it has prefetched, and a backlog in Redis
    workers = [Worker(env={**env, "JOINTDESK_FAULT_DELIVERY_DELAY": "0.1"})]
    beat = Beat(env=env)
    try:
        started = time.monotonic()
        for i in range(APPLICATIONS):
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = application_body()
            body["address"]["detail"] = f"经三路 {i} 号"
            res = intake.post("/api/v1/cases", json=body, headers=users["clerk"][1])
            assert res.status_code == 201, res.get_json()
        workers.pop().kill()  # SIGKILL mid-work: main and pool processes
        private.stop()  # Redis restarted empty: every queued and unacknowledged message lost
        private.start()
        cleared = time.time()
        db.session.rollback()
        open_rows = db.session.execute(
            db.select(db.func.count(OutboxMessage.id)).where(OutboxMessage.done_at.is_(None))
        ).scalar_one()
        assert open_rows > 50, "the faults should have had something to lose"
        # replacements, as a service manager would start them (new names: the killed worker
        # is known dead only by its missing heartbeat)
        workers += [Worker(env=env), Worker(env=env)]

        def all_done() -> bool:
            db.session.rollback()
            return (
                db.session.execute(
                    db.select(db.func.count(Ticket.id)).where(Ticket.status == "queued")
                ).scalar_one()
                == 4 * APPLICATIONS
            )

        assert wait_for(all_done, 90, 0.5), beat.output()[-2000:] + workers[-1].output()[-3000:]
        last = db.session.execute(db.select(db.func.max(Ticket.queued_at))).scalar_one()
        recovery = (last - datetime.fromtimestamp(cleared, UTC)).total_seconds()
        print(f"{open_rows} open rows at the fault; last queued {recovery:.1f} s after it cleared")
        assert recovery < RECOVERY_BOUND, f"recovery took {recovery:.1f} s"
    finally:
        for w in workers:
            w.stop()
        beat.stop()
        private.close()
    # exactly once: one ticket per service, one dispatched event and one finished row each
    tickets = db.session.execute(db.select(Ticket)).scalars().all()
    assert len(tickets) == 4 * APPLICATIONS
    events = db.session.execute(
        db.select(Event.ticket_id).where(Event.action == "dispatched")
    ).scalars()
    events = list(events)
    assert len(events) == len(set(events)) == 4 * APPLICATIONS
    assert (
        db.session.execute(
            db.select(db.func.count(OutboxMessage.id)).where(OutboxMessage.done_at.is_(None))
        ).scalar_one()
        == 0
    )
