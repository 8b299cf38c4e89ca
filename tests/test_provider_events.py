"""Signed events from a provider's own system change tickets exactly as desk actions do; any
refusal changes nothing; a replayed event is applied once."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import application_body

from jointdesk.integrations import signing
from jointdesk.models import Event, Provider, ProviderEvent, Ticket, User

SECRET = "water-system-secret-0123456789"
URL = "/api/v1/integrations/providers/{code}/events"


@pytest.fixture
def secrets(db):
    """zz-water's and zz-gas's systems have their secrets; zz-power has none."""
    for code, secret in (("zz-water", SECRET), ("zz-gas", "gas-secret-9876543210")):
        provider = db.session.execute(db.select(Provider).where(Provider.code == code)).scalar_one()
        provider.webhook_secret = secret
    db.session.commit()


def send(client, body, *, code="zz-water", secret=SECRET, offset=0, raw=None, headers=None):
    """Posts one event as a provider's system does: the raw bytes, signed."""
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    signed = signing.signed_headers(secret, data, now=time.time() + offset)
    signed.update(headers or {})
    return client.post(URL.format(code=code), data=data, headers=signed)


def snapshot(db, ticket_id):
    db.session.rollback()
    ticket = db.session.get(Ticket, ticket_id)
    db.session.refresh(ticket)
    events = db.session.scalar(db.select(db.func.count()).select_from(Event))
    seen = db.session.scalar(db.select(db.func.count()).select_from(ProviderEvent))
    return ticket.status, ticket.version, ticket.representative_id, events, seen


def water_ticket(case):
    return next(t["id"] for t in case["tickets"] if t["service"] == "water")


def test_signed_events_take_a_window_ticket_from_queued_to_connected(
    client, users, submit, deliver_all, secrets, db
):
    project = {
        "approval_system_code": None,
        "low_risk": False,
        "external_works": True,
        "pipeline_length_m": 120,
        "supporting_fee_paid": False,
        "excavates_road": True,
    }
    case = submit(services=["water"], project=project)
    deliver_all()
    ticket = water_ticket(case)
    steps = [
        {"action": "accepted"},  # the provider's word for accept
        {"action": "permit_file", "permit": "road_excavation"},
        {"action": "permit_granted", "permit": "road_excavation"},
        {"action": "connect"},
    ]
    for n, step in enumerate(steps):
        res = send(client, {"event_id": f"evt-{n}", "ticket_id": ticket, **step})
        assert res.status_code == 200, (step, res.get_json())
    body = res.get_json()
    permits = {p["kind"]: p["status"] for p in body["permits"]}
    assert body["status"] == "connected" and permits["road_excavation"] == "granted"
    # the representative is a person, chosen by the provider's rules, never the system user
    assert body["representative"]["username"] in ("water1", "water2")
    trail = db.session.scalars(
        db.select(Event).where(Event.ticket_id == ticket).order_by(Event.id)
    ).all()
    assert [e.action for e in trail][-4:] == ["accept", "permit_file", "permit_grant", "connect"]
    assert {e.actor for e in trail[-4:]} == {"zz-water-system"}
    system = db.session.execute(
        db.select(User).where(User.username == "zz-water-system")
    ).scalar_one()
    assert system.display_name == "郑州自来水投资控股有限公司（系统接口）"
    assert system.role == "staff" and not system.active
    assert [e.actor_id for e in trail[-4:]] == [system.id] * 4
    applied = db.session.scalars(db.select(ProviderEvent).order_by(ProviderEvent.id)).all()
    assert [(p.event_id, p.action, p.outcome) for p in applied] == [
        ("evt-0", "accept", 200),
        ("evt-1", "permit_file", 200),
        ("evt-2", "permit_grant", 200),
        ("evt-3", "connect", 200),
    ]


def test_the_system_user_cannot_sign_in_nor_carry_tickets(
    client, users, submit, deliver_all, secrets, db
):
    from jointdesk.auth import verify_password
    from jointdesk.routing.outbox import choose_representative

    case = submit(services=["water"])
    deliver_all()
    assert send(client, {"event_id": "a", "ticket_id": water_ticket(case), "action": "accept"})
    system = db.session.execute(
        db.select(User).where(User.username == "zz-water-system")
    ).scalar_one()
    for password in ("", "!provider-system", "zz-water-system"):
        assert not verify_password(system, password)
    res = client.post(
        "/login", data={"username": "zz-water-system", "password": "x"}, follow_redirects=False
    )
    assert res.status_code != 302
    # with no person on the provider's staff, nobody carries the ticket: never the system
    for name in ("water", "water2"):
        users[name][0].active = False
    db.session.commit()
    assert choose_representative(system.provider_id) is None


def test_a_pushed_project_is_surveyed_then_connected_by_events(
    client, users, deliver_all, secrets, db
):
    body = application_body(services=["water"], materials=None)
    body["project"]["approval_system_code"] = "GJ-2026-0001"
    res = client.post(
        "/api/v1/integrations/approval-system/projects", json=body, headers=users["integration"][1]
    )
    assert res.status_code == 201, res.get_json()
    deliver_all()
    ticket = res.get_json()["tickets"][0]["id"]
    rep_at_delivery = db.session.get(Ticket, ticket).representative_id
    assert rep_at_delivery is not None  # 企业主动对接: a representative at once
    early = send(client, {"event_id": "c-1", "ticket_id": ticket, "action": "connected"})
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "no_first_contact"
    res = send(
        client,
        {
            "event_id": "s-1",
            "ticket_id": ticket,
            "action": "surveyed",
            "note": "现场踏勘，约定周五接水",
        },
    )
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["first_contact_at"] is not None and res.get_json()["contacts"] == 1
    res = send(client, {"event_id": "c-1", "ticket_id": ticket, "action": "connected"})
    assert res.status_code == 200, res.get_json()  # the refused c-1 left nothing behind
    assert res.get_json()["status"] == "connected"
    assert db.session.get(Ticket, ticket).representative_id == rep_at_delivery


def test_an_event_may_name_the_representative(client, users, submit, deliver_all, secrets, db):
    case = submit(services=["water"])
    deliver_all()
    ticket = water_ticket(case)
    bad = send(
        client,
        {"event_id": "a", "ticket_id": ticket, "action": "accept", "representative": "power1"},
    )
    assert bad.status_code == 422 and "representative" in bad.get_json()["error"]["fields"]
    res = send(
        client,
        {"event_id": "a", "ticket_id": ticket, "action": "accept", "representative": "water2"},
    )
    assert res.status_code == 200
    assert res.get_json()["representative"]["username"] == "water2"


@pytest.mark.parametrize(
    "case_name",
    [
        "forged_signature",
        "wrong_secret",
        "stale_timestamp",
        "future_timestamp",
        "missing_headers",
        "unknown_provider",
        "provider_without_secret",
        "tampered_body",
    ],
)
def test_unauthentic_events_change_nothing_and_answer_401(
    client, users, submit, deliver_all, secrets, db, case_name
):
    case = submit(services=["water", "electricity"])
    deliver_all()
    ticket = water_ticket(case)
    body = {"event_id": "e-1", "ticket_id": ticket, "action": "accept"}
    raw = json.dumps(body).encode()
    before = snapshot(db, ticket)
    if case_name == "forged_signature":
        res = send(client, body, headers={"X-JointDesk-Signature": "sha256=" + "0" * 64})
    elif case_name == "wrong_secret":
        res = send(client, body, secret="not-the-secret")
    elif case_name == "stale_timestamp":
        res = send(client, body, offset=-301)
    elif case_name == "future_timestamp":
        res = send(client, body, offset=301)
    elif case_name == "missing_headers":
        res = client.post(URL.format(code="zz-water"), data=raw, content_type="application/json")
    elif case_name == "unknown_provider":
        res = send(client, body, code="zz-nope")
    elif case_name == "provider_without_secret":
        res = send(client, body, code="zz-power", secret="")
    else:  # signed, then one byte changed on the way
        headers = signing.signed_headers(SECRET, raw)
        tampered = raw.replace(b"accept", b"return")
        res = client.post(URL.format(code="zz-water"), data=tampered, headers=headers)
    assert res.status_code == 401
    error = res.get_json()["error"]
    assert error == {"code": "bad_signature", "message": error["message"], "fields": {}}
    assert "签名" in error["message"]  # Chinese by default
    assert snapshot(db, ticket) == before


def test_refusals_after_the_signature_change_nothing(
    client, users, submit, deliver_all, secrets, db
):
    case = submit(services=["water", "gas"])
    other = submit(services=["water"])
    deliver_all()
    ticket = water_ticket(case)
    gas = next(t["id"] for t in case["tickets"] if t["service"] == "gas")
    before = snapshot(db, ticket)
    attempts = [
        ({"event_id": "x", "ticket_id": gas, "action": "accept"}, 404),  # zz-gas's ticket
        ({"event_id": "x", "ticket_id": 2_000_000_000, "action": "accept"}, 404),
        ({"event_id": "x", "ticket_id": ticket, "action": "connect"}, 409),  # not accepted
        ({"event_id": "x", "ticket_id": ticket, "action": "resumed"}, 409),
        ({"event_id": "x", "ticket_id": ticket, "action": "return"}, 422),  # no reason
        ({"event_id": "x", "ticket_id": ticket, "action": "suspended"}, 422),  # no reason code
        ({"event_id": "", "ticket_id": ticket, "action": "accept"}, 422),
        ({"event_id": "x y", "ticket_id": ticket, "action": "accept"}, 422),
        ({"event_id": "x", "ticket_id": "1", "action": "accept"}, 422),
        ({"event_id": "x", "ticket_id": ticket, "action": "fly"}, 422),
        ({"event_id": "x", "ticket_id": ticket, "action": "accept", "version": 1}, 422),
        ({"ticket_id": ticket, "action": "accept"}, 422),
    ]
    for body, status in attempts:
        res = send(client, body)
        assert res.status_code == status, (body, res.get_json())
        assert snapshot(db, ticket) == before, body
    assert send(client, None, raw=b"[1, 2]").status_code == 400
    assert send(client, None, raw=b"{not json").status_code == 400
    res = send(client, {"event_id": "x", "ticket_id": ticket, "action": "return"})
    assert res.get_json()["error"]["fields"] == {"reason": "请填写原因。"}
    res = send(client, {"event_id": "x", "ticket_id": ticket, "action": "suspended"})
    assert set(res.get_json()["error"]["fields"]) == {"reason_code"}
    english = send(
        client,
        {"event_id": "x", "ticket_id": ticket, "action": "return"},
        headers={"Accept-Language": "en"},
    )
    assert english.get_json()["error"]["fields"] == {"reason": "A reason is required."}
    # the other case's ticket is unchanged too, and the same event id still works afterwards
    assert snapshot(db, water_ticket(other))[0] == "queued"
    res = send(client, {"event_id": "x", "ticket_id": ticket, "action": "accept"})
    assert res.status_code == 200


def test_a_replayed_event_changes_nothing(client, users, submit, deliver_all, secrets, db):
    case = submit(services=["water"])
    deliver_all()
    ticket = water_ticket(case)
    body = {"event_id": "evt-42", "ticket_id": ticket, "action": "accept"}
    assert send(client, body).status_code == 200
    after_first = snapshot(db, ticket)
    for replay in (
        body,  # the very event again (a retry after a lost answer)
        {**body, "action": "return", "reason": "重放"},  # another body under the same id
    ):
        res = send(client, replay)
        assert res.status_code == 200
        assert res.get_json() == {"duplicate": True}
        assert snapshot(db, ticket) == after_first
    # the id is the provider's own: another provider may use it for its own ticket
    gas_case = submit(services=["gas"])
    deliver_all()
    gas = gas_case["tickets"][0]["id"]
    res = send(
        client,
        {"event_id": "evt-42", "ticket_id": gas, "action": "accept"},
        code="zz-gas",
        secret="gas-secret-9876543210",
    )
    assert res.status_code == 200 and res.get_json()["status"] == "accepted"


def test_two_copies_at_once_apply_once(app, client, users, submit, deliver_all, secrets, db):
    case = submit(services=["water"])
    deliver_all()
    ticket = water_ticket(case)
    before = snapshot(db, ticket)
    body = json.dumps({"event_id": "twin", "ticket_id": ticket, "action": "accept"}).encode()
    headers = signing.signed_headers(SECRET, body)
    barrier = threading.Barrier(2)
    answers: list = []

    def post():
        own = app.test_client()  # its own requests, app contexts and database sessions
        barrier.wait()
        res = own.post(URL.format(code="zz-water"), data=body, headers=headers)
        answers.append((res.status_code, res.get_json()))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(status for status, _ in answers) == [200, 200]
    duplicates = [a for _s, a in answers if a == {"duplicate": True}]
    applied = [a for _s, a in answers if a.get("status") == "accepted"]
    assert len(duplicates) == 1 and len(applied) == 1
    status, version, _rep, events, seen = snapshot(db, ticket)
    assert (status, version, events, seen) == ("accepted", before[1] + 1, before[3] + 2, 1)
    # one accept in the trail (plus the system user's creation, audited once)
    actions = db.session.scalars(db.select(Event.action).order_by(Event.id.desc()).limit(2)).all()
    assert sorted(actions) == ["accept", "system_actor_created"]


def test_events_are_rate_limited_per_provider(app, client, secrets, monkeypatch):
    monkeypatch.setitem(app.config, "JOINTDESK_PROVIDER_EVENTS_LIMIT", "3 per minute")
    body = {"event_id": "x", "ticket_id": 1, "action": "accept"}
    codes = [send(client, body, secret="wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert send(client, body, code="zz-gas", secret="wrong").status_code == 401  # its own budget
