"""Issue 10, public disclosure portal: the mandatory catalog created by ``init``, edited and
published by the provider's own staff with a full history, outage notices, the public pages and
``GET /api/v1/providers/{code}/disclosure``, and the notice on the applicant's status page.

The policy (处理意见 (三)): every provider publishes "企业概况" and, per service, prices and their
basis, the connection procedure, service procedures, outage and restoration notices, inspection,
water quality (water), safety, the heating period (heat), phones, and the rules that apply.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import sign_in_web

from jointdesk.models import (
    DisclosureItem,
    DisclosureRevision,
    District,
    Event,
    OutageNotice,
    Provider,
)
from jointdesk.models.types import utcnow


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert m, "no CSRF token on the page"
    return m.group(1)


def fresh_client(app, user):
    """Another browser signed in as ``user`` (the tests share one app context: forget the
    user and CSRF token the last request left in ``g``)."""
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    other = app.test_client()
    sign_in_web(other, user)
    return other


def provider(db, code: str) -> Provider:
    return db.session.execute(db.select(Provider).where(Provider.code == code)).scalar_one()


def item(db, code: str, scope: str, kind: str) -> DisclosureItem:
    return db.session.execute(
        db.select(DisclosureItem)
        .join(Provider)
        .where(Provider.code == code, DisclosureItem.scope == scope, DisclosureItem.kind == kind)
    ).scalar_one()


def district_id(db, name: str) -> int:
    return db.session.execute(db.select(District.id).where(District.name == name)).scalar_one()


def texts(db, code: str) -> dict[tuple[str, str], tuple[str, str, bool]]:
    rows = db.session.execute(
        db.select(DisclosureItem).join(Provider).where(Provider.code == code)
    ).scalars()
    return {(i.scope, i.kind): (i.title, i.body, i.published) for i in rows}


# --- the catalog made by init --------------------------------------------------------------


def test_init_creates_every_providers_empty_catalog_and_running_again_changes_nothing(db):
    """Counted by hand from the policy: the company overview once, then per service prices,
    connection procedure, service procedures, standards, outages, inspection, safety, phones
    and regulations (9), water quality for water and the heating period for heat."""
    from jointdesk.seed import load_reference_data

    expected = {"zz-water": 1 + 9 + 1, "zz-power": 1 + 9, "zz-gas": 1 + 9, "zz-heat": 1 + 9 + 1}
    for code, n in expected.items():
        catalog = texts(db, code)
        assert len(catalog) == n, code
        assert all(body == "" and not published for _t, body, published in catalog.values())
    assert ("water", "water_quality") in texts(db, "zz-water")
    assert ("heat", "heating_period") in texts(db, "zz-heat")
    assert ("gas", "water_quality") not in texts(db, "zz-gas")
    assert texts(db, "zz-water")[("company", "overview")][0] == "企业概况"

    staff_text = item(db, "zz-water", "water", "prices")
    staff_text.title, staff_text.body, staff_text.published = "我们的水价", "第一阶梯 3.90元", True
    db.session.commit()
    before = {code: texts(db, code) for code in expected}
    counts = load_reference_data()
    assert counts["disclosure_items"] == 0
    assert {code: texts(db, code) for code in expected} == before  # nothing overwritten
    assert before["zz-water"][("water", "prices")] == ("我们的水价", "第一阶梯 3.90元", True)


def test_a_provider_that_gains_a_service_gets_its_catalog(client, db, users):
    sign_in_web(client, users["admin"][0])
    page = client.get("/admin/routing").get_data(as_text=True)
    water = provider(db, "zz-water")
    jinshui = district_id(db, "金水区")
    res = client.post(
        "/admin/routing",
        data={"csrf_token": csrf(page), f"route-gas-{jinshui}": str(water.id)},
    )
    assert res.status_code == 302
    catalog = texts(db, "zz-water")
    # 11 water items as before, and the 9 gas items (no water quality, no heating period)
    assert len(catalog) == 11 + 9
    assert ("gas", "prices") in catalog and ("gas", "water_quality") not in catalog

    page = client.get("/admin/providers").get_data(as_text=True)
    res = client.post(
        "/admin/providers",
        data={"csrf_token": csrf(page), "code": "xm-water", "name": "新密市自来水公司"},
    )
    assert res.status_code == 302
    assert list(texts(db, "xm-water")) == [("company", "overview")]  # no service routed yet


# --- editing by the provider's staff -----------------------------------------------------


def edit(client, code, it, **data):
    page = client.get(f"/disclosure/manage/{code}/items/{it.id}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    form = {"csrf_token": csrf(page), "version": version, "title": it.title, "body": ""}
    form.update(data)
    return client.post(f"/disclosure/manage/{code}/items/{it.id}", data=form)


def button(client, code, it, what, version):
    page = client.get(f"/disclosure/manage/{code}").get_data(as_text=True)
    return client.post(
        f"/disclosure/manage/{code}/items/{it.id}/{what}",
        data={"csrf_token": csrf(page), "version": str(version)},
    )


def test_staff_edit_publish_and_unpublish_with_revisions_and_audit(client, db, users):
    sign_in_web(client, users["water"][0])
    assert (
        client.get("/disclosure/manage").headers["Location"].endswith("/disclosure/manage/zz-water")
    )
    it = item(db, "zz-water", "water", "phones")
    page = client.get(f"/disclosure/manage/zz-water/items/{it.id}").get_data(as_text=True)
    assert "咨询服务电话、报修和救援电话、监督投诉电话" in page  # the catalog's hint

    # publishing an empty item is refused
    res = button(client, "zz-water", it, "publish", 1)
    assert res.status_code == 302
    db.session.refresh(it)
    assert not it.published
    assert "请先填写该项内容再公开" in client.get("/disclosure/manage/zz-water").get_data(
        as_text=True
    )

    res = edit(client, "zz-water", it, body="咨询服务电话：0371-67436789")
    assert res.status_code == 302
    db.session.refresh(it)
    assert it.body == "咨询服务电话：0371-67436789" and it.version == 2
    assert it.updated_by == "water1" and it.updated_at is not None

    assert button(client, "zz-water", it, "publish", 2).status_code == 302
    db.session.refresh(it)
    assert it.published and it.published_at is not None and it.version == 3
    assert button(client, "zz-water", it, "unpublish", 3).status_code == 302
    db.session.refresh(it)
    assert not it.published

    revisions = (
        db.session.execute(
            db.select(DisclosureRevision)
            .where(DisclosureRevision.item_id == it.id)
            .order_by(DisclosureRevision.id)
        )
        .scalars()
        .all()
    )
    assert [(r.action, r.published, r.changed_by) for r in revisions] == [
        ("edit", False, "water1"),
        ("publish", True, "water1"),
        ("unpublish", False, "water1"),
    ]
    assert revisions[0].body == "咨询服务电话：0371-67436789"
    events = (
        db.session.execute(
            db.select(Event).where(Event.action.like("disclosure_%")).order_by(Event.id)
        )
        .scalars()
        .all()
    )
    assert [(e.action, e.actor, e.detail["item_id"]) for e in events] == [
        ("disclosure_edit", "water1", it.id),
        ("disclosure_publish", "water1", it.id),
        ("disclosure_unpublish", "water1", it.id),
    ]
    history = client.get(f"/disclosure/manage/zz-water/items/{it.id}/history")
    html = history.get_data(as_text=True)
    assert history.status_code == 200
    assert html.count("water1") >= 3 and "咨询服务电话：0371-67436789" in html
    assert "已编辑" in html and "取消公开" in html


def test_staff_of_another_provider_are_refused_and_supervisors_only_read(client, db, users, app):
    it = item(db, "zz-water", "water", "prices")
    sign_in_web(client, users["power"][0])
    assert client.get("/disclosure/manage/zz-water").status_code == 403
    assert client.get(f"/disclosure/manage/zz-water/items/{it.id}").status_code == 403
    page = client.get("/disclosure/manage/zz-power").get_data(as_text=True)
    token = csrf(page)
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}",
        data={"csrf_token": token, "version": "1", "title": "x", "body": "y"},
    )
    assert res.status_code == 403
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}/publish",
        data={"csrf_token": token, "version": "1"},
    )
    assert res.status_code == 403
    # the water item under the power provider's own address is not found
    res = client.post(
        f"/disclosure/manage/zz-power/items/{it.id}",
        data={"csrf_token": token, "version": "1", "title": "x", "body": "y"},
    )
    assert res.status_code == 404
    db.session.refresh(it)
    assert it.body == "" and it.version == 1

    client = fresh_client(app, users["supervisor"][0])
    assert client.get("/disclosure/manage").status_code == 200
    assert client.get("/disclosure/manage/zz-water").status_code == 200
    assert client.get(f"/disclosure/manage/zz-water/items/{it.id}/history").status_code == 200
    page = client.get(f"/disclosure/manage/zz-water/items/{it.id}").get_data(as_text=True)
    assert "<textarea" not in page
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}",
        data={"csrf_token": csrf(page), "version": "1", "title": "x", "body": "y"},
    )
    assert res.status_code == 403
    client = fresh_client(app, users["clerk"][0])
    assert client.get("/disclosure/manage/zz-water").status_code == 403


def test_a_stale_edit_is_refused_with_a_message_and_saves_nothing(client, db, users):
    """Two tabs (or two colleagues) opened the item at version 1; the second save is stale."""
    it = item(db, "zz-water", "water", "prices")
    sign_in_web(client, users["water"][0])
    first = client.get(f"/disclosure/manage/zz-water/items/{it.id}").get_data(as_text=True)
    second = client.get(f"/disclosure/manage/zz-water/items/{it.id}").get_data(as_text=True)
    assert 'name="version" type="hidden" value="1"' in second
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}",
        data={"csrf_token": csrf(first), "version": "1", "title": it.title, "body": "水价一"},
    )
    assert res.status_code == 302
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}",
        data={"csrf_token": csrf(second), "version": "1", "title": it.title, "body": "水价二"},
        follow_redirects=True,
    )
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "已有其他人修改了此内容" in html and "水价一" in html  # the current version shown
    db.session.refresh(it)
    assert it.body == "水价一" and it.version == 2
    assert (
        db.session.execute(
            db.select(db.func.count(DisclosureRevision.id)).where(
                DisclosureRevision.item_id == it.id
            )
        ).scalar_one()
        == 1
    )
    # a stale publish button is refused too
    page = client.get("/disclosure/manage/zz-water").get_data(as_text=True)
    res = client.post(
        f"/disclosure/manage/zz-water/items/{it.id}/publish",
        data={"csrf_token": csrf(page), "version": "1"},
        follow_redirects=True,
    )
    assert "已有其他人修改了此内容" in res.get_data(as_text=True)
    db.session.refresh(it)
    assert not it.published


def test_bad_text_is_refused_field_by_field(client, db, users):
    it = item(db, "zz-water", "water", "prices")
    sign_in_web(client, users["water"][0])
    res = edit(client, "zz-water", it, title="  ", body="x" * 20_001)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "必填" in html and "最多20000个字符" in html
    db.session.refresh(it)
    assert it.body == "" and it.version == 1


# --- outage notices -------------------------------------------------------------------------


def outage_form(page: str, **data) -> dict:
    form = {
        "csrf_token": csrf(page),
        "service": "water",
        "planned": "unplanned",
        "title": "爆管停水",
        "area": "花园路12号院",
        "reason": "管道爆裂",
        "starts_at": "2026-11-27T08:00",
        "expected_restore_at": "2026-11-27T18:00",
        "restored_at": "",
    }
    form.update(data)
    return form


def test_outage_notices_are_validated_and_nothing_half_saved(client, db, users, app):
    sign_in_web(client, users["water"][0])
    page = client.get("/disclosure/manage/zz-water/outages/new").get_data(as_text=True)
    res = client.post(
        "/disclosure/manage/zz-water/outages/new",
        data=outage_form(
            page,
            service="gas",  # not a service of the water company
            expected_restore_at="2026-11-27T07:00",
            restored_at="2026-11-27T07:30",
        ),
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "请选择本单位提供的服务" in html
    assert "预计恢复时间不能早于开始时间" in html
    assert "恢复时间不能早于开始时间" in html
    assert "请至少选择一个区域" in html
    res = client.post(
        "/disclosure/manage/zz-water/outages/new",
        data=outage_form(page, starts_at="昨天", districts=[str(district_id(db, "金水区"))]),
    )
    assert "请按 2026-11-27 08:30 的格式填写日期和时间" in res.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(OutageNotice.id))).scalar_one() == 0

    res = client.post(
        "/disclosure/manage/zz-water/outages/new",
        data=outage_form(
            page, districts=[str(district_id(db, "金水区")), str(district_id(db, "郑东新区"))]
        ),
    )
    assert res.status_code == 302
    notice = db.session.execute(db.select(OutageNotice)).scalar_one()
    assert {d.name for d in notice.districts} == {"金水区", "郑东新区"}
    assert not notice.published and not notice.planned and notice.created_by == "water1"
    assert notice.starts_at.isoformat() == "2026-11-27T00:00:00+00:00"  # 08:00 in Zhengzhou
    assert db.session.execute(
        db.select(Event.action).where(Event.action.like("outage_%"))
    ).scalars().all() == ["outage_created"]

    # another provider's staff cannot touch it
    client = fresh_client(app, users["gas"][0])
    page = client.get("/disclosure/manage/zz-gas").get_data(as_text=True)
    res = client.post(
        f"/disclosure/manage/zz-water/outages/{notice.id}/publish",
        data={"csrf_token": csrf(page), "version": "1"},
    )
    assert res.status_code == 403


def add_notice(db, code, service, title, districts, start, expected=None, restored=None, pub=True):
    from jointdesk.disclosure import services as ds
    from jointdesk.models import User

    staff = (
        db.session.execute(
            db.select(User).join(Provider).where(Provider.code == code, User.role == "staff")
        )
        .scalars()
        .first()
    )
    data = ds.OutageInput(
        service=service,
        planned=True,
        title=title,
        starts_at=start,
        expected_restore_at=expected,
        restored_at=restored,
        district_ids=[district_id(db, n) for n in districts],
    )
    notice = ds.save_outage(provider(db, code), data, staff)
    if pub:
        ds.set_outage_published(notice, True, staff, None)
    return notice


@pytest.fixture
def notices(db, users):
    now = utcnow()
    h = timedelta(hours=1)
    return {
        "old_current": add_notice(
            db, "zz-water", "water", "早开始的停水", ["金水区"], now - 30 * h
        ),
        "new_current": add_notice(db, "zz-gas", "gas", "刚开始的停气", ["中原区"], now - 1 * h),
        "soon": add_notice(db, "zz-power", "electricity", "明天停电", ["二七区"], now + 20 * h),
        "later": add_notice(db, "zz-water", "water", "下周停水", ["金水区"], now + 150 * h),
        "restored": add_notice(
            db, "zz-heat", "heat", "昨天已恢复", ["金水区"], now - 50 * h, restored=now - 26 * h
        ),
        "long_ago": add_notice(
            db, "zz-water", "water", "上月停水", ["金水区"], now - 900 * h, restored=now - 899 * h
        ),
        "draft": add_notice(
            db, "zz-water", "water", "未发布的停水", ["金水区"], now - h, pub=False
        ),
    }


def test_public_outages_current_first_then_upcoming_then_recently_restored(client, db, notices):
    from jointdesk.disclosure.services import public_outages

    titles = [n.title for n in public_outages()]
    assert titles == ["刚开始的停气", "早开始的停水", "明天停电", "下周停水", "昨天已恢复"]
    jinshui = district_id(db, "金水区")
    assert [n.title for n in public_outages(district_id=jinshui)] == [
        "早开始的停水",
        "下周停水",
        "昨天已恢复",
    ]
    assert [n.title for n in public_outages(district_id=jinshui, service="water")] == [
        "早开始的停水",
        "下周停水",
    ]
    html = client.get(f"/disclosure/outages?district={jinshui}&service=water").get_data(
        as_text=True
    )
    assert html.index("早开始的停水") < html.index("下周停水")
    assert "刚开始的停气" not in html and "未发布的停水" not in html and "上月停水" not in html
    html = client.get("/disclosure/providers/zz-water").get_data(as_text=True)
    assert "早开始的停水" in html and "未发布的停水" not in html and "正在停供" in html


def test_mark_restored_and_restoration_before_the_start_is_refused(client, db, users, notices, app):
    sign_in_web(client, users["power"][0])
    soon = notices["soon"]
    page = client.get("/disclosure/manage/zz-power").get_data(as_text=True)
    res = client.post(
        f"/disclosure/manage/zz-power/outages/{soon.id}/restore",
        data={"csrf_token": csrf(page), "version": str(soon.version)},
        follow_redirects=True,
    )
    assert "恢复时间不能早于开始时间" in res.get_data(as_text=True)
    db.session.refresh(soon)
    assert soon.restored_at is None

    client = fresh_client(app, users["gas"][0])
    current = notices["new_current"]
    page = client.get("/disclosure/manage/zz-gas").get_data(as_text=True)
    res = client.post(
        f"/disclosure/manage/zz-gas/outages/{current.id}/restore",
        data={"csrf_token": csrf(page), "version": str(current.version)},
    )
    assert res.status_code == 302
    db.session.refresh(current)
    assert current.restored_at is not None
    assert (
        db.session.execute(
            db.select(db.func.count(Event.id)).where(Event.action == "outage_restored")
        ).scalar_one()
        == 1
    )


# --- the public portal and the API -----------------------------------------------------------


def publish(db, code, scope, kind, body):
    from jointdesk.disclosure import services as ds

    it = item(db, code, scope, kind)
    ds.edit_item(it, it.title, body, "test", None)
    ds.set_published(it, True, "test", None)
    return it


def test_public_pages_show_only_published_items(client, db):
    publish(db, "zz-water", "water", "prices", "第一阶梯 3.90元/立方米")
    publish(db, "zz-water", "company", "overview", "郑州市城区供水企业")
    draft = item(db, "zz-water", "water", "phones")
    draft.body = "未公开的电话 0371-00000000"
    db.session.commit()

    html = client.get("/disclosure").get_data(as_text=True)
    assert "郑州自来水投资控股有限公司" in html and "供水" in html
    res = client.get("/disclosure/providers/zz-water")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "第一阶梯 3.90元/立方米" in html and "郑州市城区供水企业" in html
    assert "未公开的电话" not in html
    assert html.index("郑州市城区供水企业") < html.index("第一阶梯 3.90元/立方米")  # company first
    assert client.get("/disclosure/providers/nobody").status_code == 404
    assert "/disclosure" in client.get("/status").get_data(as_text=True)  # linked publicly


def test_api_shape_only_published_and_404(client, db, notices, statements):
    publish(db, "zz-water", "water", "prices", "第一阶梯 3.90元/立方米")
    publish(db, "zz-water", "company", "overview", "郑州市城区供水企业")
    item(db, "zz-water", "water", "phones").body = "未公开"
    db.session.commit()

    res = client.get("/api/v1/providers/zz-water/disclosure")
    assert res.status_code == 200
    body = res.get_json()
    assert body["provider"] == {
        "code": "zz-water",
        "name": "郑州自来水投资控股有限公司",
        "phone": "0371-67436789",
    }
    assert [(i["scope"], i["kind"], i["body"]) for i in body["items"]] == [
        ("company", "overview", "郑州市城区供水企业"),
        ("water", "prices", "第一阶梯 3.90元/立方米"),
    ]
    assert set(body["items"][0]) == {"kind", "scope", "title", "body", "published_at", "updated_at"}
    assert body["items"][1]["title"] == "销售价格、服务价格标准及收费依据"
    assert body["items"][1]["published_at"].endswith("+08:00")
    # current and upcoming published notices: not the draft, not the restored ones
    assert [(o["title"], o["status"]) for o in body["outages"]] == [
        ("早开始的停水", "current"),
        ("下周停水", "upcoming"),
    ]
    first = body["outages"][0]
    assert first["districts"] == [{"name": "金水区", "division_code": "410105"}]
    assert first["service"] == "water" and first["planned"] is True
    assert first["restored_at"] is None

    res = client.get("/api/v1/providers/nobody/disclosure")
    assert res.status_code == 404
    assert res.get_json()["error"]["code"] == "not_found"
    assert set(res.get_json()["error"]) == {"code", "message", "fields"}

    # cheap: the provider, its items, its notices with their districts
    assert len(statements(lambda: client.get("/api/v1/providers/zz-water/disclosure"))) == 3
    assert len(statements(lambda: client.get("/api/v1/providers/nobody/disclosure"))) == 1


def test_the_api_endpoint_is_in_the_openapi_document(client, db):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/providers/{code}/disclosure"]["get"]
    assert op["security"] == [] and {"200", "404", "429"} <= set(op["responses"])
    assert "ProviderDisclosure" in doc["components"]["schemas"]


# --- the applicant's status page ------------------------------------------------------------


def test_the_status_page_shows_a_current_outage_in_the_cases_district(
    app, client, db, users, submit, notices
):
    in_jinshui = submit(services=["water", "electricity"])  # the default address: 金水区
    elsewhere = submit(
        services=["water"], address={"district": "新郑市", "detail": "中华北路 6 号"}
    )
    heat_only = submit(services=["heat"])  # in 金水区, but its heat notice is restored

    def status_page(case):
        page = client.get("/status").get_data(as_text=True)
        return client.post(
            "/status",
            data={
                "csrf_token": csrf(page),
                "reference": case["reference"],
                "code": case["query_code"],
            },
            follow_redirects=True,
        ).get_data(as_text=True)

    html = status_page(in_jinshui)
    assert "您所在区域的停止供应通知" in html and "早开始的停水" in html
    assert "下周停水" not in html and "未发布的停水" not in html  # not current, not published
    assert "早开始的停水" not in status_page(elsewhere)
    assert "您所在区域的停止供应通知" not in status_page(heat_only)


def test_the_demo_fills_and_publishes_the_catalog_without_overwriting(db, users):
    from jointdesk.disclosure.demo import load_demo_disclosure
    from jointdesk.disclosure.services import outage_state

    written = item(db, "zz-gas", "gas", "phones")
    written.body = "咨询电话：0371-96777（工作人员填写）"
    db.session.commit()
    filled, added = load_demo_disclosure()
    assert filled == 42 - 1 and added == 3
    catalog = {code: texts(db, code) for code in ("zz-water", "zz-power", "zz-gas", "zz-heat")}
    assert catalog["zz-gas"][("gas", "phones")][1:] == (
        "咨询电话：0371-96777（工作人员填写）",
        False,
    )
    published = [v for c in catalog.values() for k, v in c.items() if v[2]]
    assert len(published) == 41 and all(body for _t, body, _p in published)
    assert "11月15日至次年3月15日" in catalog["zz-heat"][("heat", "heating_period")][1]
    assert "第一阶梯" in catalog["zz-water"][("water", "prices")][1]
    now = utcnow()
    notices = db.session.execute(db.select(OutageNotice)).scalars().all()
    assert sorted(outage_state(n, now) for n in notices) == ["current", "restored", "upcoming"]
    assert all(n.published and n.districts for n in notices)
    assert load_demo_disclosure() == (0, 0)  # again: nothing more


def test_published_text_is_shown_as_text_never_as_markup(client, db):
    publish(db, "zz-water", "water", "safety", '<script>alert("x")</script>冬季防冻')
    html = client.get("/disclosure/providers/zz-water").get_data(as_text=True)
    assert "&lt;script&gt;" in html and '<script>alert("x")' not in html


def test_a_stale_outage_edit_is_refused(client, db, users, notices):
    later = notices["later"]  # zz-water, version 2 after its publication
    sign_in_web(client, users["water"][0])
    page = client.get(f"/disclosure/manage/zz-water/outages/{later.id}").get_data(as_text=True)
    assert f'name="version" type="hidden" value="{later.version}"' in page
    form = outage_form(
        page,
        title="改过的标题",
        districts=[str(district_id(db, "金水区"))],
        starts_at="2027-01-05T08:00",
        expected_restore_at="2027-01-05T12:00",
        version=str(later.version - 1),
    )
    res = client.post(
        f"/disclosure/manage/zz-water/outages/{later.id}", data=form, follow_redirects=True
    )
    assert "已有其他人修改了此内容" in res.get_data(as_text=True)
    db.session.refresh(later)
    assert later.title == "下周停水"
    form["version"] = str(later.version)
    res = client.post(f"/disclosure/manage/zz-water/outages/{later.id}", data=form)
    assert res.status_code == 302
    db.session.refresh(later)
    assert later.title == "改过的标题" and later.published  # still published
