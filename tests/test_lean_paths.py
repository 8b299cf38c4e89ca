"""The lean read and write paths: fixed statement counts, the calendar built once per process
and rebuilt after an edit, working time stored when a step ends and restated when the
calendar changes."""

from datetime import date

from conftest import application_body, at

from jointdesk.models import Step, Ticket


def test_intake_writes_one_insert_per_table_whatever_the_services(client, users, statements):
    h = users["clerk"][1]
    client.post("/api/v1/cases", json=application_body(services=["water"]), headers=h)  # warm

    def intake(services):
        body = application_body(services=services)
        body["applicant"]["name"] = "李" + str(len(services))
        res = client.post("/api/v1/cases", json=body, headers=h)
        assert res.status_code == 201, res.get_json()

    one = statements(lambda: intake(["water"]))
    four = statements(lambda: intake(["water", "electricity", "gas", "heat"]))
    assert len(four) == len(one) <= 16
    inserts = [s.split()[2] for s in four if s.startswith("INSERT")]
    # the applicant's acceptance message (messaging.milestones) is written with the case
    assert sorted(inserts) == sorted(
        ["cases", "materials", "tickets", "steps", "permits", "outbox", "events"]
        + ["applicant_messages"]
    )


def test_api_views_cost_a_fixed_handful_of_statements(
    client, users, submit, deliver_all, statements
):
    small = submit(services=["water"])
    big = submit()
    deliver_all()
    staff = users["water"][1]
    client.post(
        f"/api/v1/tickets/{big['tickets'][0]['id']}/actions",
        json={"action": "suspend", "reason_code": "applicant_waiting", "reason": "等资料"},
        headers=staff,
    )
    h = users["supervisor"][1]
    client.get("/api/v1/cases/none", headers=h)  # the token's last use is then recorded
    view_small = statements(lambda: client.get(f"/api/v1/cases/{small['reference']}", headers=h))
    view_big = statements(lambda: client.get(f"/api/v1/cases/{big['reference']}", headers=h))
    assert len(view_big) == len(view_small) <= 4

    url = f"/api/v1/public/cases/{big['reference']}?code={big['query_code']}"
    assert len(statements(lambda: client.get(url))) <= 4
    wrong = f"/api/v1/public/cases/{big['reference']}?code=00000000"
    assert len(statements(lambda: client.get(wrong))) == 1  # one small read, then the HMAC

    def accept(case):
        ticket = case["tickets"][0]
        res = client.post(
            f"/api/v1/tickets/{ticket['id']}/actions", json={"action": "accept"}, headers=staff
        )
        assert res.status_code == 200, res.get_json()

    staff = users["water"][1]
    client.get("/api/v1/cases/none", headers=staff)
    fresh_small, fresh_big = submit(services=["water"]), submit()
    deliver_all()
    act_small = statements(lambda: accept(fresh_small))
    act_big = statements(lambda: accept(fresh_big))
    assert len(act_big) == len(act_small) <= 12


def test_the_calendar_is_built_once_per_process_and_rebuilt_after_any_edit(app, db, users):
    from jointdesk import workingtime

    def in_a_request():
        with app.app_context(), app.test_request_context():  # a request's own context
            return workingtime.working_calendar()

    first = in_a_request()
    assert in_a_request() is first  # nothing changed: not built again

    workingtime.set_override(date(2026, 12, 1), False, "停电检修", users["admin"][0])
    second = in_a_request()
    assert second is not first and not second.is_working_day(date(2026, 12, 1))

    # another process's edit: only the database knows of it
    with db.engine.begin() as conn:
        conn.execute(
            db.text(
                "INSERT INTO calendar_overrides (day, working, note, updated_by) "
                "VALUES ('2026-12-02', false, '', 'other')"
            )
        )
        conn.execute(db.text("UPDATE meta SET value = 'elsewhere' WHERE key = 'calendar_version'"))
    db.session.rollback()
    third = in_a_request()
    assert third is not second and not third.is_working_day(date(2026, 12, 2))


def water_case(client, users, clock, deliver_all, when):
    clock.set(when)
    body = application_body(services=["water"])
    body["project"].update({"external_works": False, "pipeline_length_m": None})
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 201, res.get_json()
    deliver_all()
    return res.get_json()


def test_working_time_is_stored_when_a_step_ends_and_read_not_measured(
    client, db, users, clock, deliver_all
):
    case = water_case(client, users, clock, deliver_all, at(2026, 11, 26, 9, 0))
    ticket_id = case["tickets"][0]["id"]
    h = users["water"][1]
    clock.set(at(2026, 11, 26, 11, 0))
    client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=h)
    steps = (
        db.session.execute(db.select(Step).where(Step.ticket_id == ticket_id).order_by(Step.seq))
        .scalars()
        .all()
    )
    assert [s.working_seconds for s in steps] == [2 * 3600, None]  # the second one runs

    # what is stored is what every reader shows: it is not measured again
    steps[0].working_seconds = 7 * 3600
    db.session.commit()
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=h).get_json()
    assert view["tickets"][0]["steps"][0]["working_days"] == 1.0
    assert view["indicators"]["tickets"][0]["working_days_per_step"][0] == 1.0


def test_a_calendar_edit_restates_the_stored_working_time_of_closed_tickets(
    client, db, users, clock, deliver_all
):
    from jointdesk import workingtime

    case = water_case(client, users, clock, deliver_all, at(2026, 11, 26, 9, 0))
    ticket_id = case["tickets"][0]["id"]
    clock.set(at(2026, 11, 26, 11, 0))
    res = client.post(
        f"/api/v1/tickets/{ticket_id}/actions",
        json={"action": "return", "reason": "非供水区域"},
        headers=users["water"][1],
    )
    assert res.status_code == 200, res.get_json()
    step = db.session.execute(
        db.select(Step).where(Step.ticket_id == ticket_id, Step.seq == 0)
    ).scalar_one()
    assert step.working_seconds == 2 * 3600

    # the day turns out to have been a day off: the closed ticket used no working time
    workingtime.set_override(date(2026, 11, 26), False, "调休", users["admin"][0])
    db.session.expire_all()
    assert db.session.get(Step, step.id).working_seconds == 0
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=users["clerk"][1]).get_json()
    assert view["tickets"][0]["steps"][0]["working_days"] == 0
    assert db.session.get(Ticket, ticket_id).status == "returned"
