"""Everything JointDesk sends out over HTTP: tickets to providers' own systems, callbacks to the
approval system, messages to the SMS gateway. The peers are real HTTP servers on localhost,
started here in threads, that verify every signature; the attempts run in process (the code the
``send_http`` task runs), with the retry schedule shrunk to milliseconds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import act, application_body, sign_in_web
from processes import free_port

from jointdesk import domain_events
from jointdesk.integrations import delivery, signing
from jointdesk.models import ApplicantMessage, Event, HttpDelivery, Provider, Ticket

ROOT = Path(__file__).resolve().parent.parent
SECRET = "provider-secret-0123456789"


class FakeSystem:
    """A provider's system (or the approval system, or an SMS gateway) on localhost: answers
    500 to its first ``fail_first`` requests, sleeps ``delay`` seconds before answering, and
    keeps what it took once per Idempotency-Key, as a careful receiver does."""

    def __init__(self, secret: str = SECRET, fail_first: int = 0, delay: float = 0.0):
        self.secret, self.fail_first, self.delay = secret, fail_first, delay
        self.requests: list[dict] = []  # every request: key, verified, body
        self.taken: dict[str, dict] = {}  # idempotency key -> body, once
        system = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    signing.verify(
                        system.secret,
                        self.headers.get(signing.TIMESTAMP_HEADER),
                        self.headers.get(signing.SIGNATURE_HEADER),
                        raw,
                    )
                    verified = True
                except signing.SignatureError:
                    verified = False
                key = self.headers.get(signing.IDEMPOTENCY_HEADER)
                body = json.loads(raw)
                system.requests.append({"key": key, "verified": verified, "body": body})
                if system.delay:
                    time.sleep(system.delay)
                if not verified:
                    status = 401
                elif len(system.requests) <= system.fail_first:
                    status = 500
                else:
                    system.taken.setdefault(key, body)
                    status = 201
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jointdesk/tickets"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def systems():
    made: list[FakeSystem] = []

    def _make(**kwargs) -> FakeSystem:
        made.append(FakeSystem(**kwargs))
        return made[-1]

    yield _make
    for s in made:
        s.close()


@pytest.fixture
def fast_retries(app, monkeypatch):
    """The schedule in milliseconds and a short HTTP timeout, so tests stay fast."""
    monkeypatch.setitem(app.config, "JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "JOINTDESK_DELIVERY_MAX_ATTEMPTS", 4)
    monkeypatch.setitem(app.config, "JOINTDESK_DELIVERY_TIMEOUT_SECONDS", 0.5)


@pytest.fixture
def events():
    seen: list = []
    domain_events.subscribe(seen.append)
    yield seen
    domain_events.unsubscribe(seen.append)


def drain(db, timeout: float = 20.0) -> None:
    """Makes every attempt that falls due until no delivery is open (delivered or dead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.attempt_due()
        open_ = db.session.scalar(
            db.select(db.func.count(HttpDelivery.id)).where(
                HttpDelivery.delivered_at.is_(None), HttpDelivery.dead_at.is_(None)
            )
        )
        db.session.commit()
        if not open_:
            return
        time.sleep(0.02)
    raise AssertionError("deliveries still open")


def to_webhook(db, code: str, url: str, secret: str = SECRET) -> None:
    from jointdesk.routing.channels import set_channel

    provider = db.session.execute(db.select(Provider).where(Provider.code == code)).scalar_one()
    set_channel(provider, "webhook", "test", url=url, secret=secret)


def as_user(client, user) -> None:
    """Signs ``user`` in on ``client``; the user cached for the shared app context is dropped."""
    from flask import g

    g.pop("_login_user", None)
    sign_in_web(client, user)


def ticket_of(db, case: dict, service: str) -> Ticket:
    tid = next(t["id"] for t in case["tickets"] if t["service"] == service)
    db.session.expire_all()
    return db.session.get(Ticket, tid)


def test_a_webhook_provider_gets_each_ticket_once_after_failures(
    db, submit, deliver_all, systems, fast_retries, events
):
    water = systems(fail_first=2)
    to_webhook(db, "zz-water", water.url)
    case = submit()
    deliver_all()
    # the desk providers hold theirs at once; the water ticket waits for the provider's system
    assert {s: ticket_of(db, case, s).status for s in ("electricity", "gas", "heat")} == {
        "electricity": "queued",
        "gas": "queued",
        "heat": "queued",
    }
    water_ticket = ticket_of(db, case, "water")
    assert water_ticket.status == "dispatching"
    assert not [
        e for e in events if e.name == "ticket.dispatched" and e.ticket_id == water_ticket.id
    ]
    deliver_all()  # a retried outbox task adds no second delivery
    assert db.session.scalar(db.select(db.func.count(HttpDelivery.id))) == 1

    drain(db)
    assert len(water.requests) == 3  # two failures, then taken
    assert all(r["verified"] for r in water.requests)
    assert len({r["key"] for r in water.requests}) == 1  # one idempotency key for all attempts
    assert len(water.taken) == 1  # exactly one ticket made at the provider
    body = next(iter(water.taken.values()))
    assert body["ticket"]["id"] == water_ticket.id and body["ticket"]["service"] == "water"
    assert {"status", "steps", "permits"} <= body["ticket"].keys()
    assert body["case"]["reference"] == case["reference"]
    sent = application_body()["applicant"]
    assert body["applicant"]["phone"] == sent["phone"]  # whole, to the provider's own system
    assert body["applicant"]["id_number"] == sent["id_number"]
    assert body["address"] == {"district": "金水区", "detail": "花园路 1 号"}

    assert ticket_of(db, case, "water").status == "queued"
    dispatched = db.session.scalars(
        db.select(Event).where(Event.action == "dispatched", Event.ticket_id == water_ticket.id)
    ).all()
    assert len(dispatched) == 1 and dispatched[0].detail["channel"] == "webhook"
    assert [e for e in events if e.name == "ticket.dispatched" and e.ticket_id == water_ticket.id]
    row = db.session.scalars(db.select(HttpDelivery)).one()
    assert row.attempts == 3 and row.delivered_at is not None and row.last_status == 201


def test_a_dead_provider_system_ends_in_the_dead_letters_and_is_redriven(
    app, db, users, submit, deliver_all, systems, fast_retries, client
):
    slow = systems(delay=1.5)  # answers after the 0.5 s timeout
    healthy = systems()
    refused = f"http://127.0.0.1:{free_port()}/nobody-listens"
    to_webhook(db, "zz-water", slow.url)
    to_webhook(db, "zz-gas", refused)
    to_webhook(db, "zz-power", healthy.url)
    case = submit()
    deliver_all()
    drain(db, timeout=30)
    # the other providers' tickets went through meanwhile; the desk one was never held up
    assert ticket_of(db, case, "electricity").status == "queued"
    assert ticket_of(db, case, "heat").status == "queued"
    assert len(healthy.taken) == 1
    for service in ("water", "gas"):
        assert ticket_of(db, case, service).status == "dispatching"
    dead = {d.target: d for d in delivery.dead_letters()}
    assert set(dead) == {"zz-water", "zz-gas"}
    assert all(d.attempts == 4 for d in dead.values())
    assert "timed out" in dead["zz-water"].last_error.lower()
    assert "refused" in dead["zz-gas"].last_error.lower()
    water_key = dead["zz-water"].idempotency_key
    assert {r["key"] for r in slow.requests} == {water_key}

    # the dead-letter page: supervisors and administrators, CSRF on the re-drive button
    csrf_before = app.config.get("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        as_user(client, users["water"][0])
        assert client.get("/admin/deliveries").status_code == 403
        as_user(client, users["supervisor"][0])
        page = client.get("/admin/deliveries").get_data(as_text=True)
        assert "zz-water" in page and "zz-gas" in page and "重新投递" in page
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        url = f"/admin/deliveries/{dead['zz-water'].id}/redrive"
        assert client.post(url).status_code == 400  # no CSRF token: nothing happens
        assert delivery.dead_letters()[0].dead_at is not None
        slow.delay = 0  # the provider's system works again
        res = client.post(url, data={"csrf_token": token})
        assert res.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = csrf_before
    drain(db)
    assert ticket_of(db, case, "water").status == "queued"
    assert len(slow.taken) == 1 and set(slow.taken) == {water_key}  # the same key again
    assert all(r["verified"] for r in slow.requests)
    redriven = db.session.scalars(db.select(Event).where(Event.action == "delivery_redriven"))
    assert [e.actor for e in redriven] == ["super1"]

    # the CLI: list and re-drive (the gas provider's system now at a working address)
    listed = jointdesk("deliveries", "list")
    assert listed.returncode == 0, listed.stderr
    assert "zz-gas" in listed.stdout and "zz-water" not in listed.stdout
    gas = systems()
    to_webhook(db, "zz-gas", gas.url)
    again = jointdesk("deliveries", "redrive", str(dead["zz-gas"].id))
    assert again.returncode == 0, again.stderr
    assert jointdesk("deliveries", "redrive", str(dead["zz-gas"].id)).returncode == 1
    drain(db)
    assert ticket_of(db, case, "gas").status == "queued"
    assert len(gas.taken) == 1
    assert jointdesk("deliveries", "list").stdout.strip() == "no dead deliveries"


def test_a_provider_switched_back_to_the_desk_gets_its_waiting_tickets_there(
    db, submit, deliver_all, fast_retries
):
    from jointdesk.routing.channels import set_channel

    to_webhook(db, "zz-water", f"http://127.0.0.1:{free_port()}/gone")
    case = submit(services=["water"])
    deliver_all()
    row = db.session.scalars(db.select(HttpDelivery)).one()
    assert delivery.attempt(row.id) == "retry"
    water = db.session.execute(db.select(Provider).where(Provider.code == "zz-water")).scalar_one()
    set_channel(water, "desk", "test")
    drain(db)
    assert ticket_of(db, case, "water").status == "queued"
    event = db.session.scalars(db.select(Event).where(Event.action == "dispatched")).one()
    assert event.detail["channel"] == "desk"


def jointdesk(*args, stdin: str | None = None):
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jointdesk.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_channel_command(db):
    url = "https://water.example.com/jointdesk"
    short = jointdesk(
        "provider", "channel", "zz-water", "webhook", "--url", url, "--secret-stdin", stdin="x\n"
    )
    assert short.returncode == 2 and "16" in short.stderr
    bad = jointdesk(
        "provider", "channel", "zz-water", "webhook", "--url", "ftp://x", "--secret-stdin",
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert bad.returncode == 2 and "--url" in bad.stderr
    done = jointdesk(
        "provider", "channel", "zz-water", "webhook", "--url", url, "--secret-stdin",
        stdin=SECRET + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "secret: set" in done.stdout and SECRET not in done.stdout + done.stderr
    db.session.expire_all()
    water = db.session.execute(db.select(Provider).where(Provider.code == "zz-water")).scalar_one()
    assert (water.channel, water.webhook_url, water.webhook_secret) == ("webhook", url, SECRET)
    audit = db.session.scalars(
        db.select(Event).where(Event.action == "provider_channel_changed")
    ).one()
    assert audit.detail["secret_changed"] is True and SECRET not in json.dumps(audit.detail)
    back = jointdesk("provider", "channel", "zz-water", "desk")
    assert back.returncode == 0 and "channel desk" in back.stdout


def test_the_admin_channel_form(app, db, users, client):
    csrf_before = app.config.get("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        as_user(client, users["admin"][0])
        water = db.session.execute(
            db.select(Provider).where(Provider.code == "zz-water")
        ).scalar_one()
        url = f"/admin/providers/{water.id}/channel"
        page = client.get(url).get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        good = {"channel": "webhook", "url": "https://w.example.com/t", "secret": SECRET}
        assert client.post(url, data=good).status_code == 400  # no CSRF token
        res = client.post(
            url, data=good | {"url": "javascript:alert(1)", "secret": "short", "csrf_token": token}
        )
        html = res.get_data(as_text=True)
        assert res.status_code == 200
        assert "http:// 或 https://" in html and "至少 16 个字符" in html
        db.session.expire_all()
        assert db.session.get(Provider, water.id).channel == "desk"  # nothing half-saved
        res = client.post(url, data=good | {"csrf_token": token})
        assert res.status_code == 302
        db.session.expire_all()
        assert db.session.get(Provider, water.id).webhook_secret == SECRET
        # write-only: shown as set, never displayed; an empty field keeps it
        for page in (client.get(url), client.get("/admin/providers")):
            html = page.get_data(as_text=True)
            assert SECRET not in html and "密钥：已设置" in html
        keep = {"channel": "webhook", "url": "https://w2.example.com/t", "csrf_token": token}
        assert client.post(url, data=keep).status_code == 302
        db.session.expire_all()
        after = db.session.get(Provider, water.id)
        assert (after.webhook_url, after.webhook_secret) == ("https://w2.example.com/t", SECRET)
        as_user(client, users["supervisor"][0])
        assert client.get(url).status_code == 403
    finally:
        app.config["WTF_CSRF_ENABLED"] = csrf_before
    changes = db.session.scalars(
        db.select(Event).where(Event.action == "provider_channel_changed")
    ).all()
    assert len(changes) == 2 and all(SECRET not in json.dumps(e.detail) for e in changes)


def push_body(code: str = "GJ-2026-0001") -> dict:
    body = application_body(materials=None, services=["water"])
    body["project"].update(approval_system_code=code, external_works=False)
    body["project"].pop("pipeline_length_m")
    return body


def test_approval_system_callbacks_at_each_milestone(
    db, users, client, submit, deliver_all, systems, fast_retries
):
    integration = users["integration"][1]
    path = "/api/v1/integrations/approval-system/callback"
    assert client.get(path, headers=integration).status_code == 404
    assert (
        client.put(path, json={"url": "x", "secret": "y"}, headers=users["clerk"][1]).status_code
        == 403
    )
    bad = client.put(path, json={"url": "ftp://x", "secret": "short"}, headers=integration)
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert set(fields) == {"url", "secret"} and "16" in fields["secret"]
    approval = systems(secret="approval-secret-0123456789", fail_first=1)
    ok = client.put(
        path, json={"url": approval.url, "secret": approval.secret}, headers=integration
    )
    assert ok.status_code == 200, ok.get_json()
    read = client.get(path, headers=integration).get_json()
    assert read["url"] == approval.url and read["secret_set"] is True
    assert approval.secret not in json.dumps(read)

    submit()  # a window case: the approval system hears nothing of it
    pushed = client.post(
        "/api/v1/integrations/approval-system/projects", json=push_body(), headers=integration
    )
    assert pushed.status_code == 201, pushed.get_json()
    case = pushed.get_json()
    deliver_all()
    ticket = case["tickets"][0]
    staff = users["water"][1]
    res = act(client, staff, ticket["id"], action="contact", note="电话联系")
    assert res.status_code == 200, res.get_json()
    version = res.get_json()["version"]
    res = act(client, staff, ticket["id"], action="connect", version=version)
    assert res.status_code == 200, res.get_json()
    drain(db)

    assert all(r["verified"] for r in approval.requests)
    taken = list(approval.taken.values())
    milestones = [b["milestone"] for b in taken]
    assert sorted(milestones) == sorted(
        ["case_received", "service_queued", "service_connected", "case_completed"]
    )
    assert {b["reference"] for b in taken} == {case["reference"]}
    assert {b["project_code"] for b in taken} == {"GJ-2026-0001"}
    connected = next(b for b in taken if b["milestone"] == "service_connected")
    assert (connected["service"], connected["status"]) == ("water", "connected")
    assert len(approval.requests) == len(approval.taken) + 1  # the one failure was retried

    # another pushed project, returned by the provider with a reason
    other = client.post(
        "/api/v1/integrations/approval-system/projects",
        json=push_body("GJ-2026-0002")
        | {"address": {"district": "中原区", "detail": "建设路 9 号"}},
        headers=integration,
    ).get_json()
    deliver_all()
    res = act(client, staff, other["tickets"][0]["id"], action="return", reason="地址不在供水范围")
    assert res.status_code == 200, res.get_json()
    drain(db)
    later = [b for b in approval.taken.values() if b["reference"] == other["reference"]]
    returned = next(b for b in later if b["milestone"] == "service_returned")
    assert (returned["status"], returned["reason"]) == ("returned", "地址不在供水范围")
    assert "case_completed" not in [b["milestone"] for b in later]

    assert client.delete(path, headers=integration).status_code == 204
    assert client.get(path, headers=integration).status_code == 404
    assert client.delete(path, headers=integration).status_code == 404
    actions = db.session.scalars(
        db.select(Event.action).where(Event.action.like("callback_%")).order_by(Event.id)
    ).all()
    assert actions == ["callback_registered", "callback_removed"]


def test_the_sms_gateway_gets_one_message_per_dedup_key(
    app, db, systems, fast_retries, monkeypatch, caplog
):
    from jointdesk import messaging

    gateway = systems(secret="sms-gateway-secret-0123", fail_first=1)
    monkeypatch.setitem(app.config, "JOINTDESK_SMS_GATEWAY_URL", gateway.url)
    monkeypatch.setitem(app.config, "JOINTDESK_SMS_GATEWAY_SECRET", gateway.secret)
    caplog.set_level("DEBUG")
    context = {"code": "123456", "minutes": 5}
    first = messaging.send("13800138000", "verification_code", context, dedup_key="otp:g1")
    again = messaging.send("13800138000", "verification_code", context, dedup_key="otp:g1")
    db.session.commit()
    assert first is not None and again is None
    row = db.session.scalars(db.select(HttpDelivery)).one()
    assert row.kind == "sms" and row.message_id == first
    assert db.session.get(ApplicantMessage, first).status == "pending"

    assert delivery.attempt(row.id) == "retry"  # the gateway failed once
    time.sleep(0.05)
    assert delivery.attempt(row.id) == "delivered"
    assert delivery.attempt(row.id) == "not-due"  # the task run twice sends nothing more
    assert len(gateway.taken) == 1 and all(r["verified"] for r in gateway.requests)
    assert {r["key"] for r in gateway.requests} == {f"jointdesk-sms-{first}"}
    body = next(iter(gateway.taken.values()))
    assert body == {"phone": "13800138000", "text": body["text"], "message_id": first}
    assert "123456" in body["text"]
    db.session.expire_all()
    message = db.session.get(ApplicantMessage, first)
    assert (message.status, message.attempts) == ("sent", 2) and message.sent_at is not None
    assert "13800138000" not in caplog.text and f"message {first}" in caplog.text


def test_without_a_gateway_messages_stay_in_the_outbox_handled(db):
    from jointdesk import messaging

    mid = messaging.send(
        "13800138000", "verification_code", {"code": "1", "minutes": 5}, dedup_key="otp:o"
    )
    db.session.commit()
    message = db.session.get(ApplicantMessage, mid)
    assert message.status == "sent" and message.sent_at is not None
    assert db.session.scalar(db.select(db.func.count(HttpDelivery.id))) == 0


def test_the_schedule_defaults_meet_the_contract(app):
    """First retry within 10 s; at least 8 attempts spread over at least an hour."""
    with app.app_context():
        assert app.config["JOINTDESK_DELIVERY_TIMEOUT_SECONDS"] == 10
        attempts = app.config["JOINTDESK_DELIVERY_MAX_ATTEMPTS"]
        assert attempts >= 8
        waits = [delivery.retry_wait(n) for n in range(1, attempts)]
        assert waits[0] <= 10
        assert sum(waits) >= 3600
        assert all(b > a for a, b in zip(waits, waits[1:], strict=False))


@pytest.mark.workers
def test_real_workers_deliver_on_their_own_queue_with_scheduled_retries(
    db, broker, users, client, systems
):
    """A general worker (control and provider queues, not the HTTP one) and an HTTP sender,
    as `jointdesk run` starts them: the webhook ticket gets there through the retries that the
    sender schedules (countdowns), while the desk tickets are queued at once."""
    from processes import Worker, wait_for

    water = systems(fail_first=2)
    to_webhook(db, "zz-water", water.url)
    fast = {
        "JOINTDESK_DELIVERY_FIRST_RETRY_SECONDS": "0.2",
        "JOINTDESK_DELIVERY_TIMEOUT_SECONDS": "2",
        "JOINTDESK_LOG_TASKS": "1",  # which worker ran which task, from Celery's task lines
    }
    general = Worker(env=fast | {"JOINTDESK_WORKER_SKIP_HTTP_QUEUE": "1"})
    sender = Worker(queues=delivery.HTTP_QUEUE, env=fast)
    try:
        res = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
        assert res.status_code == 201
        case = res.get_json()

        def states() -> dict:
            db.session.rollback()
            return {s: ticket_of(db, case, s).status for s in ("water", "electricity", "heat")}

        assert wait_for(lambda: states()["water"] == "queued", 60), sender.output()[-3000:]
        assert states() == {"water": "queued", "electricity": "queued", "heat": "queued"}
        assert len(water.requests) == 3 and len(water.taken) == 1
        assert all(r["verified"] for r in water.requests)
        assert "Task jointdesk.send_http[" not in general.output()  # the sender did it all
        assert "Task jointdesk.send_http[" in sender.output()
    finally:
        general.stop()
        sender.stop()
