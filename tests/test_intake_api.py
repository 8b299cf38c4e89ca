"""POST /api/v1/cases: one transaction for case, tickets and outbox; bad input writes nothing."""

import pytest
from conftest import application_body, valid_person_id

from jointdesk.models import Case, Event, OutboxMessage, Ticket


def counts(db):
    return tuple(
        db.session.execute(db.select(db.func.count()).select_from(m)).scalar_one()
        for m in (Case, Ticket, OutboxMessage, Event)
    )


def test_four_services_make_four_routed_tickets_and_four_outbox_rows(client, db, users):
    res = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
    assert res.status_code == 201
    body = res.get_json()
    assert body["reference"].startswith("ZZ") and len(body["query_code"]) == 8
    assert res.headers["Location"] == f"/api/v1/cases/{body['reference']}"
    assert body["status"] == "received"
    assert sorted(t["service"] for t in body["tickets"]) == ["electricity", "gas", "heat", "water"]
    assert {t["provider"] for t in body["tickets"]} == {"zz-water", "zz-power", "zz-gas", "zz-heat"}
    for t in body["tickets"]:
        assert t["status"] in ("dispatching", "queued")
        assert [s["name"] for s in t["steps"]] == ["accept", "connect"]
        assert t["steps"][0]["due_at"] and t["steps"][1]["due_at"] is None
        assert t["due_at"].endswith("+08:00")
    assert (
        body["applicant"]["id_number"] == valid_person_id()[:4] + "*" * 10 + valid_person_id()[-4:]
    )
    rows = db.session.execute(db.select(OutboxMessage)).scalars().all()
    assert sorted(r.queue for r in rows) == [
        "provider.zz-gas",
        "provider.zz-heat",
        "provider.zz-power",
        "provider.zz-water",
    ]


def test_duplicate_services_are_one_ticket(client, db, users):
    res = client.post(
        "/api/v1/cases", json=application_body(services=["gas", "gas"]), headers=users["clerk"][1]
    )
    assert res.status_code == 201
    assert [t["service"] for t in res.get_json()["tickets"]] == ["gas"]


def test_enterprise_with_valid_credit_code(client, users):
    body = application_body()
    body["applicant"] = {
        "kind": "enterprise",
        "name": "郑州某某科技有限公司",
        "id_number": "91350100M000100Y43",
        "phone": "13912345678",
    }
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 201


def _bad(**changes):
    body = application_body()
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return body


@pytest.mark.parametrize(
    "body,field",
    [
        (_bad(services=[]), "services"),
        (_bad(services=["internet"]), "services"),
        (_bad(services="water"), "services"),
        (_bad(applicant__id_number="410105199001011234"), "applicant.id_number"),
        (_bad(applicant__kind="enterprise"), "applicant.id_number"),
        (_bad(applicant__phone="12345"), "applicant.phone"),
        (_bad(applicant__phone=13800000000), "applicant.phone"),
        (_bad(applicant__name=""), "applicant.name"),
        (_bad(applicant__name="张" * 101), "applicant.name"),
        (_bad(applicant__kind="robot"), "applicant.kind"),
        (_bad(address__district="火星区"), "address.district"),
        (_bad(address__detail=None), "address.detail"),
        (_bad(address__detail="路" * 201), "address.detail"),
        (_bad(project__pipeline_length_m="long"), "project.pipeline_length_m"),
        (_bad(project__pipeline_length_m=-1), "project.pipeline_length_m"),
        (_bad(project__low_risk="yes"), "project.low_risk"),
        (_bad(project__approval_system_code="x" * 65), "project.approval_system_code"),
        (_bad(materials=[]), "materials"),
        (_bad(materials=[{"kind": "application_form", "provided": False}]), "materials.0.note"),
        (_bad(materials=[{"kind": "deed"}]), "materials.0.kind"),
        (_bad(channel="fax"), "channel"),
        (_bad(channel="approval_system"), "channel"),
        (_bad(applicant="张三"), "applicant"),
    ],
)
def test_bad_input_gets_422_with_the_field_and_writes_nothing(client, db, users, body, field):
    before = counts(db)
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 422, res.get_json()
    error = res.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert counts(db) == before


def test_messages_are_chinese_by_default_and_english_on_request(client, users):
    body = _bad(applicant__phone="12345")
    zh = client.post("/api/v1/cases", json=body, headers=users["clerk"][1]).get_json()
    en = client.post(
        "/api/v1/cases", json=body, headers={**users["clerk"][1], "Accept-Language": "en"}
    ).get_json()
    assert "手机" in zh["error"]["fields"]["applicant.phone"]
    assert "mobile" in en["error"]["fields"]["applicant.phone"]


@pytest.mark.parametrize(
    "data,content_type",
    [
        (b"", "application/json"),
        (b"not json", "application/json"),
        (b"[1,2]", "application/json"),
        (b"services=water", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_empty_or_non_json_bodies_get_400(client, db, users, data, content_type):
    before = counts(db)
    res = client.post(
        "/api/v1/cases", data=data, content_type=content_type, headers=users["clerk"][1]
    )
    assert res.status_code == 400
    assert res.get_json()["error"]["message"]
    assert counts(db) == before


def test_oversized_body_gets_413_not_500(client, users):
    body = application_body()
    body["address"]["detail"] = "路" * 300_000
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 413
    assert res.get_json()["error"]["code"] == "too_large"


def test_unrouted_service_is_refused_at_intake(client, db, users):
    from jointdesk.models import District, Route

    district = db.session.execute(db.select(District).where(District.name == "登封市")).scalar_one()
    db.session.execute(
        db.delete(Route).where(Route.district_id == district.id, Route.service_code == "heat")
    )
    db.session.commit()
    before = counts(db)
    body = _bad(address__district="登封市")
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 422
    assert "登封市" in res.get_json()["error"]["fields"]["services"]
    assert counts(db) == before


def test_district_by_division_code(client, users):
    res = client.post(
        "/api/v1/cases", json=_bad(address__district="410184"), headers=users["clerk"][1]
    )
    assert res.status_code == 201
    assert res.get_json()["address"]["district"] == "新郑市"


@pytest.mark.parametrize("who", ["water", "supervisor", "admin"])
def test_only_clerks_and_integration_clients_submit(client, users, who):
    res = client.post("/api/v1/cases", json=application_body(), headers=users[who][1])
    assert res.status_code == 403


def test_no_or_bad_token_is_401(client, db):
    assert client.post("/api/v1/cases", json=application_body()).status_code == 401
    res = client.post(
        "/api/v1/cases", json=application_body(), headers={"Authorization": "Bearer nope"}
    )
    assert res.status_code == 401
    assert res.headers["WWW-Authenticate"] == "Bearer"


def test_approval_system_push_is_one_step_with_no_materials(client, users):
    body = application_body(materials=None)
    body["project"]["approval_system_code"] = "2026-410105-47-01-001234"
    res = client.post(
        "/api/v1/integrations/approval-system/projects", json=body, headers=users["integration"][1]
    )
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    assert data["channel"] == "approval_system" and data["materials"] == []
    assert all([s["name"] for s in t["steps"]] == ["connect"] for t in data["tickets"])


def test_approval_system_push_needs_the_project_code(client, users):
    res = client.post(
        "/api/v1/integrations/approval-system/projects",
        json=application_body(materials=None),
        headers=users["integration"][1],
    )
    assert res.status_code == 422
    assert "project.approval_system_code" in res.get_json()["error"]["fields"]


def test_missing_material_is_accepted_with_a_note(client, users):
    res = client.post(
        "/api/v1/cases",
        json=application_body(
            materials=[{"kind": "application_form", "provided": False, "note": "现场踏勘时提交"}]
        ),
        headers=users["clerk"][1],
    )
    assert res.status_code == 201
    assert res.get_json()["materials"] == [
        {
            "kind": "application_form",
            "provided": False,
            "note": "现场踏勘时提交",
            "handed_over_at": None,
            "waived_at": None,
            "waived_by": None,
            "waive_reason": None,
        }
    ]


def test_a_retried_approval_system_push_answers_with_the_same_case(client, db, users):
    body = application_body(materials=None)
    body["project"]["approval_system_code"] = "2026-410105-47-01-009999"
    url = "/api/v1/integrations/approval-system/projects"
    first = client.post(url, json=body, headers=users["integration"][1])
    again = client.post(url, json=body, headers=users["integration"][1])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert "query_code" not in again.get_json()
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 1


def test_token_use_is_recorded_coarsely(client, db, users):
    from jointdesk.models import ApiToken, User

    clerk = db.session.execute(db.select(User).where(User.username == "clerk1")).scalar_one()
    client.get("/api/v1/cases/none", headers=users["clerk"][1])
    db.session.rollback()
    row = db.session.execute(db.select(ApiToken).where(ApiToken.user_id == clerk.id)).scalar_one()
    first = row.last_used_at
    assert first is not None
    client.get("/api/v1/cases/none", headers=users["clerk"][1])
    db.session.rollback()
    assert db.session.get(ApiToken, row.id).last_used_at == first  # no write per request
