"""Ratings (好差评), the follow-up of every 差评, and complaints (投诉举报), through the real
pages and endpoints, with real CSRF tokens, on PostgreSQL."""

import re

import pytest
from conftest import act, at
from conftest import sign_in_web as _sign_in_web
from flask import g

from jointdesk.models import Complaint, Event, Notification, Provider, Rating, RatingFollowUp


@pytest.fixture
def ui(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


@pytest.fixture
def now(monkeypatch):
    """The feedback services' clock, settable."""
    import jointdesk.feedback.services
    import jointdesk.feedback.views

    moment = {"now": at(2026, 11, 27, 10, 0)}  # a Friday, 10:00 in Zhengzhou

    def clock():
        return moment["now"]

    monkeypatch.setattr(jointdesk.feedback.services, "utcnow", clock)
    monkeypatch.setattr(jointdesk.feedback.views, "utcnow", clock)
    return moment


def token(html: str, prefix: str = "") -> str:
    name = f"{prefix}-csrf_token" if prefix else "csrf_token"
    m = re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html)
    assert m, f"no {name} on the page"
    return m.group(1)


def sign_in_web(client, user) -> None:
    """Signs in on ``client``; the tests' requests share one app context, whose ``g`` would
    otherwise keep the user loaded for the request before."""
    _sign_in_web(client, user)
    g.pop("_login_user", None)


def ticket_of(case, service):
    return next(t for t in case["tickets"] if t["service"] == service)


@pytest.fixture
def done_case(client, users, submit, deliver_all):
    """Water and gas; water connected, gas still waiting."""
    case = submit(services=["water", "gas"])
    deliver_all()
    water = ticket_of(case, "water")["id"]
    assert act(client, users["water"][1], water, action="accept").status_code == 200
    assert act(client, users["water"][1], water, action="connect").status_code == 200
    return case


def rate(client, case, service, level, code=None, **extra):
    return client.post(
        f"/api/v1/public/cases/{case['reference']}/ratings",
        json={"code": code or case["query_code"], "service": service, "level": level, **extra},
    )


def provider_id(db, code):
    return db.session.execute(db.select(Provider.id).where(Provider.code == code)).scalar_one()


# --- ratings -------------------------------------------------------------------------------


def test_rating_only_with_the_right_code_and_only_for_finished_services(client, db, done_case):
    wrong = rate(client, done_case, "water", 5, code="00000000")
    unknown = client.post(
        "/api/v1/public/cases/ZZ20260101AAAAAA/ratings",
        json={"code": done_case["query_code"], "service": "water", "level": 5},
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_json() == unknown.get_json()
    res = rate(client, done_case, "gas", 5)
    assert res.status_code == 409 and res.get_json()["error"]["code"] == "not_finished"
    res = rate(client, done_case, "water", 6, comment="x" * 501)
    assert res.status_code == 422
    fields = res.get_json()["error"]["fields"]
    assert set(fields) == {"level", "comment"}
    assert db.session.scalar(db.select(db.func.count(Rating.id))) == 0

    res = rate(client, done_case, "water", 4, comment="很快，电话 13912345678")
    assert res.status_code == 201, res.get_json()
    water = next(s for s in res.get_json()["services"] if s["service"] == "water")
    assert water["ratings"][0]["level"] == 4 and water["can_rate"] is False
    rating = db.session.execute(db.select(Rating)).scalar_one()
    assert rating.provider_id == provider_id(db, "zz-water")
    assert (rating.round, rating.channel) == (1, "online")
    assert "13912345678" not in rating.comment  # a phone number typed in is masked
    assert db.session.scalar(db.select(db.func.count(RatingFollowUp.id))) == 0  # not a 差评

    again = rate(client, done_case, "water", 1)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rated"
    assert db.session.scalar(db.select(db.func.count(Rating.id))) == 1

    # the look-up of the ratings: the same code check
    url = f"/api/v1/public/cases/{done_case['reference']}/ratings"
    assert client.get(url + "?code=00000000").status_code == 404
    listing = client.get(url + f"?code={done_case['query_code']}").get_json()
    assert {s["service"]: s["can_rate"] for s in listing["services"]} == {
        "water": False,
        "gas": False,
    }


def test_bad_rating_opens_a_follow_up_due_on_the_working_calendar(client, db, done_case, now):
    res = rate(client, done_case, "water", 2, comment="等了很久")
    assert res.status_code == 201, res.get_json()
    fu = db.session.execute(db.select(RatingFollowUp)).scalar_one()
    assert fu.provider_id == provider_id(db, "zz-water") and fu.status == "open"
    # rated Friday 27 Nov 2026 10:00; 5 working days of 09-12 and 13-17: Mon 30 Nov, Tue 1,
    # Wed 2, Thu 3, Fri 4 Dec -> Friday 4 Dec 10:00
    assert fu.due_at == at(2026, 12, 4, 10, 0)
    from jointdesk.feedback.services import callback_due

    assert callback_due(fu) == at(2026, 11, 30, 10, 0)  # one working day: Monday 10:00
    actions = db.session.execute(db.select(Event.action).order_by(Event.id)).scalars().all()
    assert actions[-2:] == ["rating_given", "rating_follow_up_opened"]
    # the representative who carried the service is told, with the due time
    note = db.session.execute(db.select(Notification)).scalar_one()
    assert note.kind == "rating_follow_up" and "2026-12-04 10:00" in note.message


def follow_up_post(ui, fu_id, step, **data):
    page = ui.get(f"/follow-ups/{fu_id}")
    html = page.get_data(as_text=True)
    return ui.post(f"/follow-ups/{fu_id}/{step}", data={"csrf_token": token(html), **data}), page


def test_follow_up_callback_answer_review_and_a_second_rating(ui, client, db, users, done_case):
    assert rate(client, done_case, "water", 1, comment="态度差").status_code == 201
    fu = db.session.execute(db.select(RatingFollowUp)).scalar_one()
    fu_id = fu.id

    # staff of another provider neither see nor answer it
    sign_in_web(ui, users["gas"][0])
    assert ui.get(f"/follow-ups/{fu_id}").status_code == 404
    assert "态度差" not in ui.get("/follow-ups").get_data(as_text=True)
    page = ui.get("/follow-ups").get_data(as_text=True)
    res = ui.post(f"/follow-ups/{fu_id}/callback", data={"csrf_token": token(page)})
    assert res.status_code == 404
    db.session.expire_all()
    assert db.session.get(RatingFollowUp, fu_id).called_back_at is None

    # the rated provider's staff: in their list; answer needs the callback first
    sign_in_web(ui, users["water"][0])
    listing = ui.get("/follow-ups").get_data(as_text=True)
    assert f"/follow-ups/{fu_id}" in listing
    res, page = follow_up_post(ui, fu_id, "answer", answer="已核实", version=1)
    assert "13800000000" in page.get_data(as_text=True)  # staff call the applicant back
    db.session.expire_all()
    assert db.session.get(RatingFollowUp, fu_id).status == "open"
    res, _ = follow_up_post(ui, fu_id, "callback", version=1)
    assert res.status_code == 302
    res, _ = follow_up_post(ui, fu_id, "answer", answer="已核实", version=1)  # stale page
    assert res.status_code == 302
    assert "他人已在此期间修改了此项" in ui.get(f"/follow-ups/{fu_id}").get_data(as_text=True)
    db.session.expire_all()
    fu = db.session.get(RatingFollowUp, fu_id)
    assert fu.status == "open" and fu.called_back_at is not None
    res, _ = follow_up_post(ui, fu_id, "answer", answer="已核实并上门整改", version=fu.version)
    db.session.expire_all()
    fu = db.session.get(RatingFollowUp, fu_id)
    assert fu.status == "answered" and fu.answered_by == "water1"
    # staff may not review
    res, _ = follow_up_post(ui, fu_id, "review", decision="accept", version=fu.version)
    assert res.status_code == 403

    # not closed yet: no second rating
    assert rate(client, done_case, "water", 5).status_code == 409

    # the supervisor sends it back (a note is required), then accepts the second answer
    sign_in_web(ui, users["supervisor"][0])
    res, page = follow_up_post(ui, fu_id, "review", decision="send_back", version=fu.version)
    assert "13800000000" not in page.get_data(as_text=True)  # masked for the supervisor
    db.session.expire_all()
    assert db.session.get(RatingFollowUp, fu_id).status == "answered"
    res, _ = follow_up_post(
        ui, fu_id, "review", decision="send_back", note="未说明整改结果", version=fu.version
    )
    db.session.expire_all()
    fu = db.session.get(RatingFollowUp, fu_id)
    assert fu.status == "open" and fu.review_note == "未说明整改结果"
    sign_in_web(ui, users["water"][0])
    follow_up_post(ui, fu_id, "answer", answer="已更换表具，回访满意", version=fu.version)
    sign_in_web(ui, users["supervisor"][0])
    db.session.expire_all()
    fu = db.session.get(RatingFollowUp, fu_id)
    follow_up_post(ui, fu_id, "review", decision="accept", version=fu.version)
    db.session.expire_all()
    assert db.session.get(RatingFollowUp, fu_id).status == "closed"
    actions = db.session.execute(db.select(Event.action)).scalars().all()
    for action in (
        "rating_follow_up_opened",
        "rating_follow_up_callback",
        "rating_follow_up_answered",
        "rating_follow_up_sent_back",
        "rating_follow_up_closed",
    ):
        assert action in actions

    # round 2 now, once; no third
    res = rate(client, done_case, "water", 5)
    assert res.status_code == 201, res.get_json()
    rounds = db.session.execute(db.select(Rating.round, Rating.level)).all()
    assert sorted(rounds) == [(1, 1), (2, 5)]
    assert rate(client, done_case, "water", 5).status_code == 409


def test_the_status_page_rating_block(ui, db, done_case):
    ref, code = done_case["reference"], done_case["query_code"]
    page = ui.get(f"/status?reference={ref}").get_data(as_text=True)
    html = ui.post(
        "/status",
        data={"csrf_token": token(page), "reference": ref, "code": code},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert 'action="/status/rating/water' in html  # connected: rateable
    assert 'action="/status/rating/gas' not in html  # still waiting
    assert "非常满意" in html and "非常不满意" in html
    form = {
        "water-csrf_token": token(html, "water"),
        "water-reference": ref,
        "water-code": "00000000",
        "water-level": "3",
        "water-comment": "",
    }
    res = ui.post("/status/rating/water", data=form)
    assert res.status_code == 404
    assert db.session.scalar(db.select(db.func.count(Rating.id))) == 0
    form["water-code"] = code
    form["water-comment"] = "长" * 501
    res = ui.post("/status/rating/water", data=form)
    assert res.status_code == 422 and "最多500个字符" in res.get_data(as_text=True)
    form["water-comment"] = ""
    form["water-level"] = ""
    res = ui.post("/status/rating/water", data=form)
    assert res.status_code == 422 and "请从五个等级中选择" in res.get_data(as_text=True)
    form["water-level"] = "3"
    res = ui.post("/status/rating/water", data=form)
    assert res.status_code == 303  # back to the case's own address (post/redirect/get)
    res = ui.get(res.headers["Location"])
    assert res.status_code == 200 and "感谢您的评价" in res.get_data(as_text=True)
    assert "基本满意" in res.get_data(as_text=True)
    assert db.session.execute(db.select(Rating.level)).scalar_one() == 3
    res = ui.post("/status/rating/water", data=form)
    assert res.status_code == 409 and "已评价" in res.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Rating.id))) == 1


# --- complaints ----------------------------------------------------------------------------


def complaint_form(ui, url="/complaint", **fields):
    page = ui.get(url).get_data(as_text=True)
    data = {
        "csrf_token": token(page),
        "name": "王五",
        "phone": "13912345678",
        "provider": "zz-gas",
        "case_reference": "",
        "subject": "报装拖延",
        "body": "燃气报装一个月没有人联系。",
    }
    data.update(fields)
    return ui.post(url, data=data)


def count_complaints(db) -> int:
    return db.session.scalar(db.select(db.func.count(Complaint.id)))


def test_public_complaint_form_validates_field_by_field(ui, db, users, submit):
    res = complaint_form(ui, name="", phone="12345", provider="", subject="", body="")
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    expected = (
        "请填写您的姓名",
        "不是有效的中国大陆手机号码",
        "请选择专营单位",
        "请简要说明",
        "请描述",
    )
    for message in expected:
        assert message in html, message
    res = complaint_form(ui, provider="", case_reference="ZZ20260101AAAAAA")
    assert res.status_code == 422 and "没有这个编号的申请" in res.get_data(as_text=True)
    case = submit(services=["water"])
    res = complaint_form(ui, provider="zz-gas", case_reference=case["reference"])
    assert res.status_code == 422 and "该申请中没有这家单位的业务" in res.get_data(as_text=True)
    res = complaint_form(ui, provider="nope", body="长" * 2001)
    assert res.status_code == 422 and "最多2000个字符" in res.get_data(as_text=True)
    assert count_complaints(db) == 0


def test_complaint_is_recorded_and_looked_up_by_reference_and_code(ui, db, users, submit, now):
    case = submit(services=["water"])
    res = complaint_form(ui, provider="", case_reference=case["reference"].lower())
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    reference = re.search(r"TS\d{8}[2-9A-HJ-NP-Z]{6}", html).group(0)
    code = re.search(r'<p class="big">(\d{8})</p>', html).group(1)
    c = db.session.execute(db.select(Complaint)).scalar_one()
    assert c.reference == reference and c.channel == "online" and c.created_by is None
    assert c.provider_id == provider_id(db, "zz-water")  # the case's only provider
    assert c.case_id is not None and c.query_code_hash != code
    assert c.due_at == at(2026, 12, 4, 10, 0)  # 5 working days from Friday 27 Nov 10:00
    assert "complaint_received" in db.session.execute(db.select(Event.action)).scalars().all()

    # the same complaint again (a double click, a reload): no second one, no code again
    again = complaint_form(ui, provider="", case_reference=case["reference"])
    assert count_complaints(db) == 1 and code not in again.get_data(as_text=True)

    # a case with several providers and none named: no provider
    multi = submit(services=["water", "gas"])
    complaint_form(ui, provider="", case_reference=multi["reference"], subject="另一件事")
    other = db.session.execute(db.select(Complaint).where(Complaint.subject == "另一件事"))
    assert other.scalar_one().provider_id is None

    page = ui.get("/complaint/status").get_data(as_text=True)
    wrong = ui.post(
        "/complaint/status",
        data={"csrf_token": token(page), "reference": reference, "code": "00000000"},
    ).get_data(as_text=True)
    unknown = ui.post(
        "/complaint/status",
        data={"csrf_token": token(page), "reference": "TS20260101AAAAAA", "code": code},
    ).get_data(as_text=True)
    assert "没有与该编号和查询码相符的投诉" in wrong and "没有与该编号和查询码相符的投诉" in unknown
    assert "报装拖延" not in wrong and "报装拖延" not in unknown
    found = ui.post(
        "/complaint/status",
        data={"csrf_token": token(page), "reference": reference.lower(), "code": code},
    ).get_data(as_text=True)
    assert "报装拖延" in found and "2026-12-04 10:00" in found and "待处理" in found


def test_hotline_form_and_the_supervisors_answer_and_close(ui, db, users):
    sign_in_web(ui, users["water"][0])
    assert ui.get("/complaints/hotline").status_code == 403
    sign_in_web(ui, users["clerk"][0])
    res = complaint_form(ui, url="/complaints/hotline")
    assert res.status_code == 200
    c = db.session.execute(db.select(Complaint)).scalar_one()
    assert (c.channel, c.created_by) == ("hotline", "clerk1")
    told = db.session.execute(
        db.select(Notification.user_id).where(Notification.kind == "complaint_received")
    ).scalars()
    assert list(told) == [users["supervisor"][0].id]
    assert c.provider_id == provider_id(db, "zz-gas")
    assert ui.get("/complaints").status_code == 403  # the clerk records, supervisors handle

    # staff of another provider: not in their list, not readable; of the provider: read-only
    sign_in_web(ui, users["water"][0])
    assert ui.get(f"/complaints/{c.id}").status_code == 404
    assert "报装拖延" not in ui.get("/complaints").get_data(as_text=True)
    sign_in_web(ui, users["gas"][0])
    html = ui.get(f"/complaints/{c.id}").get_data(as_text=True)
    assert "报装拖延" in html and "139****5678" in html and "13912345678" not in html
    res = ui.post(
        f"/complaints/{c.id}/answer", data={"csrf_token": token(html), "answer": "x", "version": 1}
    )
    assert res.status_code == 403

    sign_in_web(ui, users["supervisor"][0])
    listing = ui.get("/complaints?status=open").get_data(as_text=True)
    assert c.reference in listing and "139****5678" in listing and "13912345678" not in listing
    assert c.reference not in ui.get("/complaints?provider=zz-water").get_data(as_text=True)
    html = ui.get(f"/complaints/{c.id}").get_data(as_text=True)
    blank = {"csrf_token": token(html), "answer": "", "version": 1}
    ui.post(f"/complaints/{c.id}/answer", data=blank)
    db.session.expire_all()
    assert db.session.get(Complaint, c.id).status == "open"  # an answer needs words
    ui.post(
        f"/complaints/{c.id}/answer",
        data={"csrf_token": token(html), "answer": "已督促燃气公司三日内上门。", "version": 1},
    )
    db.session.expire_all()
    c = db.session.get(Complaint, c.id)
    assert c.status == "answered" and c.answered_by == "super1"
    ui.post(
        f"/complaints/{c.id}/close",
        data={"csrf_token": token(html), "note": "已回访", "version": 1},  # stale
    )
    db.session.expire_all()
    assert db.session.get(Complaint, c.id).status == "answered"
    ui.post(
        f"/complaints/{c.id}/close",
        data={"csrf_token": token(html), "note": "已回访，投诉人满意", "version": c.version},
    )
    db.session.expire_all()
    c = db.session.get(Complaint, c.id)
    assert c.status == "closed" and c.closed_by == "super1"
    actions = db.session.execute(db.select(Event.action)).scalars().all()
    assert {"complaint_received", "complaint_answered", "complaint_closed"} <= set(actions)


def test_public_look_ups_are_rate_limited(app, ui, db):
    app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "3 per minute"
    try:
        page = ui.get("/complaint/status").get_data(as_text=True)
        data = {"csrf_token": token(page), "reference": "TS20260101AAAAAA", "code": "1"}
        codes = [ui.post("/complaint/status", data=data).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # the case status look-up and the ratings share the same count
        res = ui.post("/status/rating/water", data={"csrf_token": token(page)})
        assert res.status_code == 429
    finally:
        app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "10 per minute;100 per hour"


def test_public_complaint_form_is_rate_limited(app, ui, db):
    app.config["JOINTDESK_COMPLAINT_SUBMIT_LIMIT"] = "2 per hour"
    try:
        codes = [complaint_form(ui, subject=f"第{i}件").status_code for i in range(3)]
        assert codes == [200, 200, 429]
        assert count_complaints(db) == 2
    finally:
        app.config["JOINTDESK_COMPLAINT_SUBMIT_LIMIT"] = "5 per hour;20 per day"


def test_public_header_links_to_complaints(ui, db):
    html = ui.get("/status").get_data(as_text=True)
    assert 'href="/complaint"' in html and "投诉举报" in html


def test_the_app_rates_with_its_client_token_and_staff_tokens_are_refused(
    client, db, users, done_case
):
    body = {"code": done_case["query_code"], "service": "water", "level": 5}
    url = f"/api/v1/public/cases/{done_case['reference']}/ratings"
    assert client.post(url, json=body, headers=users["water"][1]).status_code == 403
    assert client.post(url, json=body, headers={"Authorization": "Bearer x"}).status_code == 401
    res = client.post(url, json=body, headers=users["integration"][1])
    assert res.status_code == 201, res.get_json()
    assert db.session.execute(db.select(Rating.channel)).scalar_one() == "app"


def test_the_demo_has_a_followed_up_bad_rating_and_a_complaint(db):
    from jointdesk.seed import load_demo_data

    load_demo_data()
    load_demo_data()  # safe to rerun: nothing twice
    rows = db.session.execute(db.select(Rating.level, Rating.provider_id)).all()
    assert sorted(level for level, _ in rows) == [2, 5] and all(p for _, p in rows)
    assert db.session.execute(db.select(RatingFollowUp.status)).scalar_one() == "open"
    complaint = db.session.execute(db.select(Complaint)).scalar_one()
    assert complaint.provider_id == provider_id(db, "zz-gas")
