"""The approval system's projects: a representative at once, the first contact recorded and
visible, and the query access (开放查询权限) by project code and by creation date."""

from __future__ import annotations

import pytest
from conftest import act, application_body, at, valid_person_id

from jointdesk.integrations import approval_system
from jointdesk.models import Notification, Provider

URL = "/api/v1/integrations/approval-system/projects"


def push(client, users, code, services=("water", "electricity", "gas", "heat"), **overrides):
    body = application_body(services=list(services), materials=None, **overrides)
    body["project"]["approval_system_code"] = code
    res = client.post(URL, json=body, headers=users["integration"][1])
    assert res.status_code == 201, res.get_json()
    return res.get_json()


STAFF = {"water": "water", "electricity": "power", "gas": "gas", "heat": "heat"}


def test_a_pushed_project_is_carried_at_once_and_the_approval_system_follows_it(
    client, users, deliver_all, db
):
    case = push(client, users, "GJ-2026-0001")
    deliver_all()
    res = client.get(f"{URL}/GJ-2026-0001", headers=users["integration"][1])
    assert res.status_code == 200, res.get_json()
    project = res.get_json()
    assert project["reference"] == case["reference"] and project["pushed"] is True
    assert project["status"] == "received" and project["completed_at"] is None
    assert project["applicant"]["id_number"] != valid_person_id()
    assert "*" in project["applicant"]["id_number"] and "*" in project["applicant"]["phone"]
    phones = dict(db.session.execute(db.select(Provider.code, Provider.phone)).all())
    assert {s["service"] for s in project["services"]} == set(STAFF)
    for service in project["services"]:
        # 客户代表全程负责: every ticket has its representative the moment it reaches the provider
        assert service["representative"] == {
            "name": users[STAFF[service["service"]]][0].label,
            "phone": phones[service["provider"]],
        }
        assert service["status"] == "queued" and service["first_contact_at"] is None
        assert [s["name"] for s in service["steps"]] == ["connect"]
        assert service["steps"][0]["due_at"] and service["steps"][0]["completed_at"] is None
    # ... and is told at once that the applicant waits for the first contact
    notes = db.session.scalars(db.select(Notification).order_by(Notification.id)).all()
    assert len(notes) == 4 and {n.kind for n in notes} == {"first_contact_due"}
    assert all(case["reference"] in n.message and "首次对接" in n.message for n in notes)

    tickets = {t["service"]: t["id"] for t in case["tickets"]}
    for service, ticket in tickets.items():
        staff = users[STAFF[service]][1]
        assert act(client, staff, ticket, action="connect").status_code == 409  # no contact yet
        res = act(client, staff, ticket, action="contact", note="电话联系，约定明日踏勘")
        assert res.status_code == 200, res.get_json()
        if service == "water":
            seen = client.get(f"{URL}/GJ-2026-0001", headers=users["integration"][1]).get_json()
            water = next(s for s in seen["services"] if s["service"] == "water")
            assert water["first_contact_at"] is not None and water["contacts"] == 1
            assert seen["status"] == "received"
        assert act(client, staff, ticket, action="connect").status_code == 200
    project = client.get(f"{URL}/GJ-2026-0001", headers=users["supervisor"][1]).get_json()
    assert project["status"] == "completed"
    ends = [s["completed_at"] for s in project["services"]]
    assert all(ends) and project["completed_at"] == max(ends)
    assert all(s["steps"][0]["completed_at"] for s in project["services"])


def test_only_projects_and_only_the_right_roles(client, users, submit, deliver_all):
    submit()  # a window case without a project code: never a project
    window = submit(project={**application_body()["project"], "approval_system_code": "GJ-W"})
    pushed = push(client, users, "GJ-P", services=["water"])
    push_code_too = submit(
        project={**application_body()["project"], "approval_system_code": "GJ-P"}
    )
    deliver_all()
    h = users["integration"][1]
    assert client.get(f"{URL}/GJ-NONE", headers=h).status_code == 404
    assert client.get(f"{URL}/{window['reference']}", headers=h).status_code == 404
    res = client.get(f"{URL}/GJ-W", headers=h).get_json()
    assert (res["reference"], res["pushed"], res["channel"]) == (
        window["reference"],
        False,
        "window",
    )
    # the pushed case first, though a newer window case carries the same code
    assert push_code_too["reference"] != pushed["reference"]
    assert client.get(f"{URL}/GJ-P", headers=h).get_json()["reference"] == pushed["reference"]
    for role, status in (
        ("clerk", 403),
        ("water", 403),
        ("supervisor", 200),
        ("admin", 200),
        ("integration", 200),
    ):
        assert client.get(f"{URL}/GJ-P", headers=users[role][1]).status_code == status, role
        listing = client.get(f"{URL}?from=2026-01-01&to=2026-03-01", headers=users[role][1])
        assert listing.status_code == status, role
    assert client.get(f"{URL}/GJ-P").status_code == 401
    assert client.get(f"{URL}?from=2026-01-01&to=2026-01-02").status_code == 401


def test_projects_by_creation_date_in_keyset_pages_of_fixed_cost(
    client, users, submit, deliver_all, clock, statements, monkeypatch
):
    made = {}
    for code, moment in (
        ("GJ-before", at(2026, 11, 24, 23, 59)),
        ("GJ-first", at(2026, 11, 25, 0, 0)),  # 2026-11-24 16:00 UTC: still the 25th here
        ("GJ-noon", at(2026, 11, 25, 12, 0)),
        ("GJ-late", at(2026, 11, 26, 23, 59)),
        ("GJ-after", at(2026, 11, 27, 0, 0)),
    ):
        clock.set(moment)
        made[code] = push(client, users, code, services=["water"])["reference"]
    clock.set(at(2026, 11, 25, 15, 0))
    window = submit(project={**application_body()["project"], "approval_system_code": "GJ-win"})
    submit()  # no code: not listed
    deliver_all()
    h = users["integration"][1]
    monkeypatch.setattr(approval_system, "PAGE_SIZE", 2)

    def page(url):
        res = client.get(url, headers=h)
        assert res.status_code == 200, res.get_json()
        return res.get_json()

    first = page(f"{URL}?from=2026-11-25&to=2026-11-26")
    assert [p["project_code"] for p in first["items"]] == ["GJ-first", "GJ-noon"]
    second = page(f"{URL}?from=2026-11-25&to=2026-11-26&after={first['next']}")
    assert [p["project_code"] for p in second["items"]] == ["GJ-win", "GJ-late"]
    assert second["items"][0]["reference"] == window["reference"]
    assert second["next"] is None  # the last page
    one_day = page(f"{URL}?from=2026-11-27&to=2026-11-27")
    assert [p["reference"] for p in one_day["items"]] == [made["GJ-after"]]
    assert one_day["next"] is None

    # a fixed number of statements per page, whatever it holds
    full = statements(lambda: page(f"{URL}?from=2026-11-25&to=2026-11-26"))
    short = statements(lambda: page(f"{URL}?from=2026-11-27&to=2026-11-27"))
    empty = statements(lambda: page(f"{URL}?from=2020-01-01&to=2020-01-02"))
    assert len(full) == len(short) <= 4
    assert len(empty) <= len(full)
    single = statements(lambda: page(f"{URL}/GJ-noon"))
    assert len(single) <= 4


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from", "to"}),
        ("?from=2026-11-01", {"to"}),
        ("?from=2026-11-01&to=", {"to"}),
        ("?from=2026-02-30&to=2026-03-01", {"from"}),
        ("?from=2026/11/01&to=2026-11-٠٢", {"from", "to"}),
        ("?from=2026-11-02&to=2026-11-01", {"to"}),
        ("?from=2026-01-01&to=2026-04-03", {"to"}),  # 93 days: 92 is the most
        ("?from=2026-01-01&to=2026-01-02&after=nope", {"after"}),
    ],
)
def test_bad_dates_are_422_field_by_field(client, users, query, fields):
    res = client.get(f"{URL}{query}", headers=users["integration"][1])
    assert res.status_code == 422
    error = res.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == fields
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in error["fields"].values())


def test_the_longest_range_and_english(client, users):
    h = users["integration"][1]
    assert client.get(f"{URL}?from=2026-01-01&to=2026-04-02", headers=h).status_code == 200
    assert client.get(f"{URL}?from=0001-01-01&to=0001-01-02", headers=h).status_code == 200
    assert client.get(f"{URL}?from=9999-12-30&to=9999-12-31", headers=h).status_code == 200
    res = client.get(f"{URL}?from=2026-11-02&to=2026-11-01", headers={**h, "Accept-Language": "en"})
    assert res.get_json()["error"]["fields"] == {"to": "Must not be before from."}
