"""The lean read and write paths: fixed statement counts, the calendar built once per process
and rebuilt after an edit, working time stored when a step ends and restated when the
calendar changes."""

import json
import re
from datetime import date

import pytest
from conftest import act, application_body, at, sign_in_web

from jointdesk.cases.read import load_case_data
from jointdesk.cases.services import case_dict
from jointdesk.models import Step, Ticket


def test_intake_writes_one_insert_per_table_whatever_the_services(client, users, statements):
    h = users["clerk"][1]
    client.post("/api/v1/cases", json=application_body(services=["water"]), headers=h)  # warm

    def intake(services):
        body = application_body(services=services)
        body["applicant"]["name"] = "李" + str(len(services))
        res = client.post("/api/v1/cases", json=body, headers=h)
        assert res.status_code == 201, res.get_json()
        answer = res.get_json()  # built from what the INSERTs stored, audit event included
        assert [e["action"] for e in answer["events"]] == ["case_created"]
        assert len(answer["tickets"]) == len(services)

    one = statements(lambda: intake(["water"]))
    four = statements(lambda: intake(["water", "electricity", "gas", "heat"]))
    assert len(four) == len(one) <= 11
    inserts = [s.split()[2] for s in four if s.startswith("INSERT")]
    # the applicant's acceptance message (messaging.milestones) is written with the case
    assert sorted(inserts) == sorted(
        ["cases", "materials", "tickets", "steps", "permits", "outbox", "events"]
        + ["applicant_messages"]
    )


@pytest.mark.parametrize(
    "kind", ["four services with permits", "one service, a material missing", "pushed project"]
)
def test_the_intake_answer_is_the_case_as_a_read_gives_it(app, client, users, clock, kind):
    """Intake answers from the rows its INSERTs returned, not from a read: that answer must be
    what the case view shows at the same moment, to the same reader, field for field."""
    body = application_body()
    url, who = "/api/v1/cases", "clerk"
    if kind.startswith("one service"):
        body = application_body(
            services=["gas"],
            materials=[{"kind": "application_form", "provided": False, "note": "明日补交"}],
        )
    elif kind == "pushed project":
        body = application_body(materials=None, services=["electricity", "water"])
        body["project"]["approval_system_code"] = "2026-410105-47-01-004322"
        url, who = "/api/v1/integrations/approval-system/projects", "integration"
    res = client.post(url, json=body, headers=users[who][1])
    assert res.status_code == 201, res.get_json()
    answer = res.get_json()
    assert answer.pop("query_code")
    if who == "clerk":
        view = client.get(f"/api/v1/cases/{answer['reference']}", headers=users[who][1])
        assert view.status_code == 200
        assert answer == view.get_json()
    else:  # the approval system reads no case view: the same read, as its user
        with app.test_request_context():
            read = case_dict(load_case_data(answer["reference"]), users[who][0])
            assert answer == json.loads(app.json.dumps(read))
    if kind.startswith("four"):
        assert any(t["permits"] for t in answer["tickets"])
    if kind.startswith("one service"):
        assert [m["provided"] for m in answer["materials"]] == [False]


def test_a_delivery_is_two_statements_and_a_copy_one(app, db, submit, statements, monkeypatch):
    """The worker's hand-over: one transaction of two statements, the open row read with what
    the desk needs, then the ticket's guarded move, its audit event and the row done in one.
    A quick delivery records no take. A copy of a delivered row costs the read that finds it
    done."""
    from jointdesk.models import Event, OutboxMessage
    from jointdesk.routing import outbox
    from jointdesk.routing.outbox import deliver

    # however slow the machine, no take: the statements counted are the delivery's own
    monkeypatch.setattr(outbox, "TAKE_AFTER_SECONDS", 60)
    submit(services=["water", "electricity"])
    first, second = db.session.execute(
        db.select(OutboxMessage.id).order_by(OutboxMessage.id)
    ).scalars()
    db.session.rollback()
    assert deliver(first, worker_id="w-warm") == "delivered"
    sent = statements(lambda: deliver(second, worker_id="w1"))
    assert [s.split()[0] for s in sent] == ["SELECT", "WITH"], sent
    assert "FROM outbox" in sent[0]
    assert all(f"{table} AS" in sent[1] for table in ("moved", "event", "done")), sent[1]
    assert len(statements(lambda: deliver(second, worker_id="w2"))) == 1
    msg = db.session.get(OutboxMessage, second)
    assert msg.done_at is not None and msg.taken_by is None
    ticket = db.session.get(Ticket, msg.ticket_id)
    assert (ticket.status, ticket.version) == ("queued", 2)
    event = db.session.execute(
        db.select(Event).where(Event.ticket_id == ticket.id, Event.action == "dispatched")
    ).scalar_one()
    assert event.detail == {"provider": ticket.provider.code, "queue": msg.queue}
    assert (event.case_id, event.actor, event.actor_id) == (ticket.case_id, "system", None)
    assert event.created_at == ticket.queued_at == msg.done_at


def test_a_delivery_that_lasts_has_its_take_recorded_while_it_runs(app, db, submit):
    """The relay must know which worker has a delivery that hangs: a take written by the
    worker's thread once the delivery outlasted TAKE_AFTER_SECONDS, before it committed (the
    fault hook holds the delivery, as the crash tests do)."""
    from jointdesk.models import OutboxMessage
    from jointdesk.routing import outbox

    submit(services=["water"])
    msg_id = db.session.execute(db.select(OutboxMessage.id)).scalar_one()
    db.session.rollback()
    app.config["JOINTDESK_FAULT_DELIVERY_DELAY"] = outbox.TAKE_AFTER_SECONDS * 6
    try:
        assert outbox.deliver(msg_id, worker_id="w-slow") == "delivered"
    finally:
        app.config["JOINTDESK_FAULT_DELIVERY_DELAY"] = 0
    msg = db.session.get(OutboxMessage, msg_id)
    # the take skips a row that is done: it was written while the delivery ran
    assert msg.done_at is not None and msg.taken_by == "w-slow"


@pytest.mark.parametrize("change", ["representative", "copy delivered"])
def test_a_ticket_changed_since_its_row_was_read_goes_the_long_way(
    app, db, submit, monkeypatch, change
):
    """The one-statement hand-over applies what the delivery read: a ticket another
    transaction changed in between (its representative set, or a copy of the delivery
    committed first) is left alone by it, and the long way decides, in the same transaction,
    with one ``dispatched`` event in the end."""
    from jointdesk.models import Event, OutboxMessage, User
    from jointdesk.routing import outbox

    submit(services=["water"])
    msg = db.session.execute(db.select(OutboxMessage)).scalar_one()
    msg_id, ticket_id = msg.id, msg.ticket_id
    water1 = db.session.execute(db.select(User.id).where(User.username == "water1")).scalar_one()
    db.session.rollback()
    tried = []
    hold_at_once = outbox.hold_at_once

    def meanwhile(row, now):  # another transaction commits between the read and the hold
        with db.engine.begin() as other:
            if change == "representative":
                values = {"representative_id": water1}
            else:
                values = {"status": "queued", "queued_at": now, "version": Ticket.version + 1}
            other.execute(db.update(Ticket).where(Ticket.id == ticket_id).values(**values))
        tried.append(hold_at_once(row, now))
        return tried[-1]

    monkeypatch.setattr(outbox, "hold_at_once", meanwhile)
    expected = "delivered" if change == "representative" else "duplicate"
    assert outbox.deliver(msg_id) == expected
    assert tried == [False]  # the one statement wrote nothing
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket.status == "queued" and db.session.get(OutboxMessage, msg_id).done_at
    events = db.session.execute(
        db.select(Event).where(Event.ticket_id == ticket_id, Event.action == "dispatched")
    ).scalars()
    if change == "representative":  # the long way moved it, with the representative set
        (event,) = events
        assert ticket.representative_id == water1 and "representative" not in event.detail
    else:  # the copy's delivery, simulated, wrote no event: this one wrote none either
        assert list(events) == []


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
    assert len(view_big) == len(view_small) == 2  # the token with its user; the whole case

    url = f"/api/v1/public/cases/{big['reference']}?code={big['query_code']}"
    public = statements(lambda: client.get(url))
    assert len(public) == 1  # case, children, calendar version
    assert " events " not in public[0] and "FROM events" not in public[0]  # no timeline
    assert "FROM materials" not in public[0]  # nor materials: a progress answer shows neither
    wrong = f"/api/v1/public/cases/{big['reference']}?code=00000000"
    assert len(statements(lambda: client.get(wrong))) == 1  # the same statement, no row
    unknown = "/api/v1/public/cases/ZZ20260101000000?code=00000000"
    assert len(statements(lambda: client.get(unknown))) == 1

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


def test_api_reads_run_outside_a_transaction(client, users, submit, db):
    """No BEGIN and no ROLLBACK round trip around a read: every statement of a GET runs in
    autocommit, on the connections of the autocommit pool (which never leave autocommit, so
    no request switches a connection back and forth), while a write still runs in one
    transaction on the main pool."""
    from sqlalchemy import event

    from jointdesk.cases.read import autocommit_engine

    case = submit(services=["water"])
    db.session.commit()  # the tests' requests share the test's session: start outside one
    modes: list[tuple[str, bool]] = []
    reads = autocommit_engine()
    assert reads is not None and reads.pool is not db.engine.pool

    def listener(pool: str):
        def before(conn, *_args):
            modes.append((pool, conn.connection.dbapi_connection.autocommit))

        return before

    listeners = [(db.engine, listener("main")), (reads, listener("reads"))]
    for engine, fn in listeners:
        event.listen(engine, "before_cursor_execute", fn)
    try:
        h = users["clerk"][1]
        assert client.get(f"/api/v1/cases/{case['reference']}", headers=h).status_code == 200
        url = f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}"
        assert client.get(url).status_code == 200
        assert modes and all(m == ("reads", True) for m in modes), modes
        modes.clear()
        submit(services=["gas"])
        assert modes and all(m == ("main", False) for m in modes), modes
        modes.clear()
        # the read's session is the main pool's again after the request
        assert client.get(f"/api/v1/cases/{case['reference']}", headers=h).status_code == 200
        db.session.execute(db.text("SELECT 1"))
        assert modes[-1] == ("main", False)
        db.session.rollback()
    finally:
        for engine, fn in listeners:
            event.remove(engine, "before_cursor_execute", fn)


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


def test_an_office_hours_change_from_the_admin_page_restates_in_the_background(
    client, db, users, clock, deliver_all
):
    """The page answers at once; the outbox row it wrote in the same transaction carries the
    restatement, which a worker runs (here in-process), once."""
    from jointdesk import workingtime
    from jointdesk.models import OutboxMessage

    case = water_case(client, users, clock, deliver_all, at(2026, 11, 26, 9, 0))
    ticket_id = case["tickets"][0]["id"]
    clock.set(at(2026, 11, 26, 11, 0))
    res = act(client, users["water"][1], ticket_id, action="return", reason="非供水区域")
    assert res.status_code == 200, res.get_json()
    step = db.session.execute(
        db.select(Step).where(Step.ticket_id == ticket_id, Step.seq == 0)
    ).scalar_one()
    assert step.working_seconds == 2 * 3600
    step_id = step.id

    sign_in_web(client, users["admin"][0])
    page = client.get("/admin/calendar?year=2026").get_data(as_text=True)
    token = re.search(r'name="h-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    res = client.post(
        "/admin/calendar?year=2026",
        data={"what": "hours", "h-csrf_token": token, "h-hours": "10:00-12:00"},
    )
    assert res.status_code == 302, res.get_data(as_text=True)[:2000]
    job = db.session.execute(
        db.select(OutboxMessage).where(OutboxMessage.task == workingtime.RESTATE_TASK)
    ).scalar_one()
    assert job.done_at is None and job.payload == {"days": workingtime.EVERY_DAY}
    job_id = job.id
    db.session.expire_all()
    assert db.session.get(Step, step_id).working_seconds == 2 * 3600  # not yet

    assert workingtime.restate_after_change(job_id) == "restated"
    db.session.expire_all()
    assert db.session.get(Step, step_id).working_seconds == 1 * 3600  # 10:00-11:00 only
    assert db.session.get(OutboxMessage, job_id).done_at is not None
    assert workingtime.restate_after_change(job_id) == "already-done"


def test_the_case_read_stays_short_enough_to_be_cached_and_prepared():
    """psycopg keeps a statement's converted text only up to 4 KiB; beyond, every case view
    would parse it again (a new column should then get a shorter name in ``cases.read``)."""
    from sqlalchemy.dialects.postgresql import psycopg

    from jointdesk.cases.read import _case_statement

    for by_code in (False, True):
        sql = str(_case_statement("postgresql", by_code).compile(dialect=psycopg.dialect()))
        assert len(sql.encode()) <= 4096
        assert sql.count("%(") <= 3  # the reference, the digest, the calendar's key


def test_a_read_on_the_driver_cursor_gives_what_sqlalchemy_gives(app, db, submit):
    """``first_row`` runs a prebuilt read on the DBAPI cursor: the same values, converted the
    same way (aware moments, numbers, JSON), as SQLAlchemy's own execution of it, on the
    autocommit pool and inside a transaction alike."""
    from jointdesk.cases.read import _case_statement, autocommit_engine
    from jointdesk.prebuilt import first_row

    case = submit(
        services=["water", "gas"],
        project={"external_works": True, "pipeline_length_m": 12.5, "low_risk": False},
    )
    stmt = _case_statement(db.engine.dialect.name, False, True)
    params = {"reference": case["reference"]}
    with app.app_context():
        for connection in (autocommit_engine().connect(), db.session.connection()):
            expected = dict(connection.execute(stmt, params).one()._mapping)
            got = first_row(connection, stmt, params)
            assert got == expected
            assert got["created_at"].tzinfo is not None
            assert float(got["pipeline_length_m"]) == 12.5
            assert len(got["c_tickets"]) == 2
            assert first_row(connection, stmt, {"reference": "ZZ-NONE"}) is None
        db.session.rollback()


def test_a_driver_error_on_such_a_read_is_sqlalchemys_error(app, db):
    """Should the driver refuse the statement, the error is SQLAlchemy's (the error pages
    depend on it), the very error the database gave, also inside a transaction, with its
    parameters hidden as the engine hides them (the statement's values are applicants' data);
    the pool's connection stays usable."""
    import pytest
    from sqlalchemy import Integer, bindparam, cast, exc, select

    from jointdesk.cases.read import autocommit_engine
    from jointdesk.prebuilt import first_row

    stmt = select(cast(bindparam("value"), Integer).label("n"))
    with app.app_context():
        with autocommit_engine().connect() as connection:
            assert first_row(connection, stmt, {"value": "7"}) == {"n": 7}
            with pytest.raises(exc.DataError) as refused:
                first_row(connection, stmt, {"value": "13812345678 张三"})
            assert "parameters hidden" in str(refused.value)
            assert first_row(connection, stmt, {"value": "8"}) == {"n": 8}
        connection = db.session.connection()  # in the session's transaction
        with pytest.raises(exc.DataError):
            first_row(connection, stmt, {"value": "not a number"})
        db.session.rollback()


def test_a_write_on_the_driver_cursor_returns_its_row_and_its_errors_are_sqlalchemys(
    app, db, submit
):
    """The delivery's UPDATEs run the same way: one returns its RETURNING row, one without
    RETURNING gives None, and a refused write raises SQLAlchemy's error for it (not run
    twice), leaving the transaction to the caller's rollback."""
    import pytest
    from sqlalchemy import bindparam, exc, update

    from jointdesk.prebuilt import first_row

    case = submit(services=["water"])
    ticket_id = case["tickets"][0]["id"]
    t = Ticket.__table__
    where = t.c.id == bindparam("ticket_id")
    bump = update(t).where(where).values(version=t.c.version + 1).returning(t.c.version)
    touch = update(t).where(where).values(version=t.c.version + 1)
    refused = update(t).where(where).values(service_code=bindparam("service"))  # NOT NULL
    with app.app_context():
        connection = db.session.connection()
        before = db.session.get(Ticket, ticket_id).version
        assert first_row(connection, bump, {"ticket_id": ticket_id}) == {"version": before + 1}
        assert first_row(connection, touch, {"ticket_id": ticket_id}) is None
        with pytest.raises(exc.IntegrityError):
            first_row(connection, refused, {"ticket_id": ticket_id, "service": None})
        db.session.rollback()
        db.session.expire_all()
        assert db.session.get(Ticket, ticket_id).version == before


def test_only_the_autocommit_pool_commits_without_waiting_for_the_disk(app, db):
    """The take of an outbox row and a token's last use (all the autocommit pool writes) may
    be lost in a database crash without harm; every other write waits for the WAL."""
    from sqlalchemy import text

    from jointdesk.cases.read import autocommit_engine

    with app.app_context():
        with autocommit_engine().connect() as connection:
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == "off"
        with db.engine.connect() as connection:  # as the server sets every session
            default = "SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == (
                connection.execute(text(default)).scalar()
            )


def test_a_lost_connection_under_such_a_read_is_noticed_by_the_pool(app, db):
    """A connection the database dropped (a restart, a network cut) fails the read with
    SQLAlchemy's error, marked as a lost connection, and the pool lets it go: the next read
    gets a live one."""
    import pytest
    from sqlalchemy import exc, literal_column, select, text

    from jointdesk.cases.read import autocommit_engine
    from jointdesk.prebuilt import first_row

    stmt = select(literal_column("1").label("one"))
    engine = autocommit_engine()
    with app.app_context():
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(exc.DBAPIError) as lost:
                first_row(connection, stmt, {})
            assert lost.value.connection_invalidated
        with engine.connect() as connection:
            assert first_row(connection, stmt, {}) == {"one": 1}
