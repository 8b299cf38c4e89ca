"""Liveness and recovery: heartbeats, what the relay redelivers when, /healthz and the admin
dashboard's view of stuck deliveries and missing workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from processes import Worker, wait_for

from jointdesk.models import Heartbeat, OutboxMessage
from jointdesk.models.types import utcnow


def _heartbeat(db, hid: str, kind: str = "worker", age: float = 0, pid: int = 4_000_000):
    now = utcnow()
    row = Heartbeat(
        id=hid,
        kind=kind,
        name=f"{kind}-{hid}@test",
        hostname="test-host",
        pid=pid,
        started_at=now - timedelta(seconds=age),
        seen_at=now - timedelta(seconds=age),
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def rows(db, submit, broker):
    """One case of four tickets, published to Redis (no worker consumes them here)."""
    submit()
    return db.session.execute(db.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()


def test_relay_redelivers_at_once_only_what_a_dead_worker_had_taken(
    app, db, rows, clock, monkeypatch
):
    import jointdesk.heartbeat
    from jointdesk.heartbeat import mark_dead
    from jointdesk.routing.outbox import relay, take

    monkeypatch.setattr(jointdesk.heartbeat, "utcnow", clock)
    for m in rows:  # published "now" on the frozen clock
        m.published_at, m.next_attempt_at = clock(), clock() + timedelta(seconds=15)
    db.session.commit()
    _heartbeat(db, "alive")
    _heartbeat(db, "doomed", pid=4_000_001)
    db.session.execute(db.update(Heartbeat).values(seen_at=clock()))
    db.session.commit()
    take(rows[0].id, "alive")
    take(rows[1].id, "doomed")
    assert relay() == 0  # both workers alive; the untaken two wait 15 s
    assert mark_dead(4_000_001, "test-host") == 1
    assert relay() == 1  # what the dead worker had started: at once
    db.session.refresh(rows[1])
    assert (rows[1].attempts, rows[1].taken_by) == (2, None)

    clock.advance(seconds=16)
    db.session.execute(db.update(Heartbeat).where(Heartbeat.id == "alive").values(seen_at=clock()))
    db.session.commit()
    assert relay() == 2  # published, never taken: lost with a prefetch or an emptied broker
    assert {m.id for m in rows if m.attempts == 2} == {rows[1].id, rows[2].id, rows[3].id}

    # the live worker stops beating: missing after three intervals (and rows[1]'s second,
    # doubled untaken wait of 30 s is over too)
    clock.advance(seconds=16)
    assert relay() == 2
    db.session.refresh(rows[0])
    db.session.refresh(rows[1])
    assert (rows[0].attempts, rows[0].taken_by, rows[1].attempts) == (2, None, 3)


def test_a_copy_of_a_delivered_row_does_no_work(app, db, rows):
    from jointdesk.models import Event
    from jointdesk.routing.outbox import deliver

    assert deliver(rows[0].id, worker_id="w1") == "delivered"
    assert deliver(rows[0].id, worker_id="w2") == "already-done"
    db.session.rollback()
    events = db.session.execute(db.select(Event).where(Event.action == "dispatched")).scalars()
    assert len(list(events)) == 1


def test_healthz_ok_normally_degraded_when_deliveries_are_stuck(app, client, db, broker):
    body = client.get("/healthz")
    assert body.status_code == 200
    data = body.get_json()
    assert data["status"] == "ok" and data["database"] == "ok"
    assert data["deliveries"] == {
        "undelivered": 0,
        "oldest_age": None,
        "stuck_after": 120,
        "stuck": False,
    }
    # never seen: reported missing, not (yet) a degraded system
    assert data["workers"] == {"status": "missing", "alive": 0, "heartbeat_age": None}
    _heartbeat(db, "w", age=1)
    _heartbeat(db, "b", kind="scheduler", age=2)
    data = client.get("/healthz").get_json()
    assert data["workers"]["status"] == "ok" and data["workers"]["alive"] == 1
    assert 0 <= data["workers"]["heartbeat_age"] < 10
    assert data["scheduler"]["status"] == "ok" and data["status"] == "ok"


def test_healthz_shows_signed_http_deliveries_and_degrades_when_nobody_runs_them(client, db, users):
    from jointdesk.models import HttpDelivery

    now = utcnow()

    def row(key: str, **values) -> None:
        db.session.add(
            HttpDelivery(kind="webhook", target="zz-gas", body="{}", idempotency_key=key, **values)
        )
        db.session.commit()

    row("k-dead", attempts=10, dead_at=now - timedelta(hours=1))
    row("k-later", attempts=3, next_attempt_at=now + timedelta(minutes=10))  # retry to come
    data = client.get("/healthz").get_json()
    assert data["http_deliveries"] == {"waiting": 1, "dead": 1, "overdue_age": None, "stuck": False}
    assert data["status"] == "ok"  # a provider's system that is down is no fault here

    row("k-due", attempts=1, next_attempt_at=now - timedelta(minutes=5))  # nobody tried it
    res = client.get("/healthz")
    data = res.get_json()
    assert res.status_code == 503 and data["status"] == "degraded"
    assert data["http_deliveries"]["waiting"] == 2 and data["http_deliveries"]["stuck"]
    assert data["http_deliveries"]["overdue_age"] >= 300

    from conftest import sign_in_web

    from jointdesk.models import User

    sign_in_web(client, db.session.execute(db.select(User).where(User.role == "admin")).scalar())
    page = client.get("/admin/").get_data(as_text=True)
    assert "到期但无人发送" in page and "jointdesk.http" in page  # the most overdue: 5 minutes
    assert "有 1 条发往其他系统的投递多次重试均失败" in page and "/admin/deliveries" in page


def test_healthz_degraded_503_with_stuck_rows_or_gone_processes(app, client, db, submit, users):
    _heartbeat(db, "w", age=1)
    _heartbeat(db, "b", kind="scheduler", age=1)
    submit()  # no broker answering in this test app's eyes does not matter: rows stay open
    data = client.get("/healthz").get_json()
    assert data["deliveries"]["undelivered"] == 4 and data["status"] == "ok"
    db.session.execute(
        db.update(OutboxMessage).values(created_at=utcnow() - timedelta(seconds=300))
    )
    db.session.commit()
    res = client.get("/healthz")
    assert res.status_code == 503
    data = res.get_json()
    assert data["status"] == "degraded" and data["deliveries"]["stuck"] is True
    assert 299 <= data["deliveries"]["oldest_age"] < 400

    db.session.execute(db.update(OutboxMessage).values(done_at=utcnow()))
    db.session.execute(
        db.update(Heartbeat)
        .where(Heartbeat.kind == "scheduler")
        .values(seen_at=utcnow() - timedelta(seconds=600))
    )
    db.session.commit()
    res = client.get("/healthz")
    assert res.status_code == 503
    data = res.get_json()
    assert data["status"] == "degraded"
    assert data["scheduler"]["status"] == "missing" and data["scheduler"]["heartbeat_age"] >= 600

    # the admin dashboard says what is wrong and what to do, in Chinese
    import re

    from conftest import TEST_PASSWORD

    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post(
        "/login", data={"username": "admin1", "password": TEST_PASSWORD, "csrf_token": token}
    )
    db.session.execute(
        db.update(OutboxMessage).values(done_at=None, created_at=utcnow() - timedelta(seconds=300))
    )
    db.session.execute(
        db.update(Heartbeat)
        .where(Heartbeat.kind == "worker")
        .values(seen_at=utcnow() - timedelta(seconds=600))
    )
    db.session.commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert "有 4 张工单尚未派到专营单位" in page
    assert "没有后台处理进程在运行" in page and "jointdesk worker" in page
    assert "调度进程未运行" in page and "jointdesk beat" in page
    assert "已有 10 分钟没有心跳" in page


def test_a_real_worker_beats_while_it_runs_and_says_so_when_it_stops(app, client, db, broker):
    from jointdesk import heartbeat

    w = Worker()
    try:
        assert wait_for(lambda: _alive(db) == 1, 15), w.output()[-2000:]
        row = db.session.execute(db.select(Heartbeat)).scalar_one()
        assert row.pid == w.proc.pid and row.kind == heartbeat.WORKER
        assert client.get("/healthz").get_json()["workers"]["alive"] == 1
    finally:
        w.stop()  # SIGTERM: a warm shutdown
    db.session.rollback()
    assert db.session.execute(db.select(Heartbeat)).scalar_one().stopped_at is not None
    assert _alive(db) == 0


def _alive(db) -> int:
    from jointdesk.heartbeat import liveness

    db.session.rollback()
    return liveness()["worker"]["alive"]


@pytest.mark.parametrize("idle_seconds", [0, 3600])
def test_a_pooled_connection_killed_while_idle(app, idle_seconds):
    """Pooled connections are pinged only after sitting idle (no round trip per request in
    steady use): one that died while idle is then replaced unseen; one reused sooner than
    that fails once and the pool starts over."""
    from conftest import ADMIN_DB_URL, TEST_DB_URL
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from jointdesk import ping_when_idle

    engine = create_engine(TEST_DB_URL, pool_size=1)
    ping_when_idle(engine, idle_seconds)
    admin = create_engine(ADMIN_DB_URL.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        if idle_seconds:
            with pytest.raises(OperationalError), engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        with engine.connect() as conn:  # a fresh connection either way
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()
        admin.dispose()
