"""Provider staff work their queue: actions, refused actions, races, and provider isolation."""

import threading

import pytest
from conftest import act

from jointdesk.models import Event, Ticket, User


@pytest.fixture
def case(submit, deliver_all):
    data = submit()
    deliver_all()
    return data


def ticket_of(case, service):
    return next(t for t in case["tickets"] if t["service"] == service)


def test_accept_then_connect_moves_steps_and_sets_due_times(client, users, case):
    water = ticket_of(case, "water")
    res = act(client, users["water"][1], water["id"], action="accept")
    assert res.status_code == 200, res.get_json()
    t = res.get_json()
    assert t["status"] == "accepted"
    assert t["representative"]["username"] == "water1"  # the one who accepts carries the case
    accept, connect = t["steps"]
    assert accept["completed_at"] and connect["started_at"] and connect["due_at"]
    res = act(client, users["water"][1], water["id"], action="connect")
    assert res.get_json()["status"] == "connected"
    assert res.get_json()["steps"][1]["completed_at"]


def test_action_not_allowed_by_state_is_409(client, users, case):
    water = ticket_of(case, "water")
    res = act(client, users["water"][1], water["id"], action="connect")
    assert res.status_code == 409
    assert res.get_json()["error"]["code"] == "not_allowed"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"action": "return"}, "reason"),
        ({"action": "suspend", "reason_code": "other", "reason": "  "}, "reason"),
        ({"action": "suspend", "reason": "等待申请人"}, "reason_code"),
        ({"action": "suspend", "reason_code": "rain"}, "reason_code"),
        ({"action": "fly"}, "action"),
        ({}, "action"),
        ({"action": 5}, "action"),
        ({"action": "assign", "representative": "power1"}, "representative"),
        ({"action": "assign", "representative": "nobody"}, "representative"),
        ({"action": "accept", "version": "one"}, "version"),
        ({"action": "return", "reason": "x" * 501}, "reason"),
    ],
)
def test_bad_action_requests_get_422_and_change_nothing(client, db, users, case, body, field):
    water = ticket_of(case, "water")
    res = act(client, users["water"][1], water["id"], **body)
    assert res.status_code == 422, res.get_json()
    assert field in res.get_json()["error"]["fields"]
    db.session.rollback()
    assert db.session.get(Ticket, water["id"]).status == "queued"


def test_return_suspend_resume_assign(client, users, case):
    gas = ticket_of(case, "gas")["id"]
    h = users["gas"][1]
    assert act(client, h, gas, action="accept").get_json()["status"] == "accepted"
    suspended = act(
        client, h, gas, action="suspend", reason_code="applicant_waiting", reason="补充资料"
    ).get_json()
    assert suspended["status"] == "suspended"
    assert suspended["suspend_reason_code"] == "applicant_waiting"
    assert act(client, h, gas, action="accept").status_code == 409
    assert act(client, h, gas, action="resume").get_json()["status"] == "accepted"
    res = act(client, h, gas, action="assign", representative="gas1")
    assert res.get_json()["representative"]["username"] == "gas1"
    res = act(client, h, gas, action="return", reason="不在供气区域内")
    assert res.get_json()["status"] == "returned"
    assert res.get_json()["return_reason"] == "不在供气区域内"


def test_numbers_typed_into_free_text_are_masked_before_they_are_stored(db, client, users, case):
    """Reasons and notes stay in the ticket and the audit trail for good, and supervisors read
    them: an ID or phone number typed into them is masked like everywhere else."""
    gas = ticket_of(case, "gas")["id"]
    h = users["gas"][1]
    assert act(client, h, gas, action="accept").status_code == 200
    res = act(client, h, gas, action="suspend", reason_code="other", reason="等回电 13912345678")
    assert res.status_code == 200
    assert res.get_json()["suspend_reason"] == "等回电 139****5678"
    act(client, h, gas, action="resume")
    res = act(client, h, gas, action="return", reason="身份证 11010519491231002X 不符")
    assert res.get_json()["return_reason"] == "身份证 1101**********002X 不符"
    details = (
        db.session.execute(db.select(Event.detail).where(Event.ticket_id == gas)).scalars().all()
    )
    stored = " ".join(str(d) for d in details)
    assert "13912345678" not in stored and "11010519491231002X" not in stored
    assert "139****5678" in stored


def test_stale_version_is_a_conflict(client, users, case):
    water = ticket_of(case, "water")
    version = water["version"] + 1  # after the dispatch the version moved on; read it fresh
    fresh = client.get(f"/api/v1/cases/{case['reference']}", headers=users["water"][1]).get_json()
    version = ticket_of(fresh, "water")["version"]
    assert (
        act(client, users["water"][1], water["id"], action="accept", version=version).status_code
        == 200
    )
    res = act(
        client, users["water2"][1], water["id"], action="return", reason="重复", version=version
    )
    assert res.status_code == 409
    assert res.get_json()["error"]["code"] == "conflict"


def test_two_staff_at_the_same_moment_exactly_one_wins(app, users, case):
    """Two threads, two connections, same ticket: one 200, one 409, one event."""
    water = ticket_of(case, "water")["id"]
    barrier = threading.Barrier(2)
    results = []

    def attempt(headers, body):
        c = app.test_client()
        barrier.wait()
        with app.app_context():
            results.append(
                c.post(f"/api/v1/tickets/{water}/actions", json=body, headers=headers).status_code
            )

    threads = [
        threading.Thread(target=attempt, args=(users["water"][1], {"action": "accept"})),
        threading.Thread(
            target=attempt, args=(users["water2"][1], {"action": "return", "reason": "重复申请"})
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [200, 409]
    with app.app_context():
        from jointdesk.extensions import db

        actions = (
            db.session.execute(
                db.select(Event.action).where(
                    Event.ticket_id == water, Event.action.in_(["accept", "return"])
                )
            )
            .scalars()
            .all()
        )
        assert len(actions) == 1


def test_a_winner_committed_while_a_loser_works_is_a_409_not_a_500(db, users, case):
    """The loser's action loads the case lazily half-way (due times); before the fix that lazy
    load flushed the ticket's UPDATE early and the version check raised outside the conflict
    handling. Deterministic: the winner's commit lands between the loser's read and action."""
    from sqlalchemy import create_engine, text

    from jointdesk.desk.services import ActionRefused, perform_action

    water = ticket_of(case, "water")["id"]
    loser_id = users["water"][0].id
    db.session.expunge_all()  # nothing loaded: the action's lazy loads really hit the database
    ticket = db.session.get(Ticket, water)
    loser = db.session.get(User, loser_id)
    other = create_engine(db.engine.url.render_as_string(hide_password=False))
    with other.begin() as conn:  # the winner, on another connection
        conn.execute(text("UPDATE tickets SET version = version + 1 WHERE id = :id"), {"id": water})
    other.dispose()
    with pytest.raises(ActionRefused) as refused:
        perform_action(ticket, "accept", loser)
    assert refused.value.status == 409
    db.session.rollback()
    assert db.session.get(Ticket, water).status == "queued"


def test_staff_cannot_touch_another_providers_tickets_through_any_url(client, users, case):
    water = ticket_of(case, "water")["id"]
    power_headers = users["power"][1]
    assert act(client, power_headers, water, action="accept").status_code == 404
    assert (
        client.get("/api/v1/providers/zz-water/tickets", headers=power_headers).status_code == 403
    )
    # supervisors read every queue but act on none
    assert (
        client.get("/api/v1/providers/zz-water/tickets", headers=users["supervisor"][1]).status_code
        == 200
    )
    assert act(client, users["supervisor"][1], water, action="accept").status_code == 403
    assert act(client, users["clerk"][1], water, action="accept").status_code == 403


def test_staff_see_only_cases_their_provider_is_on(client, users, submit, deliver_all):
    only_water = submit(services=["water"])
    deliver_all()
    assert (
        client.get(
            f"/api/v1/cases/{only_water['reference']}", headers=users["water"][1]
        ).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/cases/{only_water['reference']}", headers=users["gas"][1]).status_code
        == 404
    )


def test_queue_filters_and_order(client, users, submit, deliver_all):
    first = submit(services=["water"])
    second = submit(services=["water"])
    deliver_all()
    h = users["water"][1]
    t2 = second["tickets"][0]["id"]
    act(client, h, t2, action="accept")
    page = client.get("/api/v1/providers/zz-water/tickets", headers=h).get_json()
    assert page["total"] == 2 and page["page"] == 1 and page["per_page"] == 20
    # the accepted ticket's next step is due later than the untouched one's first step
    assert [i["case"] for i in page["items"]] == [first["reference"], second["reference"]]
    accepted = client.get(
        "/api/v1/providers/zz-water/tickets?status=accepted", headers=h
    ).get_json()
    assert [i["id"] for i in accepted["items"]] == [t2]
    assert (
        client.get("/api/v1/providers/zz-water/tickets?overdue=true", headers=h).get_json()["total"]
        == 0
    )
    assert (
        client.get("/api/v1/providers/zz-water/tickets?overdue=false", headers=h).get_json()[
            "total"
        ]
        == 2
    )
    one = client.get("/api/v1/providers/zz-water/tickets?per_page=1&page=2", headers=h).get_json()
    assert one["total"] == 2 and len(one["items"]) == 1


@pytest.mark.parametrize(
    "query", ["status=flying", "overdue=maybe", "page=0", "per_page=1000", "page=abc"]
)
def test_bad_queue_parameters_are_400(client, users, query):
    res = client.get(f"/api/v1/providers/zz-water/tickets?{query}", headers=users["water"][1])
    assert res.status_code == 400
    assert res.get_json()["error"]["fields"]


def test_dispatching_tickets_are_not_yet_in_the_queue(client, users, submit):
    submit(services=["water"])  # not delivered
    page = client.get("/api/v1/providers/zz-water/tickets", headers=users["water"][1]).get_json()
    assert page["total"] == 0


def test_unknown_provider_and_ticket_are_404(client, users):
    assert (
        client.get("/api/v1/providers/nope/tickets", headers=users["supervisor"][1]).status_code
        == 404
    )
    assert act(client, users["water"][1], 999999, action="accept").status_code == 404


def test_staff_see_other_providers_progress_but_not_their_details(client, users, case):
    heat = ticket_of(case, "heat")["id"]
    act(client, users["heat"][1], heat, action="return", reason="无供热管网-内部说明")
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=users["water"][1]).get_json()
    other = next(t for t in view["tickets"] if t["service"] == "heat")
    mine = next(t for t in view["tickets"] if t["service"] == "water")
    assert (
        other["status"] == "returned" and "version" not in other and "allowed_actions" not in other
    )
    assert "version" in mine
    heat_events = [e for e in view["events"] if e["service"] == "heat"]
    assert heat_events and all(e["detail"] == {} and e["actor"] == "" for e in heat_events)
