"""The web pages, driven through real form posts with CSRF tokens, as people use them."""

import re

import pytest
from conftest import TEST_PASSWORD, valid_person_id

from jointdesk.models import Case, Route


@pytest.fixture
def ui(app, db):
    """A browser-like client: real CSRF, its own cookie jar."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert m, "no CSRF token on the page"
    return m.group(1)


def form_token(html: str) -> str:
    m = re.search(r'name="form_token" type="hidden" value="([^"]+)"', html)
    assert m, "no one-time form token on the page"
    return m.group(1)


def login(ui, username):
    page = ui.get("/login").get_data(as_text=True)
    res = ui.post(
        "/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert res.status_code == 302, res.get_data(as_text=True)[:500]
    return res


def application_form(ui, **overrides):
    page = ui.get("/window/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "form_token": form_token(page),
        "applicant_kind": "person",
        "applicant_name": "李四",
        "id_number": valid_person_id(7),
        "phone": "13912345678",
        "district": "二七区",
        "address_detail": "大学路 45 号",
        "services": ["water", "gas"],
        "external_works": "y",
        "pipeline_length_m": "80",
        "form_provided": "y",
        "form_note": "",
    }
    data.update(overrides)
    return data


def test_clerk_submits_one_form_and_gets_a_printable_receipt(ui, db, users):
    assert login(ui, "clerk1").headers["Location"].endswith("/window/new")
    page = ui.get("/window/new").get_data(as_text=True)
    assert "新建联办申请" in page or "联办" in page
    res = ui.post("/window/new", data=application_form(ui))
    assert res.status_code == 302
    receipt = ui.get(res.headers["Location"]).get_data(as_text=True)
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.reference in receipt
    code = re.search(r'class="big">(\d{8})<', receipt).group(1)
    assert "data:image/svg+xml;base64," in receipt  # QR code of the status page
    assert "13912345678" not in receipt and "139****5678" in receipt
    assert [t.service_code for t in case.tickets] == ["water", "gas"]
    # the code is shown once only
    assert code not in ui.get(res.headers["Location"]).get_data(as_text=True)


def test_form_errors_are_shown_field_by_field_and_nothing_is_saved(ui, db, users):
    login(ui, "clerk1")
    data = application_form(
        ui,
        id_number="410105199001011234",
        phone="123",
        services=[],
        pipeline_length_m="很长",
        form_provided="",
    )
    del data["form_provided"]
    res = ui.post("/window/new", data=data)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "居民身份证" in html and "手机号码" in html
    assert html.count('class="errors"') >= 5
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 0
    assert 'value="李四"' in html  # what was typed is kept


def test_posts_without_csrf_token_are_refused(ui, db, users):
    login(ui, "clerk1")
    data = application_form(ui)
    del data["csrf_token"]
    res = ui.post("/window/new", data=data)
    assert res.status_code == 400
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 0
    assert (
        ui.post("/login", data={"username": "clerk1", "password": TEST_PASSWORD}).status_code == 400
    )


def test_wrong_password_is_refused_with_one_message(ui, users):
    page = ui.get("/login").get_data(as_text=True)
    res = ui.post(
        "/login",
        data={"username": "clerk1", "password": "wrong-password", "csrf_token": csrf_token(page)},
    )
    assert res.status_code == 200 and "用户名或密码" in res.get_data(as_text=True)
    page = ui.get("/login").get_data(as_text=True)
    res = ui.post(
        "/login",
        data={"username": "nobody", "password": "wrong-password", "csrf_token": csrf_token(page)},
    )
    assert "用户名或密码" in res.get_data(as_text=True)


def test_roles_are_checked_on_every_page(ui, users):
    assert ui.get("/window/new").status_code == 302  # to sign-in
    login(ui, "water1")
    assert ui.get("/window/new").status_code == 403
    assert ui.get("/admin/routing").status_code == 403
    assert ui.get("/desk/").status_code == 200


def test_staff_work_a_ticket_in_the_desk_and_a_stale_page_is_told(
    ui, db, users, submit, deliver_all
):
    case = submit(services=["water"])
    deliver_all()
    ticket_id = case["tickets"][0]["id"]
    login(ui, "water1")
    queue = ui.get("/desk/").get_data(as_text=True)
    assert case["reference"] in queue
    page = ui.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
    token = csrf_token(page)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    res = ui.post(
        f"/desk/tickets/{ticket_id}/action",
        data={"csrf_token": token, "action": "accept", "version": version},
    )
    assert res.status_code == 302
    after = ui.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
    assert "已受理" in after
    # the same (now stale) form again: refused with a message, not applied twice
    ui.post(
        f"/desk/tickets/{ticket_id}/action",
        data={"csrf_token": token, "action": "return", "reason": "x", "version": version},
    )
    assert "该工单刚被他人修改" in ui.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)


def test_staff_cannot_open_another_providers_ticket_page(ui, users, submit, deliver_all):
    case = submit(services=["water"])
    deliver_all()
    login(ui, "gas1")
    ticket_id = case["tickets"][0]["id"]
    assert ui.get(f"/desk/tickets/{ticket_id}").status_code == 404
    assert ui.get(f"/cases/{case['reference']}").status_code == 404
    assert case["reference"] not in ui.get("/cases").get_data(as_text=True)


def test_case_page_shows_every_service_and_the_timeline(ui, users, submit, deliver_all):
    case = submit()
    deliver_all()
    login(ui, "super1")
    html = ui.get(f"/cases/{case['reference']}").get_data(as_text=True)
    for name in ("郑州自来水投资控股有限公司", "郑州热力集团有限公司", "办理记录"):
        assert name in html


def test_public_status_page(ui, users, submit):
    case = submit()
    page = ui.get(f"/status?reference={case['reference']}").get_data(as_text=True)
    res = ui.post(
        "/status",
        data={
            "csrf_token": csrf_token(page),
            "reference": case["reference"],
            "code": case["query_code"],
        },
        follow_redirects=True,
    )
    html = res.get_data(as_text=True)
    assert "张*" in html and "138****0000" in html and "13800000000" not in html
    res = ui.post(
        "/status",
        data={"csrf_token": csrf_token(page), "reference": case["reference"], "code": "12345678"},
    )
    assert "没有" in res.get_data(as_text=True) or "未找到" in res.get_data(as_text=True)


def test_language_switch_to_english(ui, users):
    page = ui.get("/login").get_data(as_text=True)
    ui.post("/lang/en", data={"csrf_token": csrf_token(page), "next": "/login"})
    assert "Staff sign-in" in ui.get("/login").get_data(as_text=True)


def test_admin_edits_routing_and_adds_a_provider(ui, db, users):
    login(ui, "admin1")
    page = ui.get("/admin/providers").get_data(as_text=True)
    res = ui.post(
        "/admin/providers",
        data={
            "csrf_token": csrf_token(page),
            "code": "xinmi-gas",
            "name": "新密市燃气公司",
            "phone": "",
        },
    )
    assert res.status_code == 302
    bad = ui.post(
        "/admin/providers", data={"csrf_token": csrf_token(page), "code": "Bad Code!", "name": "x"}
    )
    assert bad.status_code == 200 and 'class="errors"' in bad.get_data(as_text=True)
    grid = ui.get("/admin/routing").get_data(as_text=True)
    new_id = re.search(r'<option value="(\d+)" >新密市燃气公司', grid) or re.search(
        r'<option value="(\d+)"\s*>新密市燃气公司', grid
    )
    from jointdesk.models import District, Provider

    provider = db.session.execute(
        db.select(Provider).where(Provider.code == "xinmi-gas")
    ).scalar_one()
    district = db.session.execute(db.select(District).where(District.name == "新密市")).scalar_one()
    res = ui.post(
        "/admin/routing",
        data={"csrf_token": csrf_token(grid), f"route-gas-{district.id}": str(provider.id)},
    )
    assert res.status_code == 302
    db.session.rollback()
    route = db.session.execute(
        db.select(Route).where(Route.service_code == "gas", Route.district_id == district.id)
    ).scalar_one()
    assert (
        route.provider_id == provider.id and new_id is not None or route.provider_id == provider.id
    )


def test_receipt_points_to_the_public_site_and_says_when_where_and_by_whom(ui, db, users, app):
    """The QR code and the printed address use JOINTDESK_PUBLIC_BASE_URL, not the host the
    clerk's browser used; the receipt names the hall, the window and the clerk, promises the
    completion time (the latest service's due time) and leaves room for the seal. An
    enterprise's own name is printed whole on its own receipt."""
    from jointdesk.windows.views import qr_data_uri

    app.config["JOINTDESK_PUBLIC_BASE_URL"] = "https://ywtb.zhengzhou.gov.cn"
    app.config["JOINTDESK_HALL_NAME"] = "郑州市政务服务中心"
    app.config["JOINTDESK_WINDOW_NAME"] = "12号 水电气暖联办窗口"
    try:
        login(ui, "clerk1")
        res = ui.post(
            "/window/new",
            data=application_form(
                ui,
                applicant_kind="enterprise",
                applicant_name="郑州某某科技有限公司",
                id_number="91350100M000100Y43",
            ),
        )
        assert res.status_code == 302, res.get_data(as_text=True)[:2000]
        receipt = ui.get(res.headers["Location"]).get_data(as_text=True)
    finally:
        app.config["JOINTDESK_PUBLIC_BASE_URL"] = ""
    case = db.session.execute(db.select(Case)).scalar_one()
    url = f"https://ywtb.zhengzhou.gov.cn/status?reference={case.reference}"
    assert url in receipt  # the address, printed as text
    assert qr_data_uri(url) in receipt  # and the QR code encodes exactly it
    assert "localhost" not in receipt
    assert "郑州市政务服务中心" in receipt and "12号 水电气暖联办窗口" in receipt
    assert "经办人" in receipt and users["clerk"][0].label in receipt
    latest = max(t.due_at for t in case.tickets)
    from jointdesk.templating import local_time

    assert "承诺办结时间" in receipt and local_time(latest) in receipt
    assert "受理单位（盖章）" in receipt
    assert "郑州某某科技有限公司" in receipt
