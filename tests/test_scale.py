"""Scale: the bench seeder's mix, keyset pages of a provider's queue, the SLA job in batches."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from jointdesk.benchdata import SeedRefused, bench_query_code, seed
from jointdesk.models import Case, Permit, Step, Suspension, Ticket
from jointdesk.policy import process as rules

FK_CHECKS = {
    "tickets": ("case_id", "cases"),
    "steps": ("ticket_id", "tickets"),
    "permits": ("ticket_id", "tickets"),
    "suspensions": ("ticket_id", "tickets"),
    "outbox": ("ticket_id", "tickets"),
    "materials": ("case_id", "cases"),
    "events": ("case_id", "cases"),
}


@pytest.fixture
def seeded(db):
    """A small mix over 20 days (so that every state occurs), with the bench users."""
    counts = seed(240, batch=50, jobs=2, span_days=20)
    db.session.remove()
    return counts


def test_seed_makes_a_consistent_mix(db, seeded, client):
    assert seeded["cases"] == 240 and seeded["tickets"] > 240
    statuses = set(db.session.execute(db.select(Ticket.status).distinct()).scalars())
    assert statuses == set(rules.TICKET_STATUSES)
    channels = set(db.session.execute(db.select(Case.channel).distinct()).scalars())
    assert channels == set(rules.CHANNELS)
    providers = db.session.execute(db.select(Ticket.provider_id).distinct()).scalars().all()
    assert len(providers) == 4
    for table, (column, parent) in FK_CHECKS.items():
        orphans = db.session.execute(
            db.text(
                f"SELECT COUNT(*) FROM {table} c LEFT JOIN {parent} p ON p.id = c.{column} "  # noqa: S608
                f"WHERE c.{column} IS NOT NULL AND p.id IS NULL"
            )
        ).scalar()
        assert orphans == 0, table
    # steps and permits as the policy plans them; a suspended ticket has its clock stopped
    for ticket in db.session.execute(db.select(Ticket).limit(150)).scalars():
        case = ticket.case
        assert [s.name for s in ticket.steps] == list(
            rules.steps_for(case.channel, case.approval_system_code)
        )
        assert {p.kind for p in ticket.permits} == set(
            rules.permit_plan(case.facts(), ticket.service_code)
        )
        assert (ticket.closed_at is not None) == (ticket.status in rules.TERMINAL)
        for step in ticket.steps:  # an ended step carries its working time, a running one not
            ended = step.started_at is not None and (
                step.completed_at is not None or ticket.closed_at is not None
            )
            assert (step.working_seconds is not None) == ended
        if ticket.status == rules.SUSPENDED:
            assert ticket.suspended_at is not None
            assert [s.ended_at for s in ticket.suspensions] == [None]
            assert ticket.suspensions[0].reason_code in rules.SUSPENSION_REASONS
    assert db.session.execute(db.select(db.func.count(Suspension.id))).scalar() > 0
    assert db.session.execute(db.select(db.func.count(Permit.id))).scalar() > 0
    assert db.session.execute(db.select(db.func.count(Step.id))).scalar() > seeded["tickets"]
    # the public look-up finds a seeded case with its known code, and only with it
    case = db.session.execute(db.select(Case).order_by(Case.id).limit(1)).scalar_one()
    ok = client.get(f"/api/v1/public/cases/{case.reference}?code={bench_query_code(case.id)}")
    assert ok.status_code == 200 and ok.get_json()["reference"] == case.reference
    wrong = client.get(f"/api/v1/public/cases/{case.reference}?code=00000000")
    assert wrong.status_code == 404


def test_seed_refuses_a_database_with_cases_unless_appending(db, seeded):
    with pytest.raises(SeedRefused):
        seed(10)
    last = db.session.execute(db.select(db.func.max(Case.id))).scalar()
    more = seed(10, append=True, batch=5, jobs=1, span_days=20)
    db.session.remove()
    assert more["cases"] == 10
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar() == 250
    # the sequences were moved past the seeded ids: the app's own inserts still work
    nextval = db.session.execute(db.text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))"))
    assert nextval.scalar() > last + 10


def _walk(client, headers, query="", per_page=7, between=None):
    ids, after, pages = [], None, 0
    while True:
        url = f"/api/v1/providers/zz-water/tickets?per_page={per_page}{query}"
        res = client.get(url + (f"&after={after}" if after else ""), headers=headers)
        assert res.status_code == 200, res.get_json()
        body = res.get_json()
        assert len(body["items"]) <= per_page
        ids += [t["id"] for t in body["items"]]
        pages += 1
        after = body["next"]
        if between is not None and pages == 2:
            between()
        if after is None:
            return ids, body["total"]


def test_keyset_pages_cover_the_queue_once_in_its_order(db, seeded, client, users):
    from jointdesk.desk.services import queue_query

    headers = users["water"][1]
    provider_id = users["water"][0].provider_id
    expected = [t.id for t in db.session.execute(queue_query(provider_id)).scalars()]
    ids, total = _walk(client, headers)
    assert ids == expected and total == len(expected) and len(set(ids)) == len(ids)
    # page numbers still work for shallow pages, and agree with the cursor
    page2 = client.get(
        "/api/v1/providers/zz-water/tickets?per_page=7&page=2", headers=headers
    ).get_json()
    assert [t["id"] for t in page2["items"]] == expected[7:14] and page2["page"] == 2
    # within one status (the status index's order) and for overdue tickets
    queued, total = _walk(client, headers, "&status=connected", per_page=11)
    assert queued == [
        t.id for t in db.session.execute(queue_query(provider_id, status="connected")).scalars()
    ]
    assert total == len(queued)
    overdue, _total = _walk(client, headers, "&overdue=true", per_page=3)
    assert overdue == [
        t.id for t in db.session.execute(queue_query(provider_id, overdue=True)).scalars()
    ]


def test_keyset_pages_stay_whole_while_tickets_change(db, seeded, client, users):
    """Between two pages a ticket not yet shown moves in front of the cursor (its due time
    changed) and one is closed: every ticket whose place did not change still comes exactly
    once (OFFSET pages would skip one)."""
    from jointdesk.desk.services import queue_query

    headers = users["water"][1]
    provider_id = users["water"][0].provider_id
    before = [t.id for t in db.session.execute(queue_query(provider_id)).scalars()]
    moved = {before[30], before[-1]}

    def change():
        db.session.execute(
            db.text("UPDATE tickets SET step_due_at = '2000-01-01' WHERE id = :id"),
            {"id": before[30]},
        )
        db.session.execute(
            db.text("UPDATE tickets SET due_at = '2000-01-01' WHERE id = :id"), {"id": before[-1]}
        )
        db.session.commit()

    ids, _total = _walk(client, headers, between=change)
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i not in moved] == [i for i in before if i not in moved]


@pytest.mark.parametrize(
    "cursor", ["nonsense", "", "W10", "eyJhIjoxfQ", "WzAsIjIwMjYtMDEtMDEiLCJ4IiwxXQ", "x" * 300]
)
def test_a_bad_cursor_is_a_400_with_a_field_message(db, client, users, cursor):
    res = client.get(
        f"/api/v1/providers/zz-water/tickets?after={cursor}", headers=users["water"][1]
    )
    assert res.status_code == 400
    assert "after" in res.get_json()["error"]["fields"]


def test_check_sla_reads_open_tickets_in_batches(db, seeded, app):
    from jointdesk.models.types import utcnow
    from jointdesk.sla import _open_ticket_batches, check_sla, lights, provider_light
    from jointdesk.workingtime import working_calendar

    open_count = db.session.execute(
        db.select(db.func.count(Ticket.id)).where(
            Ticket.status.in_([*rules.OPEN, rules.DISPATCHING])
        )
    ).scalar()
    assert open_count > 20
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    at = utcnow()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        first = check_sla(at, batch=7)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    batches = -(-open_count // 7)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # per batch: the ids, the tickets, and one query per kind of child; never one per ticket
    assert len(selects) <= 9 * (batches + 1) + 2
    assert first["overdue"] > 0  # seeded open tickets past their limits
    assert check_sla(at, batch=7)["notified"] == 0  # the same lights again: no news
    db.session.remove()
    calendar = working_calendar()
    for tickets in _open_ticket_batches(50):
        for ticket in tickets:
            assert ticket.sla_state == provider_light(lights(ticket, at, calendar))


def test_queue_totals_from_the_closed_count_agree_with_counting(db, seeded, users):
    from jointdesk.desk.services import _count, _queue_filters, queue_count, refresh_closed_counts
    from jointdesk.models import ClosedTicketCount
    from jointdesk.models.types import utcnow

    provider_id = users["water"][0].provider_id
    assert db.session.execute(db.select(db.func.count()).select_from(ClosedTicketCount)).scalar()

    def check():
        for status in (None, *rules.TICKET_STATUSES):
            for overdue in (None, True, False):
                expected = _count(_queue_filters(provider_id, status, overdue))
                assert queue_count(provider_id, status=status, overdue=overdue) == expected

    check()
    # a ticket closed just now is in the live part, until the next snapshot
    ticket = (
        db.session.execute(
            db.select(Ticket).where(Ticket.provider_id == provider_id, Ticket.status == "queued")
        )
        .scalars()
        .first()
    )
    db.session.execute(
        db.update(Ticket)
        .where(Ticket.id == ticket.id)
        .values(status="returned", closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    check()
    refresh_closed_counts()
    check()


def test_the_scale_benchmark_sees_every_statement_of_an_api_read(app, client, users, submit):
    """The API's reads run on the autocommit pool: the benchmark's capture (whose statements
    it explains) listens there as well as on the main pool."""
    from benchmarks.scale import Capture
    from jointdesk.cases.read import autocommit_engine
    from jointdesk.extensions import db

    case = submit(services=["water"])
    with app.app_context(), Capture(db.engine, autocommit_engine()) as cap:
        res = client.get(f"/api/v1/cases/{case['reference']}", headers=users["supervisor"][1])
    assert res.status_code == 200
    read = [s for s, _params in cap.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(read) == 2  # the token's user, the whole case
    assert any("FROM cases" in s for s in read)
