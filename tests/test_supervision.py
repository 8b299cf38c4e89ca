"""Supervision (监管): disclosure compliance, the month's figures and scores on the working
calendar (dashboard, summary API, exports), weights, closed months, correction orders, roles."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from conftest import act, application_body, at, sign_in_web

from jointdesk.models import Provider, Ticket
from jointdesk.models.disclosure import DisclosureItem, DisclosureRevision
from jointdesk.models.feedback import Complaint, Rating
from jointdesk.models.supervision import CorrectionOrder, EvaluationScore
from jointdesk.policy import disclosure as catalog

MONTH = "2026-11"


@pytest.fixture(autouse=True)
def no_catalog(db):
    """These tests write each provider's catalog themselves, item by item: they start without
    the empty one ``jointdesk init`` (the ``db`` fixture) creates."""
    db.session.execute(db.delete(DisclosureRevision))
    db.session.execute(db.delete(DisclosureItem))
    db.session.commit()


@pytest.fixture
def sclock(clock, monkeypatch):
    """The services' clock, also for the supervision modules."""
    import jointdesk.supervision.compliance
    import jointdesk.supervision.evaluation
    import jointdesk.supervision.orders
    import jointdesk.supervision.performance
    import jointdesk.supervision.views

    for module in (
        jointdesk.supervision.compliance,
        jointdesk.supervision.evaluation,
        jointdesk.supervision.orders,
        jointdesk.supervision.performance,
        jointdesk.supervision.views,
    ):
        monkeypatch.setattr(module, "utcnow", clock)
    return clock


@pytest.fixture
def csrf_on(app):
    before = app.config.get("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = before


def _forget_user():
    """The tests run inside one app context whose ``g`` every request shares: forget the
    user and CSRF token the last request (maybe of another client) left there."""
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def signed_in(app, user):
    _forget_user()
    client = app.test_client()
    sign_in_web(client, user)
    original = client.open

    def open_as_this_user(*args, **kwargs):
        _forget_user()
        return original(*args, **kwargs)

    client.open = open_as_this_user
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def provider_id(db, code: str) -> int:
    return db.session.execute(db.select(Provider.id).where(Provider.code == code)).scalar_one()


def fill_catalog(db, code: str, moment, skip: tuple = ()) -> list[tuple[str, str]]:
    """Every mandatory item of the provider (water only) filled and published at ``moment``,
    except the (scope, kind) pairs in ``skip``; returns the mandatory pairs."""
    pid = provider_id(db, code)
    pairs = [(scope, item.kind) for scope, item in catalog.mandatory_items(["water"])]
    for scope, kind in pairs:
        if (scope, kind) in skip:
            continue
        db.session.add(
            DisclosureItem(
                provider_id=pid,
                scope=scope,
                kind=kind,
                title=catalog.BY_KIND[kind].title,
                body="已公开的内容",
                published=True,
                published_at=moment,
                created_at=moment,
                updated_at=moment,
                updated_by="water1",
            )
        )
    db.session.commit()
    return pairs


# --- disclosure compliance -------------------------------------------------------------------


def test_missing_item_named_then_cleared_and_stale_counted(app, db, users, sclock):
    from jointdesk.supervision.compliance import compliance_of

    sclock.set(at(2026, 11, 20, 10, 0))
    pid = provider_id(db, "zz-water")
    created = at(2026, 11, 1, 9, 0)
    pairs = fill_catalog(db, "zz-water", created, skip=(("water", "water_quality"),))
    assert len(pairs) == 11  # 企业概况 + ten items of the water service
    c = compliance_of(pid)
    assert [(f.kind, f.problem) for f in c.failing] == [("water_quality", "missing")]
    assert c.failing[0].title == "水质信息"
    assert (c.mandatory, c.compliant, c.score) == (11, 10, round(100 * 10 / 11))
    # the catalog was created on 1 November: online by 11 November; passed and not compliant
    assert c.deadline == created + timedelta(days=catalog.PUBLISH_DEADLINE_DAYS)
    assert c.overdue is True

    # the item exists but is empty, then filled but unpublished, then published: compliant
    item = DisclosureItem(
        provider_id=pid,
        scope="water",
        kind="water_quality",
        title="水质信息",
        body="",
        created_at=created,
    )
    db.session.add(item)
    db.session.commit()
    assert [f.problem for f in compliance_of(pid).failing] == ["missing"]
    item.body = "出厂水浊度 0.1 NTU，每日检测"
    item.updated_at = sclock()
    db.session.commit()
    assert [f.problem for f in compliance_of(pid).failing] == ["unpublished"]
    item.published, item.published_at = True, sclock()
    db.session.commit()
    c = compliance_of(pid)
    assert c.failing == [] and c.score == 100 and c.overdue is False

    # a year and a day later everything that was not updated is stale
    sclock.set(at(2027, 11, 21, 10, 0))
    c = compliance_of(pid)
    assert {f.problem for f in c.failing} == {"stale"} and len(c.failing) == 11
    assert c.score == 0

    # the page names the failing item in Chinese and offers a prefilled order
    sclock.set(at(2026, 11, 20, 10, 0))
    item.body = ""
    db.session.commit()
    page = signed_in(app, users["supervisor"][0]).get("/supervision/compliance")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "供水 · 水质信息（缺失）" in html
    form = signed_in(app, users["supervisor"][0]).get(f"/supervision/orders/new?provider={pid}")
    assert "水质信息" in form.get_data(as_text=True)


# --- the month's figures by hand ---------------------------------------------------------------


@pytest.fixture
def month_cases(client, db, users, sclock, deliver_all):
    """Water cases without external works (limits: 0.5 working day a step = 3.5 h, 1 day in
    all = 7 h; office 09:00-12:00 and 13:00-17:00):

    A on time; B connected after its due time; F within the total but its first step over
    its limit; C still open and overdue; a gas ticket returned; an October water case.
    """
    staff = users["water"][1]

    def new_case(moment, services=("water",)):
        sclock.set(moment)
        body = application_body(services=list(services))
        body["project"].update({"external_works": False, "pipeline_length_m": None})
        res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
        assert res.status_code == 201, res.get_json()
        deliver_all()
        return res.get_json()["tickets"][0]["id"]

    def step(moment, ticket, action, headers=staff):
        sclock.set(moment)
        res = act(client, headers, ticket, action=action)
        assert res.status_code == 200, res.get_json()

    a = new_case(at(2026, 11, 23, 9, 0))
    step(at(2026, 11, 23, 10, 0), a, "accept")
    step(at(2026, 11, 23, 11, 0), a, "connect")
    b = new_case(at(2026, 11, 23, 9, 0))
    step(at(2026, 11, 23, 9, 30), b, "accept")
    step(at(2026, 11, 24, 15, 0), b, "connect")  # 11.5 h for the second step
    f = new_case(at(2026, 11, 23, 9, 0))
    step(at(2026, 11, 23, 14, 0), f, "accept")  # 4 h: over the step's 3.5 h
    step(at(2026, 11, 23, 14, 30), f, "connect")  # 4.5 h in all: within the 7 h
    c = new_case(at(2026, 11, 25, 9, 0))
    step(at(2026, 11, 25, 9, 30), c, "accept")  # due 26 November 09:00, still open
    g = new_case(at(2026, 11, 23, 9, 0), services=("gas",))
    sclock.set(at(2026, 11, 23, 9, 30))
    res = act(client, users["gas"][1], g, action="return", reason="不在管网覆盖范围内")
    assert res.status_code == 200
    october = new_case(at(2026, 10, 20, 9, 0))
    step(at(2026, 10, 20, 10, 0), october, "accept")
    step(at(2026, 10, 20, 11, 0), october, "connect")

    water = provider_id(db, "zz-water")
    gas = provider_id(db, "zz-gas")
    ticket_a = db.session.get(Ticket, a)
    for level, moment in (
        (5, at(2026, 11, 24, 9)),
        (4, at(2026, 11, 25, 9)),
        (1, at(2026, 11, 26, 9)),
    ):
        db.session.add(
            Rating(
                case_id=ticket_a.case_id,
                ticket_id=a,
                provider_id=water,
                service_code="water",
                round={5: 1, 4: 2, 1: 3}[level],
                level=level,
                channel="online",
                created_at=moment,
            )
        )
    for n, moment in enumerate((at(2026, 11, 5, 9), at(2026, 11, 6, 9), at(2026, 10, 6, 9))):
        db.session.add(
            Complaint(
                reference=f"TS{n}",
                query_code_hash="x" * 64,
                channel="online",
                provider_id=water,
                complainant_name="李四",
                complainant_phone="13900000000",
                subject="报装慢",
                body="等了很久",
                due_at=moment + timedelta(days=5),
                created_at=moment,
            )
        )
    db.session.commit()
    fill_catalog(db, "zz-water", at(2026, 11, 1, 9, 0), skip=(("water", "water_quality"),))
    sclock.set(at(2026, 11, 27, 10, 0))
    return {"a": a, "b": b, "c": c, "f": f, "g": g, "water": water, "gas": gas}


# by hand, with the default weights 30/40/20/10:
# water: tickets A B F C = 4, completed A B F = 3, on time A = 1, overdue open C = 1,
#        on-time rate 1 / (3 + 1) = 25 %; 10 of 11 items: disclosure round(90.9) = 91;
#        ratings 3, one 差评: satisfaction 2/3 = 66.67 %; 2 complaints in November: 80;
#        score (30×91 + 40×25 + 20×66.67 + 10×80) / 100 = 58.63
# gas:   1 ticket returned; nothing judged: on time and satisfaction count 100; no catalog: 0;
#        score (0 + 40×100 + 20×100 + 10×100) / 100 = 70
WATER = {
    "provider": "zz-water",
    "tickets": 4,
    "completed": 3,
    "on_time": 1,
    "on_time_rate": 25.0,
    "overdue_open": 1,
    "disclosure_score": 91,
    "complaints": 2,
    "ratings": 3,
    "bad_ratings": 1,
    "satisfaction": 66.67,
    "score": 58.63,
}
GAS = {
    "provider": "zz-gas",
    "tickets": 1,
    "completed": 0,
    "on_time": 0,
    "on_time_rate": None,
    "overdue_open": 0,
    "disclosure_score": 0,
    "complaints": 0,
    "ratings": 0,
    "bad_ratings": 0,
    "satisfaction": None,
    "score": 70.0,
}


def pick(items, code):
    found = next(i for i in items if i["provider"] == code)
    return {k: found[k] for k in WATER}


def test_summary_figures_equal_the_hand_count(app, db, client, users, month_cases):
    from jointdesk.sla import within_limit
    from jointdesk.workingtime import working_calendar

    # the on-time judgement agrees with the case view's definition, ticket by ticket
    calendar = working_calendar()
    now = at(2026, 11, 27, 10, 0)
    judged = {
        k: within_limit(db.session.get(Ticket, month_cases[k]), now, calendar)
        for k in ("a", "b", "f")
    }
    assert judged == {"a": True, "b": False, "f": False}
    # stored when each connected, and the bulk restatement (after a bench load) agrees
    stored = {k: db.session.get(Ticket, month_cases[k]).on_time for k in ("a", "b", "f", "c")}
    assert stored == {**judged, "c": None}
    from jointdesk.sla import store_on_time_all

    db.session.execute(db.update(Ticket).values(on_time=None))
    assert store_on_time_all() == 4  # the October one too
    db.session.commit()
    db.session.expire_all()
    assert {k: db.session.get(Ticket, month_cases[k]).on_time for k in ("a", "b", "f")} == judged

    res = client.get(f"/api/v1/supervision/summary?month={MONTH}", headers=users["admin"][1])
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["month"] == MONTH and body["closed"] is False
    assert body["weights"] == {"disclosure": 30, "on_time": 40, "ratings": 20, "complaints": 10}
    assert pick(body["items"], "zz-water") == WATER
    assert pick(body["items"], "zz-gas") == GAS
    power = pick(body["items"], "zz-power")
    assert (power["tickets"], power["score"]) == (0, 70.0)
    october = client.get(
        "/api/v1/supervision/summary?month=2026-10", headers=users["supervisor"][1]
    ).get_json()
    water_oct = pick(october["items"], "zz-water")
    assert (water_oct["tickets"], water_oct["on_time"], water_oct["complaints"]) == (1, 1, 1)

    # the dashboard shows the same figures
    page = signed_in(app, users["supervisor"][0]).get(f"/supervision/?month={MONTH}")
    html = page.get_data(as_text=True)
    row = re.search(r'<tr class="provider-zz-water">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert [re.sub(r"<[^>]+>", "", c) for c in cells[1:]] == [
        "4",
        "3",
        "1",
        "25%",
        "1",
        "91",
        "2",
        "3",
        "1",
        "66.67%",
        "58.63",
    ]
    assert "30% × " in html  # the formula next to the scores


def test_performance_tables_and_indicators(app, db, users, month_cases):
    from jointdesk.supervision import performance

    by_service = {
        r["key"]: r for r in performance.on_time_rows(MONTH, "service", at(2026, 11, 27, 10))
    }
    assert (by_service["water"]["tickets"], by_service["water"]["on_time"]) == (4, 1)
    assert (by_service["gas"]["returned"], by_service["gas"]["completed"]) == (1, 0)
    by_district = performance.on_time_rows(MONTH, "district", at(2026, 11, 27, 10))
    assert [(r["name"], r["tickets"]) for r in by_district] == [("金水区", 5)]
    tables = performance.on_time_tables(MONTH, at(2026, 11, 27, 10))  # one pass, same rows
    assert tables["district"] == by_district
    assert tables["service"] == list(by_service.values())
    assert tables["provider"] == performance.on_time_rows(MONTH, "provider", at(2026, 11, 27, 10))
    steps = {r["step"]: r for r in performance.step_rows(MONTH) if r["code"] == "zz-water"}
    # first steps ended: A 1 h, B 0.5 h, F 4 h, C 0.5 h; second steps: A 1 h, B 11.5 h, F 0.5 h
    assert steps["accept"]["steps"] == 4 and steps["accept"]["within"] == 3
    assert steps["accept"]["max_days"] == round(4 / 7, 2)
    assert steps["accept"]["avg_days"] == round(6 / 4 / 7, 2)
    assert steps["connect"]["steps"] == 3 and steps["connect"]["within"] == 2
    assert steps["connect"]["max_days"] == round(11.5 / 7, 2)
    now = performance.tickets_now(at(2026, 11, 27, 10))
    assert [r["id"] for r in now["overdue"]] == [month_cases["c"]] and now["overdue_count"] == 1
    ind = performance.indicators(MONTH)
    assert ind["cases"] == 5 and ind["steps"] == 2 and ind["trips"] == 1 and ind["materials"] == 1
    assert ind["connected"] == 3 and ind["within_limit"] == 1
    # working days per connected ticket: A 2 h, B 12 h, F 4.5 h → 18.5 h / 3 / 7 h
    assert ind["working_days"] == round(18.5 / 3 / 7, 2)
    assert ind["four_zero"] == 0  # window cases: a material and a trip
    page = signed_in(app, users["admin"][0]).get(f"/supervision/performance?month={MONTH}")
    assert page.status_code == 200
    assert 'href="/cases/' in page.get_data(as_text=True)


def test_exports_open_and_hold_the_figures(app, users, month_cases):
    client = signed_in(app, users["supervisor"][0])
    res = client.get(f"/supervision/export/summary.csv?month={MONTH}")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    water = next(r for r in rows if r[0] == "zz-water")
    assert water[2:] == ["4", "3", "1", "25.0", "1", "91", "2", "3", "1", "66.67", "58.63"]
    from openpyxl import load_workbook

    res = client.get(f"/supervision/export/summary.xlsx?month={MONTH}")
    assert res.status_code == 200
    sheet = load_workbook(io.BytesIO(res.get_data())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    water = next(r for r in values if r[0] == "zz-water")
    assert water[2:] == [4, 3, 1, 25.0, 1, 91, 2, 3, 1, 66.67, 58.63]
    for table in (
        "compliance",
        "on-time-provider",
        "on-time-service",
        "on-time-district",
        "trend",
        "steps",
        "indicators",
        "tickets-now",
        "orders",
    ):
        for fmt in ("csv", "xlsx"):
            assert client.get(f"/supervision/export/{table}.{fmt}?month={MONTH}").status_code == 200
    trend = client.get(f"/supervision/export/trend.csv?month={MONTH}").get_data(as_text=True)
    assert "2026-10,1,1,1,0,100.0" in trend and "2026-11,5,3,1,1,25.0" in trend
    assert (
        signed_in(app, users["water"][0]).get("/supervision/export/summary.csv").status_code == 403
    )


# --- weights and closed months -------------------------------------------------------------


def test_weights_are_validated_and_append_only(db, users):
    from jointdesk.policy.supervision import weight_problems
    from jointdesk.supervision import evaluation

    assert weight_problems({"disclosure": 30, "on_time": 40, "ratings": 20, "complaints": 10}) == {}
    assert weight_problems({"disclosure": 30, "on_time": 40, "ratings": 20, "complaints": 11}) == {
        "total": "sum"
    }
    assert (
        weight_problems({"disclosure": 30.5, "on_time": 40, "ratings": 20, "complaints": 10})[
            "disclosure"
        ]
        == "integer"
    )
    assert weight_problems({"disclosure": -10, "on_time": 110, "ratings": 0, "complaints": 0}) == {
        "disclosure": "integer",
        "on_time": "integer",
    }
    with pytest.raises(evaluation.WeightsInvalid):
        evaluation.set_weights(
            {"disclosure": 50, "on_time": 50, "ratings": 50, "complaints": 0}, users["admin"][0]
        )
    assert evaluation.current_weights()["on_time"] == 40  # nothing half-saved
    assert evaluation.set_weights(
        {"disclosure": 25, "on_time": 25, "ratings": 25, "complaints": 25}, users["admin"][0]
    )
    assert evaluation.current_weights() == dict.fromkeys(
        ("disclosure", "on_time", "ratings", "complaints"), 25
    )
    assert len(evaluation.weights_history()) == 1


def test_weights_form_field_by_field_and_admin_only(app, db, users, csrf_on):
    admin = signed_in(app, users["admin"][0])
    token = csrf(admin.get("/supervision/weights").get_data(as_text=True))
    res = admin.post(
        "/supervision/weights",
        data={
            "csrf_token": token,
            "disclosure": "abc",
            "on_time": "40",
            "ratings": "20",
            "complaints": "10",
        },
    )
    assert res.status_code == 200 and "0 到 100 的整数" in res.get_data(as_text=True)
    res = admin.post(
        "/supervision/weights",
        data={
            "csrf_token": token,
            "disclosure": "30",
            "on_time": "40",
            "ratings": "20",
            "complaints": "20",
        },
    )
    assert "合计必须为 100" in res.get_data(as_text=True)
    res = admin.post(
        "/supervision/weights",
        data={
            "csrf_token": token,
            "disclosure": "20",
            "on_time": "50",
            "ratings": "20",
            "complaints": "10",
        },
    )
    assert res.status_code == 302
    sup = signed_in(app, users["supervisor"][0])
    token = csrf(sup.get("/supervision/weights").get_data(as_text=True))
    res = sup.post(
        "/supervision/weights",
        data={
            "csrf_token": token,
            "disclosure": "25",
            "on_time": "25",
            "ratings": "25",
            "complaints": "25",
        },
    )
    assert res.status_code == 403


def test_closed_month_is_frozen_and_closes_once(app, db, client, users, month_cases, sclock):
    from jointdesk.supervision import evaluation

    with pytest.raises(evaluation.CloseRefused) as refused:
        evaluation.close_month(MONTH, users["admin"][0])  # 27 November: not over
    assert refused.value.reason == "not_over"
    sclock.set(at(2026, 12, 1, 9, 0))
    closed = evaluation.close_month(MONTH, users["admin"][0])
    assert closed["closed"] is True and pick(closed["items"], "zz-water") == WATER
    with pytest.raises(evaluation.CloseRefused) as refused:
        evaluation.close_month(MONTH, users["admin"][0])
    assert refused.value.reason == "already_closed"
    # data and weights change afterwards: the closed month does not
    water = month_cases["water"]
    db.session.add(
        Complaint(
            reference="LATE1",
            query_code_hash="y" * 64,
            channel="hotline",
            provider_id=water,
            complainant_name="王五",
            complainant_phone="13700000000",
            subject="迟到",
            body="晚",
            due_at=at(2026, 11, 30, 9),
            created_at=at(2026, 11, 29, 9),
        )
    )
    db.session.commit()
    evaluation.set_weights(
        {"disclosure": 25, "on_time": 25, "ratings": 25, "complaints": 25}, users["admin"][0]
    )
    body = client.get(f"/api/v1/supervision/summary?month={MONTH}", headers=users["admin"][1])
    body = body.get_json()
    assert body["closed"] is True
    assert body["weights"] == {"disclosure": 30, "on_time": 40, "ratings": 20, "complaints": 10}
    assert pick(body["items"], "zz-water") == WATER
    assert float(db.session.get(EvaluationScore, (MONTH, water)).score) == 58.63
    # an open month is live: October now counts with the new weights
    october = client.get("/api/v1/supervision/summary?month=2026-10", headers=users["admin"][1])
    assert october.get_json()["weights"]["on_time"] == 25
    # the web button: a second close is refused with a message
    admin = signed_in(app, users["admin"][0])
    token = csrf(admin.get(f"/supervision/?month={MONTH}").get_data(as_text=True))
    res = admin.post(
        "/supervision/close", data={"month": MONTH, "csrf_token": token}, follow_redirects=True
    )
    assert "已经结算" in res.get_data(as_text=True)
    from jointdesk.models import Event

    actions = db.session.execute(db.select(Event.action)).scalars().all()
    assert actions.count("evaluation_month_closed") == 1


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "26-11", "2026-1", "abc", "", "2026-11-01", "1999-12"]
)
def test_bad_month_is_422(client, users, month):
    res = client.get(f"/api/v1/supervision/summary?month={month}", headers=users["admin"][1])
    assert res.status_code == 422
    assert res.get_json()["error"]["code"] == "invalid"
    assert "month" in res.get_json()["error"]["fields"]


def test_summary_roles(client, users):
    url = f"/api/v1/supervision/summary?month={MONTH}"
    assert client.get(url).status_code == 401
    for role in ("clerk", "water", "integration"):
        assert client.get(url, headers=users[role][1]).status_code == 403
    for role in ("supervisor", "admin"):
        assert client.get(url, headers=users[role][1]).status_code == 200


def test_pages_role_checked(app, users):
    for role, code in (("clerk", 403), ("water", 403), ("supervisor", 200), ("admin", 200)):
        c = signed_in(app, users[role][0])
        for url in (
            "/supervision/",
            "/supervision/compliance",
            "/supervision/performance",
            "/supervision/orders/new",
        ):
            assert c.get(url).status_code == code, (role, url)
    assert signed_in(app, users["water"][0]).get("/supervision/orders").status_code == 200
    assert signed_in(app, users["clerk"][0]).get("/supervision/orders").status_code == 403


# --- correction orders -------------------------------------------------------------------


def test_correction_order_flow(app, db, users, sclock, csrf_on):
    sclock.set(at(2026, 11, 20, 10, 0))
    water = provider_id(db, "zz-water")
    sup = signed_in(app, users["supervisor"][0])
    token = csrf(sup.get(f"/supervision/orders/new?provider={water}").get_data(as_text=True))
    # field by field, nothing saved
    res = sup.post(
        "/supervision/orders/new",
        data={
            "csrf_token": token,
            "provider": str(water),
            "subject": " ",
            "deadline": "2026-11-01",
        },
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "必填" in html and "期限不能早于今天" in html
    assert db.session.execute(db.select(CorrectionOrder)).first() is None
    res = sup.post(
        "/supervision/orders/new",
        data={
            "csrf_token": token,
            "provider": str(water),
            "subject": "补全水质信息",
            "detail": "供水 · 水质信息（缺失）",
            "deadline": "2026-11-25",
        },
    )
    assert res.status_code == 302
    order = db.session.execute(db.select(CorrectionOrder)).scalar_one()
    oid, version = order.id, order.version
    # staff of another provider see nothing of it; the clerk neither
    gas = signed_in(app, users["gas"][0])
    assert gas.get(f"/supervision/orders/{oid}").status_code == 404
    assert "补全水质信息" not in gas.get("/supervision/orders").get_data(as_text=True)
    assert signed_in(app, users["clerk"][0]).get(f"/supervision/orders/{oid}").status_code == 403
    # the provider's staff answer
    staff = signed_in(app, users["water"][0])
    page = staff.get(f"/supervision/orders/{oid}").get_data(as_text=True)
    assert "补全水质信息" in page
    token = csrf(page)
    res = staff.post(
        f"/supervision/orders/{oid}",
        data={
            "csrf_token": token,
            "what": "answer",
            "a-version": str(version),
            "a-answer": "已补全",
        },
    )
    assert res.status_code == 302
    db.session.expire_all()
    order = db.session.get(CorrectionOrder, oid)
    assert order.status == "answered" and order.answered_by == "water1"
    # a stale second answer (the version seen before) is refused with a message
    res = staff.post(
        f"/supervision/orders/{oid}",
        data={"csrf_token": token, "what": "answer", "a-version": str(version), "a-answer": "再答"},
        follow_redirects=True,
    )
    assert "其他人刚刚修改了" in res.get_data(as_text=True)
    # staff may not close it
    res = staff.post(
        f"/supervision/orders/{oid}",
        data={"csrf_token": token, "what": "close", "r-version": str(order.version)},
    )
    assert res.status_code == 403
    # the supervisor sends it back (a note is required), then the deadline passes
    token = csrf(sup.get(f"/supervision/orders/{oid}").get_data(as_text=True))
    res = sup.post(
        f"/supervision/orders/{oid}",
        data={"csrf_token": token, "what": "send_back", "r-version": str(order.version)},
    )
    assert res.status_code == 200 and "必填" in res.get_data(as_text=True)
    res = sup.post(
        f"/supervision/orders/{oid}",
        data={
            "csrf_token": token,
            "what": "send_back",
            "r-version": str(order.version),
            "r-note": "未附检测报告",
        },
    )
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(CorrectionOrder, oid).status == "open"
    sclock.set(at(2026, 11, 26, 10, 0))
    listing = sup.get("/supervision/orders").get_data(as_text=True)
    assert 'class="order overdue"' in listing
    dashboard = sup.get("/supervision/").get_data(as_text=True)
    assert "1 项责令改正已超过期限" in dashboard
    order = db.session.get(CorrectionOrder, oid)
    staff_token = csrf(staff.get(f"/supervision/orders/{oid}").get_data(as_text=True))
    res = staff.post(
        f"/supervision/orders/{oid}",
        data={
            "csrf_token": staff_token,
            "what": "answer",
            "a-version": str(order.version),
            "a-answer": "已附检测报告",
        },
    )
    assert res.status_code == 302
    db.session.expire_all()
    order = db.session.get(CorrectionOrder, oid)
    res = sup.post(
        f"/supervision/orders/{oid}",
        data={"csrf_token": token, "what": "close", "r-version": str(order.version)},
    )
    assert res.status_code == 302
    db.session.expire_all()
    assert db.session.get(CorrectionOrder, oid).status == "closed"
    assert 'class="order overdue"' not in sup.get("/supervision/orders").get_data(as_text=True)
    from jointdesk.models import Event

    actions = db.session.execute(db.select(Event.action).order_by(Event.id)).scalars().all()
    assert [a for a in actions if a.startswith("correction_order")] == [
        "correction_order_issued",
        "correction_order_answered",
        "correction_order_sent_back",
        "correction_order_answered",
        "correction_order_closed",
    ]
