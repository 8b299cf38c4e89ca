"""Messages to applicants: one per milestone, in Chinese, written with the change it announces;
administrators' wording of the templates; the pages of what was sent."""

from __future__ import annotations

import re

import pytest
from conftest import act, application_body, sign_in_web

from jointdesk import domain_events
from jointdesk.models import ApplicantMessage, Case, Event, MessageTemplate

WATER = "郑州自来水投资控股有限公司"
GAS = "郑州华润燃气股份有限公司"
PHONE = "13800000000"
WAIT = "请补充房屋产权证明"


@pytest.fixture
def seen():
    events: list[domain_events.DomainEvent] = []
    domain_events.subscribe(events.append)
    yield events
    domain_events.unsubscribe(events.append)


def messages(db) -> list[ApplicantMessage]:
    db.session.expire_all()
    return db.session.scalars(db.select(ApplicantMessage).order_by(ApplicantMessage.id)).all()


def by_key(db) -> dict[str, ApplicantMessage]:
    return {m.dedup_key: m for m in messages(db)}


def ok(res):
    assert res.status_code == 200, res.get_json()
    return res


def test_each_milestone_sends_exactly_one_message_in_chinese(
    client, db, users, submit, deliver_all, seen
):
    case = submit(services=["water", "gas"])
    ref, code = case["reference"], case["query_code"]
    water, gas = (t["id"] for t in case["tickets"])
    cid = seen[0].case_id
    [accepted] = messages(db)
    assert accepted.dedup_key == f"case:{cid}:created" and accepted.template == "case_accepted"
    assert accepted.body == (
        f"【郑州水电气暖联办】您的供水、供气报装申请已受理，受理编号{ref}。"
        f"请凭受理回执上的查询码在/status?reference={ref}查询办理进度。"
    )
    assert code not in accepted.body  # the query code is on the paper receipt only
    assert accepted.phone == PHONE and accepted.status == "sent"  # no gateway: kept in the outbox

    deliver_all()
    staff, gas_staff = users["water"][1], users["gas"][1]
    ok(act(client, staff, water, action="accept"))
    assert len(messages(db)) == 1  # dispatch and acceptance of a ticket: no message

    ok(act(client, staff, water, action="suspend", reason_code="applicant_waiting", reason=WAIT))
    ok(act(client, staff, water, action="resume"))
    ok(act(client, staff, water, action="suspend", reason_code="applicant_waiting"))
    ok(act(client, staff, water, action="resume"))
    ok(act(client, staff, water, action="connect"))
    ok(act(client, gas_staff, gas, action="return", reason="该地址不在燃气管网覆盖范围内"))

    rows = by_key(db)
    assert list(rows) == [
        f"case:{cid}:created",
        f"ticket:{water}:suspend:1",
        f"ticket:{water}:suspend:2",
        f"ticket:{water}:connect",
        f"ticket:{gas}:return",
        f"case:{cid}:completed",
    ]
    assert rows[f"ticket:{water}:suspend:1"].body == (
        f"【郑州水电气暖联办】您的申请（编号{ref}）中的供水需要您配合：请补充房屋产权证明。"
        f"办理计时已暂停，请尽快与{WATER}联系，处理后继续办理。"
    )
    assert "请补充资料或配合现场工作" in rows[f"ticket:{water}:suspend:2"].body  # no words given
    assert rows[f"ticket:{water}:connect"].body == (
        f"【郑州水电气暖联办】您的申请（编号{ref}）中的供水已由{WATER}验收接通。"
    )
    assert rows[f"ticket:{gas}:return"].body == (
        f"【郑州水电气暖联办】很抱歉，您的申请（编号{ref}）中的供气已被{GAS}退回，"
        "原因：该地址不在燃气管网覆盖范围内。如有疑问，请咨询水电气暖联办窗口。"
    )
    # completed: the connected services only (the returned one was told on its own)
    assert rows[f"case:{cid}:completed"].body == (
        f"【郑州水电气暖联办】您的申请（编号{ref}）已办结，供水已验收接通。感谢您的支持！"
    )
    assert {m.phone for m in rows.values()} == {PHONE}
    assert {m.case_id for m in rows.values()} == {cid}
    assert rows[f"ticket:{gas}:return"].ticket_id == gas

    # the same events again (a replayed event, a retried worker) and delivery again: nothing
    from jointdesk.messaging import milestones

    for event in list(seen):
        milestones.on_event(event)
    db.session.commit()
    deliver_all()
    assert len(messages(db)) == len(rows)


@pytest.mark.parametrize("code", ["applicant_construction", "force_majeure", "other"])
def test_a_suspension_not_waiting_for_the_applicant_sends_nothing(
    client, db, users, submit, deliver_all, code
):
    case = submit(services=["water"])
    deliver_all()
    ticket = case["tickets"][0]["id"]
    ok(act(client, users["water"][1], ticket, action="accept"))
    ok(act(client, users["water"][1], ticket, action="suspend", reason_code=code, reason="雨雪"))
    assert [m.template for m in messages(db)] == ["case_accepted"]


def test_a_pushed_project_is_told_where_to_find_its_query_code_never_the_code(
    client, db, users, app, monkeypatch
):
    monkeypatch.setitem(app.config, "JOINTDESK_PUBLIC_BASE_URL", "https://jd.example.cn")
    body = application_body(materials=None, services=["electricity"])
    body["project"]["approval_system_code"] = "2026-410105-47-01-004321"
    res = client.post(
        "/api/v1/integrations/approval-system/projects", json=body, headers=users["integration"][1]
    )
    assert res.status_code == 201, res.get_json()
    data = res.get_json()
    [msg] = messages(db)
    assert msg.template == "case_accepted_no_receipt"
    assert msg.body == (
        f"【郑州水电气暖联办】您的供电报装申请已受理，受理编号{data['reference']}。"
        f"可在https://jd.example.cn/status?reference={data['reference']}凭查询码查询办理进度；"
        "查询码请在提交申请的系统中查看，或到水电气暖联办窗口补发。"
    )
    assert data["query_code"] not in msg.body


def test_a_case_without_a_phone_gets_no_message(db, submit, seen):
    from jointdesk.messaging import milestones

    submit(services=["water"])
    [created] = seen
    db.session.execute(db.delete(ApplicantMessage))
    db.session.execute(db.update(Case).values(applicant_phone=""))
    milestones.on_event(created)
    db.session.commit()
    assert messages(db) == []


def test_no_id_number_reaches_a_message(client, db, users, submit, deliver_all):
    from conftest import valid_person_id

    case = submit(services=["water"])
    deliver_all()
    id_number = valid_person_id(7)
    reason = f"申请人身份证{id_number}与产权人不一致"
    ok(act(client, users["water"][1], case["tickets"][0]["id"], action="return", reason=reason))
    bodies = " ".join(m.body for m in messages(db))
    assert id_number not in bodies and valid_person_id() not in bodies
    assert "与产权人不一致" in bodies


def test_an_edited_template_changes_the_next_message_and_reset_restores_it(
    client, db, users, submit, deliver_all
):
    from jointdesk.messaging import templates

    assert templates.save_override(
        "service_connected", "【郑州水电气暖联办】{service}已接通（{reference}），{provider}。", "t"
    )
    first, second = submit(services=["water"]), submit(services=["water"])
    deliver_all()
    staff = users["water"][1]
    for case in (first, second):
        ok(act(client, staff, case["tickets"][0]["id"], action="accept"))
    ok(act(client, staff, first["tickets"][0]["id"], action="connect"))
    assert templates.reset_override("service_connected", "t")
    ok(act(client, staff, second["tickets"][0]["id"], action="connect"))

    bodies = [m.body for m in messages(db) if m.template == "service_connected"]
    assert bodies == [
        f"【郑州水电气暖联办】供水已接通（{first['reference']}），{WATER}。",
        f"【郑州水电气暖联办】您的申请（编号{second['reference']}）中的供水已由{WATER}验收接通。",
    ]
    trail = db.session.scalars(
        db.select(Event).where(Event.action.like("message_template_%")).order_by(Event.id)
    ).all()
    assert [e.action for e in trail] == ["message_template_changed", "message_template_reset"]
    assert trail[0].detail["before"] == templates.DEFAULTS["service_connected"]
    assert trail[1].detail["before"].startswith("【郑州水电气暖联办】{service}已接通")


BAD_TEXTS = [
    ("", "请填写短信内容"),
    ("   \r\n ", "请填写短信内容"),
    ("短" * 301, "最多 300 个字符"),
    ("您的申请{reference已受理", "花括号须成对"),
    ("您的申请}已受理", "花括号须成对"),
    ("您的申请{applicant_id}已受理", "未知字段 {applicant_id}"),
    ("验证码{code}，{reference}", "未知字段 {reference}"),
    ("验证码{code!r}", "未知字段 {code!r}"),
    ("验证码{code:>8}", "未知字段 {code:>8}"),
    ("验证码{}", "未知字段 {}"),
    ("验证码{0}", "未知字段 {0}"),
    ("验证码{code.__class__}", "未知字段 {code.__class__}"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXTS)
def test_bad_template_texts_are_refused_with_the_reason(db, text, message):
    from jointdesk.messaging import templates

    with pytest.raises(templates.TemplateErrors) as info:
        templates.save_override("verification_code", text, "t")
    assert message in info.value.fields["body"]
    if "未知字段" in message:
        assert "{code}、{minutes}" in info.value.fields["body"]  # what it may use
    assert db.session.scalar(db.select(db.func.count()).select_from(MessageTemplate)) == 0


def test_literal_braces_and_newlines_are_allowed(db):
    from jointdesk.messaging import templates

    text = "【郑州水电气暖联办】验证码{code}\n{{勿外传}}，{minutes}分钟有效"
    assert templates.save_override("verification_code", text, "t")
    assert templates.render("verification_code", {"code": "1234", "minutes": 5}) == (
        "【郑州水电气暖联办】验证码1234\n{勿外传}，5分钟有效"
    )
    assert not templates.save_override("verification_code", text, "t")  # nothing changed


def test_a_stored_text_that_no_longer_renders_falls_back_to_the_default(db):
    from jointdesk.messaging import templates
    from jointdesk.models.types import utcnow

    db.session.add(
        MessageTemplate(
            name="verification_code", body="{gone}", updated_by="x", updated_at=utcnow()
        )
    )
    db.session.commit()
    body = templates.render("verification_code", {"code": "9", "minutes": 5})
    assert body == templates.DEFAULTS["verification_code"].format(code="9", minutes=5)


# --- the administrators' pages -----------------------------------------------------------


def signed_in(app, user):
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    client = app.test_client()
    sign_in_web(client, user)
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


@pytest.fixture
def csrf_on(app):
    before = app.config.get("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = before


@pytest.mark.parametrize(
    ("role", "sent", "templates_page"),
    [
        ("clerk", 403, 403),
        ("water", 403, 403),
        ("supervisor", 200, 403),
        ("admin", 200, 200),
    ],
)
def test_pages_are_role_checked(app, users, csrf_on, role, sent, templates_page):
    client = signed_in(app, users[role][0])
    assert client.get("/admin/messages/").status_code == sent
    assert client.get("/admin/messages/templates").status_code == templates_page
    assert client.get("/admin/messages/templates/case_accepted").status_code == templates_page
    token = csrf(client.get("/cases/").get_data(as_text=True))  # a valid token of this user
    res = client.post(
        "/admin/messages/templates/case_accepted",
        data={"csrf_token": token, "body": "{reference}", "what": "save"},
    )
    assert res.status_code == (302 if templates_page == 200 else 403)
    res = client.post("/admin/messages/templates/case_accepted/reset", data={"csrf_token": token})
    assert res.status_code == (302 if templates_page == 200 else 403)


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    res = client.get("/admin/messages/")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_what_was_sent_shows_masked_phones_and_ids_newest_first_a_page_at_a_time(
    app, db, users, submit, monkeypatch
):
    from conftest import valid_person_id

    from jointdesk import messaging
    from jointdesk.messaging import views

    first, second = submit(services=["water"]), submit(services=["gas"])
    id_number = valid_person_id(3)
    messaging.send(
        "13912345678",
        "verification_code",
        {"code": id_number, "minutes": 5},  # an ID number that found its way into a body
        dedup_key="otp:page",
    )
    db.session.commit()
    client = signed_in(app, users["supervisor"][0])
    html = client.get("/admin/messages/").get_data(as_text=True)
    assert PHONE not in html and "138****0000" in html and "139****5678" in html
    assert id_number not in html and id_number[:4] in html
    assert (
        html.index("139****5678") < html.index(second["reference"]) < html.index(first["reference"])
    )
    assert "messages/templates" not in html  # the wording is the administrators'

    monkeypatch.setattr(views, "PER_PAGE", 2)
    page1 = client.get("/admin/messages/").get_data(as_text=True)
    after = re.search(r'href="[^"]*after=(\d+)', page1).group(1)
    page2 = client.get(f"/admin/messages/?after={after}").get_data(as_text=True)
    assert first["reference"] in page2 and second["reference"] not in page2
    assert not re.search(r'href="[^"]*after=', page2)  # the last page
    assert client.get("/admin/messages/?after=x1").status_code == 400

    only = client.get(f"/admin/messages/?reference={first['reference'].lower()}")
    text = only.get_data(as_text=True)
    assert first["reference"] in text and second["reference"] not in text
    by_template = client.get("/admin/messages/?template=verification_code&status=sent")
    assert "139****5678" in by_template.get_data(as_text=True)
    assert second["reference"] not in by_template.get_data(as_text=True)
    assert "139****5678" not in client.get("/admin/messages/?status=dead").get_data(as_text=True)


def test_admin_edits_previews_and_resets_a_template(app, db, users, csrf_on):
    from jointdesk.messaging import templates

    client = signed_in(app, users["admin"][0])
    listing = client.get("/admin/messages/templates").get_data(as_text=True)
    for name in templates.SPECS:
        assert f"/admin/messages/templates/{name}" in listing
    assert templates.DEFAULTS["case_completed"] in listing

    url = "/admin/messages/templates/case_completed"
    page = client.get(url).get_data(as_text=True)
    assert "{reference}" in page and "{services}" in page  # the fields it may use
    token = csrf(page)

    # no CSRF token: refused, nothing saved
    res = client.post(url, data={"body": "x{reference}", "what": "save"})
    assert res.status_code == 400
    res = client.post(url + "/reset")
    assert res.status_code == 400

    # preview: sample values, nothing saved
    new = "【郑州水电气暖联办】{reference}办结：{services}。"
    res = client.post(url, data={"csrf_token": token, "body": new, "what": "preview"})
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "【郑州水电气暖联办】ZZ20261126K7QM2A办结：供水、供电" in html
    assert db.session.get(MessageTemplate, "case_completed") is None

    # refused, with the reason under the field, whether saved or previewed
    for bad, reason in (
        ("{reference}{phone}", "未知字段 {phone}"),
        ("", "请填写短信内容"),
        ("办结{reference", "花括号须成对"),
        ("长" * 301, "最多 300 个字符（当前 301 个）"),
    ):
        for what in ("save", "preview"):
            res = client.post(url, data={"csrf_token": token, "body": bad, "what": what})
            html = res.get_data(as_text=True)
            assert res.status_code == 200 and reason in html.split('id="body"', 1)[1], bad
    assert db.session.get(MessageTemplate, "case_completed") is None

    res = client.post(url, data={"csrf_token": token, "body": new, "what": "save"})
    assert res.status_code == 302
    db.session.expire_all()
    row = db.session.get(MessageTemplate, "case_completed")
    assert row.body == new and row.updated_by == "admin1"
    listing = client.get("/admin/messages/templates").get_data(as_text=True)
    assert "admin1" in listing and "/admin/messages/templates/case_completed/reset" in listing

    res = client.post(url + "/reset", data={"csrf_token": token})
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(MessageTemplate, "case_completed") is None
    assert templates.template_text("case_completed") == templates.DEFAULTS["case_completed"]


def test_the_navigation_links_the_page_for_its_readers(app, users):
    for role, shown in (("admin", True), ("supervisor", True), ("clerk", False)):
        page = signed_in(app, users[role][0]).get("/cases/").get_data(as_text=True)
        assert ('href="/admin/messages/"' in page) is shown, role


def test_every_default_is_signed_and_short(app):
    from jointdesk.messaging import templates

    with app.app_context():
        for name, text in templates.DEFAULTS.items():
            assert text.startswith(templates.SIGNATURE)
            assert templates.check_body(name, text) == (text, {}), name
            assert len(templates.preview(name)) <= templates.MAX_BODY


def test_the_public_base_url_must_be_an_http_address(monkeypatch):
    from config import build_settings

    monkeypatch.setenv("JOINTDESK_PUBLIC_BASE_URL", "https://jd.example.cn/")
    assert build_settings()["JOINTDESK_PUBLIC_BASE_URL"] == "https://jd.example.cn"
    monkeypatch.setenv("JOINTDESK_PUBLIC_BASE_URL", "")
    assert build_settings()["JOINTDESK_PUBLIC_BASE_URL"] == ""
    for bad in ("jd.example.cn", "javascript:alert(1)", "https://jd.example.cn/?x=1", "ftp://x"):
        monkeypatch.setenv("JOINTDESK_PUBLIC_BASE_URL", bad)
        with pytest.raises(RuntimeError, match="JOINTDESK_PUBLIC_BASE_URL"):
            build_settings()
