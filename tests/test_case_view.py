"""The one aggregated case view and the applicant's public status look-up."""

import pytest

from jointdesk.models import Event


@pytest.fixture
def case(submit, deliver_all):
    data = submit()
    deliver_all()
    return data


def tid(case, service):
    return next(t["id"] for t in case["tickets"] if t["service"] == service)


def test_overall_status_follows_the_tickets(client, users, case):
    ref = case["reference"]
    view = lambda: client.get(f"/api/v1/cases/{ref}", headers=users["clerk"][1]).get_json()  # noqa: E731
    assert view()["status"] == "received"
    client.post(
        f"/api/v1/tickets/{tid(case, 'water')}/actions",
        json={"action": "accept"},
        headers=users["water"][1],
    )
    assert view()["status"] == "in_progress"
    client.post(
        f"/api/v1/tickets/{tid(case, 'water')}/actions",
        json={"action": "connect"},
        headers=users["water"][1],
    )
    assert view()["status"] == "partially_connected"
    for who, svc in (("power", "electricity"), ("gas", "gas")):
        client.post(
            f"/api/v1/tickets/{tid(case, svc)}/actions",
            json={"action": "accept"},
            headers=users[who][1],
        )
        client.post(
            f"/api/v1/tickets/{tid(case, svc)}/actions",
            json={"action": "connect"},
            headers=users[who][1],
        )
    client.post(
        f"/api/v1/tickets/{tid(case, 'heat')}/actions",
        json={"action": "return", "reason": "无供热管网"},
        headers=users["heat"][1],
    )
    final = view()
    assert final["status"] == "completed"
    actions = [e["action"] for e in final["events"]]
    assert actions[0] == "case_created" and actions.count("dispatched") == 4
    assert actions.count("connect") == 3 and actions.count("return") == 1
    heat_return = next(e for e in final["events"] if e["action"] == "return")
    assert heat_return["actor"] == "heat1" and heat_return["service"] == "heat"
    assert heat_return["detail"]["reason"] == "无供热管网"


def test_phone_whole_for_clerk_and_staff_masked_for_supervisor(client, users, case):
    ref = case["reference"]
    assert (
        client.get(f"/api/v1/cases/{ref}", headers=users["clerk"][1]).get_json()["applicant"][
            "phone"
        ]
        == "13800000000"
    )
    assert (
        client.get(f"/api/v1/cases/{ref}", headers=users["supervisor"][1]).get_json()["applicant"][
            "phone"
        ]
        == "138****0000"
    )
    for who in ("clerk", "supervisor", "water"):
        body = client.get(f"/api/v1/cases/{ref}", headers=users[who][1]).get_json()
        assert "*" in body["applicant"]["id_number"]


def test_unknown_case_is_404(client, users):
    assert client.get("/api/v1/cases/ZZ0000", headers=users["clerk"][1]).status_code == 404


def test_public_status_masks_and_shows_progress(client, case):
    ref, code = case["reference"], case["query_code"]
    res = client.get(f"/api/v1/public/cases/{ref}?code={code}")
    assert res.status_code == 200
    body = res.get_json()
    assert body["applicant"] == {"name": "张*", "phone": "138****0000"}
    assert len(body["tickets"]) == 4 and "events" not in body
    raw = res.get_data(as_text=True)
    assert "13800000000" not in raw and case["tickets"][0]["id"] and "version" not in raw


def test_wrong_code_and_unknown_reference_answer_the_same(client, case):
    wrong = client.get(f"/api/v1/public/cases/{case['reference']}?code=00000000")
    unknown = client.get(f"/api/v1/public/cases/ZZ20990101XXXXXX?code={case['query_code']}")
    missing = client.get(f"/api/v1/public/cases/{case['reference']}")
    assert wrong.status_code == unknown.status_code == missing.status_code == 404
    assert wrong.get_json() == unknown.get_json() == missing.get_json()


def test_public_lookups_are_rate_limited_per_client(app, client, case):
    app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "3 per minute"
    try:
        codes = [
            client.get(f"/api/v1/public/cases/{case['reference']}?code=1").status_code
            for _ in range(4)
        ]
        assert codes == [404, 404, 404, 429]
        assert (
            client.get("/api/v1/public/cases/X?code=1").get_json()["error"]["code"]
            == "rate_limited"
        )
        # another client is not affected
        other = client.get(
            f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}",
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )
        assert other.status_code == 200
    finally:
        app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "10 per minute;100 per hour"
        from jointdesk.extensions import limiter

        limiter.reset()


def test_audit_log_is_append_only(db, case):
    from sqlalchemy.exc import DBAPIError

    event = db.session.execute(db.select(Event)).scalars().first()
    event.actor = "someone-else"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(db.delete(Event))
    db.session.rollback()
