"""Time limits applied to real tickets: due times, suspension, permits, lights, SLA job,
indicators, and the calendar an administrator edits."""

from datetime import datetime

import pytest
from conftest import act, application_body, at, iso

from jointdesk.models import Notification, Ticket


def only_ticket(body):
    assert len(body["tickets"]) == 1
    return body["tickets"][0]


@pytest.fixture
def water_case(client, users, clock, deliver_all):
    def make(at_time, **project):
        clock.set(at_time)
        body = application_body(services=["water"])
        body["project"].update({"external_works": False, "pipeline_length_m": None, **project})
        res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
        assert res.status_code == 201, res.get_json()
        deliver_all()
        return res.get_json()

    return make


def test_two_steps_without_external_works_half_a_day_each(client, users, clock, water_case):
    case = water_case(at(2026, 11, 26, 10, 0))
    t = only_ticket(case)
    assert t["steps"][0]["due_at"] == iso(2026, 11, 26, 14, 30)
    assert t["due_at"] == iso(2026, 11, 27, 10, 0)
    clock.set(at(2026, 11, 26, 16, 0))
    accepted = act(client, users["water"][1], t["id"], action="accept").get_json()
    assert accepted["steps"][0]["working_days"] == 0.71  # 5 of 7 hours
    assert accepted["steps"][1]["started_at"] == iso(2026, 11, 26, 16, 0)
    assert accepted["steps"][1]["due_at"] == iso(2026, 11, 27, 11, 30)
    assert accepted["light"]["step"] == "on_time"


def test_external_works_one_day_a_step_two_in_all(water_case):
    t = only_ticket(water_case(at(2026, 11, 26, 10, 0), external_works=True, pipeline_length_m=80))
    assert t["steps"][0]["due_at"] == iso(2026, 11, 27, 10, 0)
    assert t["due_at"] == iso(2026, 11, 30, 10, 0)  # over the weekend


def test_approval_system_case_is_one_step(client, users, clock):
    clock.set(at(2026, 11, 26, 10, 0))
    body = application_body(services=["gas"], materials=None)
    body["project"].update({"approval_system_code": "P-1", "external_works": False})
    res = client.post(
        "/api/v1/integrations/approval-system/projects", json=body, headers=users["integration"][1]
    )
    t = only_ticket(res.get_json())
    assert [s["name"] for s in t["steps"]] == ["connect"]
    indicators = res.get_json()["indicators"]
    assert (indicators["steps"], indicators["applicant_trips"], indicators["materials_asked"]) == (
        1,
        0,
        0,
    )


def test_suspension_stops_the_clock_and_resume_pushes_the_due_times_out(
    client, users, clock, water_case
):
    t = only_ticket(water_case(at(2026, 11, 26, 9, 0)))
    h = users["water"][1]
    clock.set(at(2026, 11, 26, 10, 0))
    act(client, h, t["id"], action="accept")  # step 2 due 14:30
    clock.set(at(2026, 11, 26, 11, 0))
    act(client, h, t["id"], action="suspend", reason_code="applicant_waiting", reason="确认表位")
    clock.set(at(2026, 11, 30, 11, 0))  # days later: the clock stood still
    overdue = client.get("/api/v1/providers/zz-water/tickets?overdue=true", headers=h).get_json()
    assert overdue["total"] == 0
    resumed = act(client, h, t["id"], action="resume").get_json()
    # lost: 26th 11-12 + 13-17 (5 h), 27th (7 h), 30th 9-11 (2 h) = 14 h = two working days
    # 2.5 h were left at the suspension: 11:00-12:00 and 13:00-14:30 after the resume
    assert resumed["steps"][1]["due_at"] == iso(2026, 11, 30, 14, 30)
    assert resumed["due_at"] == iso(2026, 11, 30, 17, 0)  # 7 h + 14 h from 26th 09:00
    assert resumed["status"] == "accepted"
    events = client.get(f"/api/v1/cases/{resumed['case']}", headers=h).get_json()["events"]
    assert events[-1]["detail"]["working_seconds_lost"] == 14 * 3600


def test_overdue_light_and_filter(client, users, clock, water_case):
    t = only_ticket(water_case(at(2026, 11, 26, 9, 0)))
    h = users["water"][1]
    clock.set(at(2026, 11, 26, 11, 40))  # 2h40 of 3h30 used: 76 %
    page = client.get("/api/v1/providers/zz-water/tickets", headers=h).get_json()
    assert page["items"][0]["light"]["step"] == "at_risk"
    clock.set(at(2026, 11, 26, 13, 31))
    page = client.get("/api/v1/providers/zz-water/tickets?overdue=true", headers=h).get_json()
    assert page["total"] == 1 and page["items"][0]["light"]["overall"] == "overdue"
    assert page["items"][0]["id"] == t["id"]


def test_sla_job_marks_and_notifies_once_per_worsening(client, db, users, clock, water_case):
    from jointdesk.sla import check_sla

    t = only_ticket(water_case(at(2026, 11, 26, 9, 0)))
    act(client, users["water"][1], t["id"], action="assign", representative="water2")
    counts = check_sla(at(2026, 11, 26, 10, 0))
    assert counts["notified"] == 0
    counts = check_sla(at(2026, 11, 26, 11, 45))
    assert counts["at_risk"] == 1 and counts["notified"] == 2  # representative + supervisor
    assert check_sla(at(2026, 11, 26, 11, 50))["notified"] == 0  # no news, no message
    counts = check_sla(at(2026, 11, 26, 14, 0))
    assert counts["overdue"] == 1 and counts["notified"] == 2
    rows = db.session.execute(db.select(Notification).order_by(Notification.id)).scalars().all()
    assert [r.kind for r in rows] == ["sla_at_risk", "sla_at_risk", "sla_overdue", "sla_overdue"]
    assert {r.user_id for r in rows} == {users["water2"][0].id, users["supervisor"][0].id}
    assert t["case"] in rows[-1].message and "13800000000" not in rows[-1].message
    assert db.session.get(Ticket, t["id"]).sla_state == "overdue"


def test_permits_run_in_parallel_and_connection_waits_for_them(client, users, clock, water_case):
    case = water_case(
        at(2026, 11, 26, 9, 0), external_works=True, pipeline_length_m=151, excavates_road=True
    )
    t = only_ticket(case)
    assert {p["kind"]: p["status"] for p in t["permits"]} == {
        "planning": "required",
        "road_excavation": "required",
    }
    h = users["water"][1]
    act(client, h, t["id"], action="accept")
    assert (
        act(client, h, t["id"], action="connect").get_json()["error"]["code"] == "permits_pending"
    )
    clock.set(at(2026, 11, 26, 10, 0))
    body = act(client, h, t["id"], action="permit_file", permit="planning").get_json()
    planning = next(p for p in body["permits"] if p["kind"] == "planning")
    assert planning["status"] == "filed" and planning["due_at"] == iso(2026, 12, 1, 10, 0)
    act(client, h, t["id"], action="permit_file", permit="road_excavation")
    assert act(client, h, t["id"], action="permit_file", permit="planning").status_code == 409
    assert act(client, h, t["id"], action="permit_file", permit="green_space").status_code == 422
    clock.set(at(2026, 11, 27, 9, 0))  # 7 working hours into the one-day connect step
    act(client, h, t["id"], action="permit_grant", permit="planning")
    act(client, h, t["id"], action="permit_grant", permit="road_excavation")
    done = act(client, h, t["id"], action="connect")
    assert done.status_code == 200 and done.get_json()["status"] == "connected"
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=h).get_json()
    ind = view["indicators"]["tickets"][0]
    assert ind["permits_needed"] == 2 and ind["permit_working_days"] == round(6 / 7, 2)
    assert ind["within_limit"] is True


def test_low_risk_short_pipeline_pushed_is_four_zero(client, users, clock):
    clock.set(at(2026, 11, 26, 10, 0))
    body = application_body(services=["water", "gas"], materials=None)
    body["project"].update(
        {
            "approval_system_code": "P-2",
            "low_risk": True,
            "external_works": True,
            "pipeline_length_m": 150,
            "supporting_fee_paid": True,
        }
    )
    res = client.post(
        "/api/v1/integrations/approval-system/projects", json=body, headers=users["integration"][1]
    ).get_json()
    assert res["indicators"]["four_zero"] == {
        "zero_materials": True,
        "zero_trips": True,
        "zero_approvals": True,
        "zero_investment": True,
        "all": True,
    }
    cost = res["indicators"]["cost_to_applicant"]
    assert cost["known_amount"] == 0 and cost["all_known"] is True
    assert cost["connection_fee"]["basis"] == "supporting_fee_paid"
    t = res["tickets"][0]
    assert t["fee"]["outside_boundary_investment"]["amount"] == 0
    assert {p["kind"]: p["status"] for p in t["permits"]}["commitment_filing"] == "filed"
    public = client.get(f"/api/v1/public/cases/{res['reference']}?code={res['query_code']}")
    assert public.get_json()["four_zero"]["all"] is True


def test_missing_material_is_a_todo_handed_over_at_the_site(client, users, clock, water_case):
    clock.set(at(2026, 11, 26, 10, 0))
    body = application_body(
        services=["water"],
        materials=[{"kind": "application_form", "provided": False, "note": "现场踏勘时提交"}],
    )
    body["project"].update({"external_works": False, "pipeline_length_m": None})
    case = client.post("/api/v1/cases", json=body, headers=users["clerk"][1]).get_json()
    from jointdesk.routing.outbox import deliver

    deliver(1)
    tid = case["tickets"][0]["id"]
    h = users["water"][1]
    res = act(client, h, tid, action="material_received", material="application_form")
    assert res.status_code == 200
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=h).get_json()
    assert view["materials"][0]["handed_over_at"]
    assert (
        act(client, h, tid, action="material_received", material="application_form").status_code
        == 422
    )


def test_a_2027_due_time_is_provisional_until_an_admin_enters_the_schedule(
    app, client, db, users, clock, water_case
):
    from jointdesk.workingtime import confirm_year, set_override

    t = only_ticket(water_case(at(2026, 12, 31, 16, 0)))
    assert t["due_provisional"] is True
    assert t["due_at"] == iso(2027, 1, 4, 16, 0)  # 1 Jan (元旦, statutory) off, 2-3 Jan weekend
    admin = users["admin"][0]
    with app.test_request_context():
        set_override(datetime(2027, 1, 4).date(), False, "元旦调休", admin)  # say the notice
        confirm_year(2027, admin)
    ticket = db.session.get(Ticket, t["id"])
    db.session.refresh(ticket)
    assert ticket.due_provisional is False
    assert ticket.due_at == at(2027, 1, 5, 16, 0)  # 1 Jan and 4 Jan off, 2-3 Jan weekend


def test_admin_dashboard_warns_about_next_year_and_calendar_page_edits(app, db, users, clock):
    import re

    app.config["WTF_CSRF_ENABLED"] = True
    ui = app.test_client()
    page = ui.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ui.post(
        "/login",
        data={"username": "admin1", "password": "correct-horse-battery", "csrf_token": token},
    )
    dash = ui.get("/admin/").get_data(as_text=True)
    assert "2027" in dash
    cal = ui.get("/admin/calendar?year=2027").get_data(as_text=True)
    token = re.search(r'name="o-csrf_token" type="hidden" value="([^"]+)"', cal) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', cal
    )
    res = ui.post(
        "/admin/calendar?year=2027",
        data={
            "what": "override",
            "o-csrf_token": token.group(1),
            "o-day": "2027-02-06",
            "o-working": "off",
            "o-note": "春节",
        },
    )
    assert res.status_code == 302
    assert "春节" in ui.get("/admin/calendar?year=2027").get_data(as_text=True)
    bad = ui.post(
        "/admin/calendar?year=2027",
        data={"what": "hours", "h-csrf_token": token.group(1), "h-hours": "9-5"},
    )
    assert bad.status_code == 200 and 'class="errors"' in bad.get_data(as_text=True)


def test_calendar_due_command_matches_the_table(app):
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jointdesk.cli",
            "calendar",
            "due",
            "--start",
            "2026-09-30T10:00:00+08:00",
            "--days",
            "2",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2026-10-09T10:00:00+08:00"


def test_low_risk_short_pipeline_connects_without_touching_the_filing(
    client, users, clock, water_case
):
    t = only_ticket(
        water_case(
            at(2026, 11, 26, 9, 0), external_works=True, pipeline_length_m=100, low_risk=True
        )
    )
    h = users["water"][1]
    act(client, h, t["id"], action="accept")
    assert (
        act(client, h, t["id"], action="permit_grant", permit="commitment_filing").status_code
        == 409
    )
    assert act(client, h, t["id"], action="connect").status_code == 200


def test_a_returned_ticket_stops_counting_time(client, users, clock, water_case):
    case = water_case(at(2026, 11, 26, 9, 0))
    t = only_ticket(case)
    clock.set(at(2026, 11, 26, 11, 0))
    act(client, users["water"][1], t["id"], action="return", reason="非供水区域")
    clock.set(at(2026, 12, 10, 11, 0))
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=users["clerk"][1]).get_json()
    ind = view["indicators"]["tickets"][0]
    assert ind["working_days_per_step"][0] == round(2 / 7, 2) and ind["within_limit"] is None
    assert view["tickets"][0]["light"]["overall"] == "on_time"


def test_connected_late_by_working_time_is_not_within_the_limit(client, users, clock, water_case):
    case = water_case(at(2026, 11, 26, 9, 0))
    t = only_ticket(case)
    h = users["water"][1]
    clock.set(at(2026, 11, 26, 14, 0))  # step one took 4 h of its 3.5 h
    act(client, h, t["id"], action="accept")
    clock.set(at(2026, 11, 26, 15, 0))
    res = act(client, h, t["id"], action="connect").get_json()
    assert res["light"]["overall"] == "overdue"
    view = client.get(f"/api/v1/cases/{case['reference']}", headers=h).get_json()
    assert view["indicators"]["tickets"][0]["within_limit"] is False


def test_background_marks_never_make_a_staff_form_stale(client, db, users, clock, water_case):
    from jointdesk.sla import check_sla

    t = only_ticket(water_case(at(2026, 11, 26, 9, 0)))
    h = users["water"][1]
    version = client.get(f"/api/v1/cases/{t['case']}", headers=h).get_json()["tickets"][0][
        "version"
    ]
    assert check_sla(at(2026, 11, 26, 14, 0))["overdue"] == 1
    assert act(client, h, t["id"], action="accept", version=version).status_code == 200


def test_a_ticket_stuck_in_dispatch_is_reported_to_supervisors(client, db, users, clock):
    from jointdesk.sla import check_sla

    clock.set(at(2026, 11, 26, 9, 0))
    body = application_body(services=["heat"])
    body["project"].update({"external_works": False, "pipeline_length_m": None})
    client.post("/api/v1/cases", json=body, headers=users["clerk"][1])  # never delivered
    counts = check_sla(at(2026, 11, 27, 9, 30))
    assert counts["overdue"] == 1 and counts["notified"] == 1  # the supervisor


def test_one_override_does_not_hide_the_missing_2027_schedule(app, db, users):
    from jointdesk.workingtime import set_override, uncovered_years

    with app.test_request_context():
        assert 2027 in uncovered_years(datetime(2026, 11, 26).date())
        set_override(datetime(2027, 1, 1).date(), False, "元旦", users["admin"][0])
        assert 2027 in uncovered_years(datetime(2026, 11, 26).date())


def test_time_lost_across_a_provisional_new_year_is_measured_again_once_it_is_known(
    app, client, db, users, clock, water_case
):
    from jointdesk.workingtime import confirm_year, set_override

    t = only_ticket(water_case(at(2026, 12, 30, 9, 0)))
    h = users["water"][1]
    act(client, h, t["id"], action="accept")  # suspension only after acceptance
    clock.set(at(2026, 12, 30, 10, 0))
    act(client, h, t["id"], action="suspend", reason_code="applicant_construction")
    clock.set(at(2027, 1, 5, 10, 0))
    guessed = act(client, h, t["id"], action="resume").get_json()
    # lost with 4 Jan 2027 guessed a working day: 30th 6h + 31st 7h + 4th 7h + 5th 1h
    assert guessed["due_provisional"] is True
    admin = users["admin"][0]
    with app.test_request_context():
        set_override(datetime(2027, 1, 4).date(), False, "元旦调休", admin)  # say the notice
        confirm_year(2027, admin)
    known = client.get(f"/api/v1/cases/{t['case']}", headers=h).get_json()["tickets"][0]
    assert known["due_provisional"] is False
    # a day off inside the suspension is neither lost time nor time to work: the due time is
    # the same, and right (with the lost time frozen at its guess it would be a day late)
    from jointdesk.policy.clock import WorkingCalendar

    cal = WorkingCalendar.from_settings(
        "Asia/Shanghai", "09:00-12:00,13:00-17:00", {datetime(2027, 1, 4).date(): False}, {2027}
    )
    lost = cal.working_seconds(at(2026, 12, 30, 10, 0), at(2027, 1, 5, 10, 0))
    assert lost == (6 + 7 + 1) * 3600
    expected = cal.add_seconds(at(2026, 12, 30, 9, 0), 7 * 3600 + lost)
    assert datetime.fromisoformat(known["due_at"]) == expected
    assert known["due_at"] == guessed["due_at"]
