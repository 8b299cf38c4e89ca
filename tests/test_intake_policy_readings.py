"""Issue 7, items 1, 4, 5 and 6: the channel, the customer representative and first contact,
materials against 零材料, and 容缺 closing before 验收接通. Real PostgreSQL, through the API."""

from __future__ import annotations

import pytest
from conftest import act, application_body, sign_in_web, valid_person_id

from jointdesk.models import Case, Event, Ticket, User
from jointdesk.policy.process import (
    CHANNELS,
    MATERIALS_OUTSTANDING,
    NO_FIRST_CONTACT,
    NO_REPRESENTATIVE,
    ProjectFacts,
    connect_blocker,
    four_zero,
    materials_required,
)

CASES = "/api/v1/cases"
PUSH = "/api/v1/integrations/approval-system/projects"


def _body(seq: int, *, code: str | None = None, materials=None, channel=None, **kw) -> dict:
    body = application_body(services=["water"], materials=materials, **kw)
    body["applicant"]["id_number"] = valid_person_id(seq)
    body["address"]["detail"] = f"花园路 {seq} 号"
    body["project"] = {"approval_system_code": code, "external_works": False}
    if channel is not None:
        body["channel"] = channel
    return body


FORM = [{"kind": "application_form", "provided": True}]
MISSING = [{"kind": "application_form", "provided": False, "note": "现场踏勘时提交"}]


# --- item 1: the channel follows from the route and the caller -------------------------------


@pytest.mark.parametrize(
    "route,who,sent,status,channel,trips,materials",
    [
        (CASES, "clerk", None, 201, "window", 1, 1),
        (CASES, "clerk", "window", 201, "window", 1, 1),
        (CASES, "clerk", "online", 422, None, None, None),  # main: 201, 0 trips, 0 materials
        (CASES, "clerk", "app", 422, None, None, None),
        (CASES, "clerk", "approval_system", 422, None, None, None),
        (CASES, "integration", None, 201, "window", 1, 1),
        (CASES, "integration", "online", 422, None, None, None),
        (PUSH, "integration", None, 201, "approval_system", 0, 0),
        (PUSH, "integration", "approval_system", 201, "approval_system", 0, 0),
        (PUSH, "integration", "window", 422, None, None, None),  # main: ignored it
    ],
)
def test_the_channel_is_decided_by_route_and_caller(
    client, db, users, route, who, sent, status, channel, trips, materials
):
    """CONTRACT.md: "the server decides it from the route and the caller (a clerk: window; the
    approval-system push: approval_system ...); a channel in the body that disagrees is refused
    with 422". Any client posting to /api/v1/cases submits for the window (the online page and
    the app have no route yet), so a clerk or integration client there is the window.

    Then the facts follow from the true channel, by the policy's words:
    - window: "将报装申请材料简化为申请表1份材料" → 1 material; the applicant came → 1 trip;
    - pushed: "纳入工程建设项目审批管理系统的，无需用户单独提出申请…实现用户'零跑腿'" → 0 trips,
      "报装材料减少到零" → 0 materials.
    A refused body writes nothing."""
    pushed = route == PUSH
    body = _body(1, code="2026-410105-47-01-000001" if pushed else None, channel=sent)
    body["materials"] = None if pushed else FORM
    res = client.post(route, json=body, headers=users[who][1])
    assert res.status_code == status, res.get_json()
    if status == 422:
        assert "channel" in res.get_json()["error"]["fields"]
        assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 0
        return
    data = res.get_json()
    assert data["channel"] == channel
    assert data["indicators"]["applicant_trips"] == trips
    assert data["indicators"]["materials_asked"] == materials
    stored = db.session.execute(db.select(Case.channel)).scalar_one()
    assert stored == channel


def test_the_window_form_refuses_a_channel_in_the_schema_too(client):
    """The served document says the same as the server: on /cases only window, on the push
    only approval_system (so the fuzz run may send nothing else and expect success)."""
    doc = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert doc["Application"]["properties"]["channel"]["enum"] == ["window"]
    assert doc["ApprovalSystemProject"]["properties"]["channel"]["enum"] == ["approval_system"]


# --- item 5: one set of facts, one answer for materials and 零材料 -----------------------------


@pytest.mark.parametrize(
    "route,code,materials,asked,zero",
    [
        (CASES, None, FORM, 1, False),  # "申请表1份材料"
        (CASES, "2026-410105-47-01-000005", None, 0, True),  # main: asked 0 but zero false
        (PUSH, "2026-410105-47-01-000006", None, 0, True),
    ],
)
def test_materials_asked_and_zero_materials_agree_everywhere(
    client, users, route, code, materials, asked, zero
):
    """ "纳入工程建设项目审批管理系统和线上申请的，报装材料减少到零": a project in the approval
    system asks for no material, whether the approval system pushed it or the applicant came to
    the window with its code ("将城市工程建设项目审批管理系统向专营企业开放查询权限，实施数据
    共享"). 零材料 is exactly "无需提交申请材料", so zero_materials ⇔ materials_asked = 0:
    window without code: 1 and false; window with code: 0 and true; pushed: 0 and true.
    The case API, its indicators and the public page give the same answer."""
    who = "integration" if route == PUSH else "clerk"
    res = client.post(route, json=_body(5, code=code, materials=materials), headers=users[who][1])
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    ind = data["indicators"]
    assert (ind["materials_asked"], ind["four_zero"]["zero_materials"]) == (asked, zero)
    again = client.get(f"{CASES}/{data['reference']}", headers=users["clerk"][1]).get_json()
    assert again["indicators"]["four_zero"]["zero_materials"] is zero
    public = client.get(
        f"/api/v1/public/cases/{data['reference']}", query_string={"code": data["query_code"]}
    ).get_json()
    assert public["four_zero"]["zero_materials"] is zero


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("code", [None, "2026-410105-47-01-000007"])
def test_zero_materials_is_the_same_rule_as_materials_required(channel, code):
    facts = ProjectFacts(channel=channel, approval_system_code=code)
    zero = four_zero(facts, ["water"]).zero_materials
    assert zero == (len(materials_required(channel, code)) == 0)


# --- item 4: a representative from the first moment, and the first contact -------------------


@pytest.mark.parametrize(
    "steps,rep,contact,outstanding,expected",
    [
        (("accept", "connect"), False, False, [], NO_REPRESENTATIVE),
        (("connect",), False, True, [], NO_REPRESENTATIVE),
        (("connect",), True, False, [], NO_FIRST_CONTACT),
        (("connect",), True, True, [], None),
        (("accept", "connect"), True, False, [], None),  # the accept step is the contact
        (("accept", "connect"), True, False, ["application_form"], MATERIALS_OUTSTANDING),
        (("connect",), True, True, ["application_form"], MATERIALS_OUTSTANDING),
    ],
)
def test_what_stops_connecting(steps, rep, contact, outstanding, expected):
    """ "安排客户代表全程负责": no connection without a representative; "纳入工程建设项目审批管理
    系统的，无需用户单独提出申请，由…企业主动对接服务，报装环节简化为验收接通1个": the one-step
    process needs the provider's first contact; "容缺受理，在现场踏勘时提交": a missing material
    is handed over (or waived) before 验收接通."""
    assert (
        connect_blocker(
            steps=steps,
            has_representative=rep,
            first_contact_made=contact,
            materials_outstanding=outstanding,
        )
        == expected
    )


def _push(client, users, seq: int) -> dict:
    res = client.post(
        PUSH,
        json=_body(seq, code=f"2026-410105-47-01-{seq:06d}"),
        headers=users["integration"][1],
    )
    assert res.status_code == 201, res.get_json()
    return res.get_json()


@pytest.mark.parametrize(
    "default,expected",
    [
        (None, ["water1", "water2", "water1"]),  # fewest open tickets, then the older account
        ("water2", ["water2", "water2", "water2"]),  # the provider's designated default
    ],
)
def test_a_pushed_ticket_has_its_representative_on_arrival(
    client, db, users, deliver_all, default, expected
):
    """A pushed project reached the provider with representative null and was connected so.
    "安排客户代表全程负责主动服务": on delivery the ticket gets the provider's default
    representative if one is designated, else the active staff member with the fewest open
    tickets (water1 and water2 start even: water1, the older account; then water2 has fewer;
    then even again: water1)."""
    from jointdesk.desk.services import set_default_representative

    if default:
        set_default_representative(users[default][0], users["admin"][0])
        db.session.commit()
    got = []
    for seq in (41, 42, 43):
        case = _push(client, users, seq)
        assert case["tickets"][0]["representative"] is None  # not yet with the provider
        deliver_all()
        ticket = db.session.get(Ticket, case["tickets"][0]["id"])
        db.session.refresh(ticket)
        got.append(ticket.representative.username)
    assert got == expected
    dispatched = db.session.execute(
        db.select(Event.detail).where(Event.action == "dispatched").order_by(Event.id)
    ).scalars()
    assert [d["representative"] for d in dispatched] == expected


def test_a_pushed_ticket_connects_only_after_the_first_contact(client, db, users, deliver_all):
    """ "由…企业主动对接服务": the provider contacts the applicant first. Connecting before any
    contact is recorded is a 409 in Chinese; a contact needs a note (422 without), is timed,
    counted, audited and shown; then the ticket connects with its representative."""
    case = _push(client, users, 44)
    deliver_all()
    tid = case["tickets"][0]["id"]
    staff = users["water"][1]
    sign_in_web(client, users["water"][0])
    desk = client.get(f"/desk/tickets/{tid}").get_data(as_text=True)
    assert "登记与申请人对接" in desk and 'name="note"' in desk
    res = act(client, staff, tid, action="connect")
    assert res.status_code == 409
    assert res.get_json()["error"]["code"] == "no_first_contact"
    assert "首次对接" in res.get_json()["error"]["message"]
    res = act(client, staff, tid, action="contact")
    assert res.status_code == 422 and "note" in res.get_json()["error"]["fields"]
    res = act(client, staff, tid, action="contact", note="已电话联系，约定明日现场踏勘")
    assert res.status_code == 200, res.get_json()
    t = res.get_json()
    assert t["first_contact_at"] and t["contacts"] == 1 and t["status"] == "queued"
    first = t["first_contact_at"]
    t = act(client, staff, tid, action="contact", note="现场踏勘完成").get_json()
    assert (t["first_contact_at"], t["contacts"]) == (first, 2)  # the first stays the first
    res = act(client, staff, tid, action="connect")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["representative"]["username"] == "water1"
    page = client.get(f"{CASES}/{case['reference']}", headers=users["clerk"][1]).get_json()
    contacts = [e for e in page["events"] if e["action"] == "contact"]
    notes = [e["detail"]["note"] for e in contacts]
    assert notes == ["已电话联系，约定明日现场踏勘", "现场踏勘完成"]
    assert all(e["actor"] == "water1" for e in contacts)
    sign_in_web(client, users["clerk"][0])
    html = client.get(f"/cases/{case['reference']}").get_data(as_text=True)
    for shown in ("首次对接", "对接次数: 2", "已对接申请人", "约定明日现场踏勘"):
        assert shown in html, shown


def test_the_representative_is_never_missing_on_a_connected_ticket(client, db, users, deliver_all):
    """If the provider had no active staff when the ticket arrived, whoever records the first
    contact becomes its representative; no connection is ever stored without one."""
    db.session.execute(db.update(User).where(User.provider_id.is_not(None)).values(active=False))
    db.session.commit()
    case = _push(client, users, 45)
    deliver_all()
    tid = case["tickets"][0]["id"]
    assert db.session.get(Ticket, tid).representative_id is None
    db.session.execute(db.update(User).where(User.username == "water2").values(active=True))
    db.session.commit()
    staff = users["water2"][1]
    assert act(client, staff, tid, action="contact", note="已联系").status_code == 200
    res = act(client, staff, tid, action="connect")
    assert res.status_code == 200 and res.get_json()["representative"]["username"] == "water2"
    connected_without = db.session.execute(
        db.select(db.func.count(Ticket.id)).where(
            Ticket.status == "connected", Ticket.representative_id.is_(None)
        )
    ).scalar_one()
    assert connected_without == 0


# --- item 6: 容缺 closes before the connection -------------------------------------------------


@pytest.mark.parametrize(
    "materials,steps,connect_status,code",
    [
        (FORM, [], 200, None),  # handed over at the window
        (MISSING, [], 409, "materials_outstanding"),  # main connected it
        (MISSING, [{"action": "material_received", "material": "application_form"}], 200, None),
        (
            MISSING,
            [
                {
                    "action": "material_waive",
                    "material": "application_form",
                    "reason": "经核实，工建系统已共享申请信息",
                }
            ],
            200,
            None,
        ),
    ],
)
def test_a_missing_material_is_handed_over_or_waived_before_connecting(
    client, db, users, deliver_all, materials, steps, connect_status, code
):
    """ "暂未实现共享的容缺受理，在现场踏勘时提交": the form accepted missing is handed over at
    the site survey, which comes before 验收接通. So connecting needs it handed over
    (material_received) or waived by a named person with a reason (material_waive); otherwise
    409 with a Chinese message."""
    res = client.post(CASES, json=_body(60, materials=materials), headers=users["clerk"][1])
    assert res.status_code == 201, res.get_json()
    case = res.get_json()
    deliver_all()
    tid = case["tickets"][0]["id"]
    staff = users["water"][1]
    assert act(client, staff, tid, action="accept").status_code == 200
    for step in steps:
        res = act(client, staff, tid, **step)
        assert res.status_code == 200, res.get_json()
    res = act(client, staff, tid, action="connect")
    assert res.status_code == connect_status, res.get_json()
    if code:
        assert res.get_json()["error"]["code"] == code
        assert "容缺" in res.get_json()["error"]["message"]
        assert db.session.get(Ticket, tid).status == "accepted"
    page = client.get(f"{CASES}/{case['reference']}", headers=users["clerk"][1]).get_json()
    form = page["materials"][0]
    if steps and steps[0]["action"] == "material_waive":
        assert (form["waived_by"], form["waive_reason"]) == ("water1", steps[0]["reason"])
        assert form["waived_at"] and form["handed_over_at"] is None
        waived = [e for e in page["events"] if e["action"] == "material_waive"]
        assert waived[0]["actor"] == "water1"
        assert waived[0]["detail"]["reason"] == steps[0]["reason"]
        sign_in_web(client, users["clerk"][0])
        html = client.get(f"/cases/{case['reference']}").get_data(as_text=True)
        assert "经 water1 免于提交" in html and steps[0]["reason"] in html


def test_a_waiver_needs_a_reason_and_a_material_still_missing(client, users, deliver_all):
    res = client.post(CASES, json=_body(61, materials=MISSING), headers=users["clerk"][1])
    deliver_all()
    tid = res.get_json()["tickets"][0]["id"]
    staff = users["water"][1]
    res = act(client, staff, tid, action="material_waive", material="application_form")
    assert res.status_code == 422 and "reason" in res.get_json()["error"]["fields"]
    body = {"action": "material_received", "material": "application_form"}
    assert act(client, staff, tid, **body).status_code == 200
    res = act(client, staff, tid, action="material_waive", material="application_form", reason="x")
    assert res.status_code == 422 and "material" in res.get_json()["error"]["fields"]


def test_two_providers_closing_one_missing_material_at_once_one_wins(
    client, db, users, deliver_all
):
    """The missing form belongs to the case, shared by every provider's ticket; their versions
    do not guard it. Deterministic: another provider hands it over between this one's read and
    its waiver, which is then a 409 and changes nothing."""
    from sqlalchemy import create_engine, text

    from jointdesk.desk.services import ActionRefused, perform_action
    from jointdesk.models import Material, User

    body = _body(60, materials=MISSING)
    body["services"] = ["water", "gas"]
    res = client.post(CASES, json=body, headers=users["clerk"][1])
    assert res.status_code == 201, res.get_json()
    deliver_all()
    water = next(t["id"] for t in res.get_json()["tickets"] if t["service"] == "water")
    assert act(client, users["water"][1], water, action="accept").status_code == 200
    actor_id = users["water"][0].id
    db.session.expunge_all()
    ticket = db.session.get(Ticket, water)
    assert [m.kind for m in ticket.case.materials if m.outstanding] == ["application_form"]
    other = create_engine(db.engine.url.render_as_string(hide_password=False))
    with other.begin() as conn:  # the gas provider's hand-over lands first
        conn.execute(
            text(
                "UPDATE materials SET handed_over_at = now(), handed_over_by = 'gas1' "
                "WHERE case_id = :c"
            ),
            {"c": ticket.case_id},
        )
    other.dispose()
    with pytest.raises(ActionRefused) as refused:
        perform_action(
            ticket,
            "material_waive",
            db.session.get(User, actor_id),
            reason="不需要",
            material="application_form",
        )
    assert refused.value.status == 409
    db.session.rollback()
    form = db.session.execute(
        db.select(Material).where(Material.case_id == ticket.case_id)
    ).scalar_one()
    assert (form.handed_over_by, form.waived_at) == ("gas1", None)
