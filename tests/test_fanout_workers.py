"""Fan-out through real Celery worker processes, real Redis and real PostgreSQL.

Each test checks a guarantee of the single window: one ticket per (case, service), in its
provider's queue, whatever happens to the broker or the workers on the way.
"""

from __future__ import annotations

import time

import pytest
from conftest import application_body
from processes import RedisServer, Worker, wait_for

from jointdesk.models import Event, OutboxMessage, Ticket

pytestmark = pytest.mark.workers

PROVIDER_QUEUES = {"provider.zz-water", "provider.zz-power", "provider.zz-gas", "provider.zz-heat"}


@pytest.fixture
def worker(broker, db):
    w = Worker()
    yield w
    w.stop()


def ticket_states(db, reference: str) -> list[str]:
    db.session.rollback()  # see what the workers committed
    return list(
        db.session.execute(
            db.select(Ticket.status)
            .join(Ticket.case)
            .where(Ticket.case.property.mapper.class_.reference == reference)
        ).scalars()
    )


def dispatched_events(db) -> list[Event]:
    db.session.rollback()
    return list(db.session.execute(db.select(Event).where(Event.action == "dispatched")).scalars())


def all_queued(db, reference: str, n: int = 4) -> bool:
    states = ticket_states(db, reference)
    return len(states) == n and all(s == "queued" for s in states)


def test_four_services_become_four_tickets_one_in_each_provider_queue(client, db, users, worker):
    res = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
    assert res.status_code == 201
    reference = res.get_json()["reference"]
    assert wait_for(lambda: all_queued(db, reference), 30), worker.output()[-3000:]
    # the server's own clocks: each ticket queued after it was stored (speed: make bench)
    tickets = db.session.execute(db.select(Ticket)).scalars().all()
    assert all(t.queued_at >= t.created_at for t in tickets)
    events = dispatched_events(db)
    assert len(events) == 4
    assert {e.detail["queue"] for e in events} == PROVIDER_QUEUES
    # each provider's staff sees exactly its own ticket in its queue
    for who, provider in (
        ("water", "zz-water"),
        ("power", "zz-power"),
        ("gas", "zz-gas"),
        ("heat", "zz-heat"),
    ):
        page = client.get(f"/api/v1/providers/{provider}/tickets", headers=users[who][1]).get_json()
        assert page["total"] == 1 and page["items"][0]["case"] == reference
    db.session.rollback()
    assert all(
        m.done_at is not None for m in db.session.execute(db.select(OutboxMessage)).scalars()
    )


def test_duplicate_deliveries_still_make_four_tickets(app, client, db, users, broker):
    """Every message published twice, run by two pool processes at once: still 4, once each."""
    res = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
    reference = res.get_json()["reference"]
    celery = app.extensions["celery"]
    for msg in db.session.execute(db.select(OutboxMessage)).scalars():
        for _copy in range(2):
            celery.send_task(msg.task, args=[msg.id], queue=msg.queue)
    w = Worker(env={"JOINTDESK_LOG_TASKS": "1"})  # Celery's per-task lines, quiet by default
    try:
        assert wait_for(lambda: all_queued(db, reference), 10), w.output()[-3000:]
        assert wait_for(lambda: w.output().count("succeeded") >= 12, 10)
    finally:
        w.stop()
    assert len(dispatched_events(db)) == 4
    assert db.session.execute(db.select(db.func.count(Ticket.id))).scalar_one() == 4


def test_broker_down_at_intake_then_back(app, db, users, monkeypatch):
    """Intake succeeds with the broker stopped; tickets appear once it is back."""
    from jointdesk import create_app
    from jointdesk.routing.outbox import relay

    try:
        private = RedisServer()
    except FileNotFoundError as exc:
        from conftest import need

        need(str(exc))
    monkeypatch.setenv("JOINTDESK_BROKER_URL", private.url)
    down_app = create_app({"TESTING": True})
    worker = Worker(env={"JOINTDESK_BROKER_URL": private.url})
    try:
        private.stop()
        started = time.monotonic()
        res = down_app.test_client().post(
            "/api/v1/cases", json=application_body(), headers=users["clerk"][1]
        )
        assert res.status_code == 201, res.get_json()
        assert time.monotonic() - started < 5
        reference = res.get_json()["reference"]
        assert ticket_states(db, reference) == ["dispatching"] * 4
        waiting = (
            db.session.execute(db.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        )
        assert len(waiting) == 4
        assert all(m.published_at is None and m.done_at is None for m in waiting)
        assert "Connection refused" in waiting[0].last_error
        health = down_app.test_client().get("/healthz").get_json()
        assert (health["status"], health["database"], health["broker"]) == ("ok", "ok", "down")
        assert health["deliveries"]["undelivered"] == 4

        private.start()
        with down_app.app_context():
            assert relay() == 4
        assert wait_for(lambda: all_queued(db, reference), 30), worker.output()[-3000:]
        assert len(dispatched_events(db)) == 4
    finally:
        worker.stop()
        private.close()


def test_worker_killed_mid_task_loses_nothing_and_duplicates_nothing(
    app, client, db, users, broker
):
    """What a killed worker had started is republished as soon as it is known dead (here: its
    supervisor saw it die); what it had only prefetched, once the untaken wait is over."""
    from jointdesk.heartbeat import mark_dead
    from jointdesk.routing.outbox import relay

    def taken() -> dict[int, tuple]:
        db.session.rollback()
        rows = db.session.execute(db.select(OutboxMessage)).scalars()
        return {m.id: (m.attempts, m.taken_by) for m in rows if m.taken_by}

    slow = Worker(env={"JOINTDESK_FAULT_DELIVERY_DELAY": "30"})
    app.config["JOINTDESK_OUTBOX_UNTAKEN_SECONDS"] = 0  # no need to wait for the prefetched two
    try:
        res = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
        reference = res.get_json()["reference"]
        # both pool processes are inside a delivery, its transaction not yet committed
        assert wait_for(lambda: len(taken()) == 2, 15), slow.output()
        started = taken()
        slow.kill()
        assert ticket_states(db, reference) == ["dispatching"] * 4
        with app.app_context():
            # the two it had prefetched only; the two it had started wait while its heartbeat
            # is fresh (it might still be working on them)
            assert relay() == 2
            assert taken() == started
            assert mark_dead(slow.proc.pid) == 1
            relay()  # known dead: the two it had started are published again, at once
        db.session.rollback()
        for msg_id in started:
            msg = db.session.get(OutboxMessage, msg_id)
            assert (msg.attempts, msg.taken_by) == (2, None)
    finally:
        app.config["JOINTDESK_OUTBOX_UNTAKEN_SECONDS"] = 15
        slow.stop()
    fresh = Worker()
    try:
        assert wait_for(lambda: all_queued(db, reference), 15), fresh.output()[-3000:]
    finally:
        fresh.stop()
    assert len(dispatched_events(db)) == 4
    assert db.session.execute(db.select(db.func.count(Ticket.id))).scalar_one() == 4


def test_a_provider_added_while_running_is_served_without_a_restart(client, db, users, worker):
    from jointdesk.models import District, Provider
    from jointdesk.routing.services import set_route

    provider = Provider(code="dengfeng-heat", name="登封市热力公司")
    db.session.add(provider)
    db.session.flush()
    district = db.session.execute(db.select(District).where(District.name == "登封市")).scalar_one()
    set_route("heat", district.id, provider.id, users["admin"][0])
    db.session.commit()
    body = application_body(services=["heat"])
    body["address"]["district"] = "登封市"
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 201
    assert res.get_json()["tickets"][0]["provider"] == "dengfeng-heat"
    reference = res.get_json()["reference"]
    assert wait_for(lambda: all_queued(db, reference, 1), 15), worker.output()[-3000:]
    assert "provider.dengfeng-heat" in worker.output()
