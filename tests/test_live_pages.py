"""Pages that update by themselves: the case view polls a small stamp and is redrawn only when
it changed; the case view leads with one line per service and names people, not codes."""

import re

import pytest
from conftest import act, sign_in_web

from jointdesk.models import User


@pytest.fixture
def one_water_case(submit, deliver_all):
    data = submit(services=["water"])
    deliver_all()
    return data


def test_the_stamp_changes_when_the_case_changes_and_only_then(client, db, users, one_water_case):
    ref = one_water_case["reference"]
    ticket_id = one_water_case["tickets"][0]["id"]
    sign_in_web(client, users["clerk"][0])

    def stamp():
        res = client.get(f"/cases/{ref}/stamp")
        assert res.status_code == 200
        assert res.headers["Cache-Control"] == "no-store"
        return res.get_json()["stamp"]

    first = stamp()
    assert stamp() == first  # nothing happened: the same stamp
    page = client.get(f"/cases/{ref}").get_data(as_text=True)
    assert f'data-live-stamp="{first}"' in page  # the page is drawn with the stamp it polls
    assert f'data-live="/cases/{ref}/stamp"' in page
    assert act(client, users["water"][1], ticket_id, action="accept").status_code == 200
    second = stamp()
    assert second != first
    assert act(client, users["water"][1], ticket_id, action="connect").status_code == 200
    assert stamp() not in (first, second)


def test_the_stamp_is_for_those_who_may_see_the_case(app, db, users, one_water_case):
    from flask import g

    ref = one_water_case["reference"]

    def get(client, path):
        g.pop("_login_user", None)  # the tests share one app context: no user carried over
        return client.get(path)

    assert get(app.test_client(), f"/cases/{ref}/stamp").status_code == 302  # to sign in
    gas = app.test_client()
    sign_in_web(gas, users["gas"][0])  # gas is not on this water-only case
    assert get(gas, f"/cases/{ref}/stamp").status_code == 404
    water = app.test_client()
    sign_in_web(water, users["water"][0])
    assert get(water, f"/cases/{ref}/stamp").status_code == 200
    assert get(water, "/cases/NO-SUCH-CASE/stamp").status_code == 404


def test_the_stamp_costs_one_small_read(client, users, one_water_case, statements):
    ref = one_water_case["reference"]
    sign_in_web(client, users["clerk"][0])
    client.get(f"/cases/{ref}/stamp")  # warm: the session's first use
    sent = statements(lambda: client.get(f"/cases/{ref}/stamp"))
    case_reads = [s for s in sent if "cases" in s.lower()]
    assert len(case_reads) == 1, sent
    assert len(sent) <= 3, sent  # the session and its user, and the stamp


def test_case_view_leads_with_each_service_and_names_people(
    app, client, db, users, submit, deliver_all
):
    data = submit()  # all four services
    deliver_all()
    water = users["water"][0]
    water.display_name = "供水 张伟"
    db.session.commit()
    water_ticket = next(t["id"] for t in data["tickets"] if t["service"] == "water")
    assert act(client, users["water"][1], water_ticket, action="accept").status_code == 200
    sign_in_web(client, users["clerk"][0])
    page = client.get(f"/cases/{data['reference']}").get_data(as_text=True)
    summary = page.index('class="services-summary"')
    assert summary < page.index("营商环境指标") < page.index('id="fold-timeline"')
    # one line per service, in the summary table
    rows = re.findall(r'<tr id="service-\d+">', page)
    assert len(rows) == 4
    # details are folded: the steps of each service and the indicators
    assert page.count('<details class="card" id="fold-ticket-') == 4
    assert '<details class="card" id="fold-indicators">' in page
    timeline = page[page.index('id="fold-timeline"') :]
    assert "供水 张伟" in timeline  # the person, not the login name
    assert ">water1<" not in timeline
    assert "系统自动处理" in timeline  # the automatic hand-over, not "system"
    assert ">system<" not in timeline
    assert "郑州自来水投资控股有限公司" in timeline and "zz-water" not in timeline
    assert db.session.get(User, water.id).username == "water1"


# --- the applicant's status page: post/redirect/get, remembered, live ------------------------


def _look_up(ui, ref, code, **kwargs):
    from flask import g
    from test_web_ui import csrf_token

    g.pop("csrf_token", None)  # the tests share one app context: each client its own token
    page = ui.get("/status").get_data(as_text=True)
    return ui.post(
        "/status", data={"csrf_token": csrf_token(page), "reference": ref, "code": code}, **kwargs
    )


@pytest.fixture
def ui(app, db):
    """A browser-like client (CSRF on, as in production)."""
    assert app.config.get("WTF_CSRF_ENABLED", True)
    return app.test_client()


def test_the_status_result_has_its_own_address_and_a_refresh_costs_no_lookup(
    app, ui, db, one_water_case
):
    ref, code = one_water_case["reference"], one_water_case["query_code"]
    res = _look_up(ui, ref, code)
    assert res.status_code == 303
    assert res.headers["Location"] == f"/status?reference={ref}"  # the receipt's QR address
    limit = int(app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"].split()[0])
    for _ in range(limit + 2):  # refreshing (or a bookmark) never spends the look-up limit
        page = ui.get(f"/status?reference={ref}")
        assert page.status_code == 200
        assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "张*" in html and ref in html and code not in html  # the code is never echoed
    assert f'data-live="/status/stamp?reference={ref}"' in html
    # another browser (or this one after "forget") gets the form, the reference filled in
    other = app.test_client()
    html = other.get(f"/status?reference={ref}").get_data(as_text=True)
    assert 'name="code"' in html and f'value="{ref}"' in html and "张*" not in html
    assert other.get(f"/status/stamp?reference={ref}").status_code == 404
    # a wrong code is answered on the spot, with no redirect and no grant
    res = _look_up(other, ref, "00000000")
    assert res.status_code == 200 and "没有与该办件编号和查询码匹配的办件" in res.get_data(
        as_text=True
    )
    assert other.get(f"/status/stamp?reference={ref}").status_code == 404


def test_a_new_query_code_ends_what_browsers_remembered(app, ui, db, users, one_water_case):
    from jointdesk.models import Case
    from jointdesk.windows.services import reissue_query_code

    ref, code = one_water_case["reference"], one_water_case["query_code"]
    _look_up(ui, ref, code)
    assert ui.get(f"/status/stamp?reference={ref}").status_code == 200
    case = db.session.execute(db.select(Case).where(Case.reference == ref)).scalar_one()
    reissue_query_code(case, users["clerk"][0])
    db.session.commit()
    assert ui.get(f"/status/stamp?reference={ref}").status_code == 404
    html = ui.get(f"/status?reference={ref}").get_data(as_text=True)
    assert 'name="code"' in html and "张*" not in html


def test_forgetting_on_a_shared_device(ui, db, one_water_case):
    from test_web_ui import csrf_token

    ref, code = one_water_case["reference"], one_water_case["query_code"]
    _look_up(ui, ref, code)
    page = ui.get(f"/status?reference={ref}").get_data(as_text=True)
    assert "张*" in page
    res = ui.post("/status/forget", data={"csrf_token": csrf_token(page)})
    assert res.status_code == 303
    assert "张*" not in ui.get(f"/status?reference={ref}").get_data(as_text=True)


def test_the_status_stamp_follows_the_case(client, ui, db, users, one_water_case):
    ref, code = one_water_case["reference"], one_water_case["query_code"]
    ticket_id = one_water_case["tickets"][0]["id"]
    _look_up(ui, ref, code)
    first = ui.get(f"/status/stamp?reference={ref}").get_json()["stamp"]
    assert act(client, users["water"][1], ticket_id, action="accept").status_code == 200
    assert ui.get(f"/status/stamp?reference={ref}").get_json()["stamp"] != first


def test_a_paused_service_says_why_and_what_the_applicant_must_do(
    client, ui, db, users, submit, deliver_all
):
    case = submit(services=["water", "gas"])
    deliver_all()
    water, gas = (
        next(t["id"] for t in case["tickets"] if t["service"] == s) for s in ("water", "gas")
    )
    for who, tid in (("water", water), ("gas", gas)):
        assert act(client, users[who][1], tid, action="accept").status_code == 200
    res = act(
        client,
        users["water"][1],
        water,
        action="suspend",
        reason_code="applicant_waiting",
        reason="请提供房产证复印件",
    )
    assert res.status_code == 200, res.get_json()
    res = act(
        client,
        users["gas"][1],
        gas,
        action="suspend",
        reason_code="force_majeure",
        reason="内部备注：等施工队",
    )
    assert res.status_code == 200, res.get_json()
    html = _look_up(ui, case["reference"], case["query_code"], follow_redirects=True).get_data(
        as_text=True
    )
    water_card = html[html.index('id="service-water"') : html.index('id="service-gas"')]
    assert "请提供房产证复印件" in water_card and "请联系您的客户代表" in water_card
    gas_card = html[html.index('id="service-gas"') :]
    assert "暂停办理原因" in gas_card and "内部备注" not in gas_card  # staff words stay inside
    # the public API says the same
    api = client.get(f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}")
    tickets = {t["service"]: t for t in api.get_json()["tickets"]}
    assert tickets["water"]["suspend_reason"] == "请提供房产证复印件"
    assert tickets["gas"]["suspend_reason_code"] == "force_majeure"
    assert "suspend_reason" not in tickets["gas"]


def test_a_remembered_look_up_rates_without_sending_the_code_again(
    client, ui, db, users, one_water_case
):
    import re

    from jointdesk.models import Rating

    ref, code = one_water_case["reference"], one_water_case["query_code"]
    ticket_id = one_water_case["tickets"][0]["id"]
    for action in ("accept", "connect"):
        assert act(client, users["water"][1], ticket_id, action=action).status_code == 200
    html = _look_up(ui, ref, code, follow_redirects=True).get_data(as_text=True)
    assert code not in html  # the rating form does not carry the code either
    token = re.search(
        r'id="water-csrf_token" name="water-csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert token, html[:3000]
    res = ui.post(
        "/status/rating/water",
        data={
            "water-csrf_token": token.group(1),
            "water-reference": ref,
            "water-code": "",
            "water-level": "5",
            "water-comment": "",
        },
    )
    assert res.status_code == 303
    assert db.session.execute(db.select(Rating.level)).scalar_one() == 5
    # a browser that never proved the case cannot rate it
    from flask import g

    g.pop("csrf_token", None)
    other = ui.application.test_client()
    page = other.get("/status").get_data(as_text=True)
    other_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    res = other.post(
        "/status/rating/water",
        data={"water-csrf_token": other_token, "water-reference": ref, "water-level": "1"},
    )
    assert res.status_code in (400, 404)
    assert db.session.execute(db.select(db.func.count(Rating.id))).scalar_one() == 1


def test_admin_dashboard_counts_open_at_risk_and_overdue_work_with_links(
    client, db, users, submit, deliver_all
):
    import re
    from datetime import timedelta

    from jointdesk.models import Ticket
    from jointdesk.models.types import utcnow

    case = submit()  # one ticket for each of the four providers
    submit(services=["water"])
    deliver_all()
    tickets = {t["service"]: t["id"] for t in case["tickets"]}
    water = db.session.get(Ticket, tickets["water"])
    water.due_at = utcnow() - timedelta(hours=1)  # past its due time: overdue
    db.session.get(Ticket, tickets["gas"]).sla_state = "at_risk"
    db.session.commit()
    sign_in_web(client, users["admin"][0])
    page = client.get("/admin/").get_data(as_text=True)
    table = page[page.index('class="open-work"') :]
    table = table[: table.index("</table>")]
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S)
    }
    water_row = rows["郑州自来水投资控股有限公司"]
    assert ">2</a>" in water_row  # two open water tickets, linked to the provider's queue
    assert 'href="/desk/?provider=zz-water&amp;overdue=1"' in water_row and ">1</a>" in water_row
    gas_row = rows["郑州华润燃气股份有限公司"]
    assert 'light-at_risk">1<' in gas_row
    assert re.search(
        r"<th>5</th><th>1</th><th>1</th>", table
    )  # totals: 5 open, 1 at risk, 1 overdue


def test_a_rate_limited_look_up_says_how_long_to_wait_and_keeps_what_was_typed(app, ui, db):
    from flask import g
    from test_web_ui import csrf_token

    app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "2 per minute"
    try:
        g.pop("csrf_token", None)
        page = ui.get("/status").get_data(as_text=True)
        data = {"csrf_token": csrf_token(page), "reference": "ZZ20261127ABCDEF", "code": "1234567"}
        assert [ui.post("/status", data=data).status_code for _ in range(2)] == [200, 200]
        res = ui.post("/status", data=data)
        assert res.status_code == 429
        wait = int(res.headers["Retry-After"])
        assert 0 < wait <= 60
        html = res.get_data(as_text=True)
        assert "请求过于频繁" in html and "秒后再试" in html  # the wait, in words
        assert 'value="ZZ20261127ABCDEF"' in html and 'value="1234567"' in html  # kept
        assert 'name="csrf_token"' in html  # the form itself, ready to send again
    finally:
        app.config["JOINTDESK_PUBLIC_LOOKUP_LIMIT"] = "10 per minute;100 per hour"


def test_the_queue_page_and_its_stamp_agree_and_move_with_the_work(
    client, db, users, submit, deliver_all, statements
):
    import re

    first = submit(services=["water"])
    deliver_all()
    sign_in_web(client, users["water"][0])
    page = client.get("/desk/").get_data(as_text=True)
    drawn = re.search(r'data-live="([^"]+)" data-live-stamp="([^"]+)"', page)
    url, stamp = drawn.group(1).replace("&amp;", "&"), drawn.group(2)
    assert url.startswith("/desk/stamp")
    assert client.get(url).get_json()["stamp"] == stamp  # the page and its stamp agree
    # a filtered page polls with its own filters
    page = client.get("/desk/?status=all&overdue=0").get_data(as_text=True)
    filtered = re.search(r'data-live="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "status=all" in filtered and "overdue=0" in filtered
    ticket_id = first["tickets"][0]["id"]
    assert act(client, users["water"][1], ticket_id, action="accept").status_code == 200
    moved = client.get(url).get_json()["stamp"]
    assert moved != stamp  # a ticket on the page changed
    submit(services=["water"])
    deliver_all()
    assert client.get(url).get_json()["stamp"] != moved  # a new ticket arrived
    sent = statements(lambda: client.get(url))
    assert len(sent) <= 5, sent  # session and user, the page's rows, the total


def test_the_queue_stamp_is_scoped_like_the_queue(app, db, users):
    from flask import g

    gas = app.test_client()
    sign_in_web(gas, users["gas"][0])
    g.pop("_login_user", None)
    # staff see their own provider's queue whatever they ask for
    assert gas.get("/desk/stamp?provider=zz-water").status_code == 200
    g.pop("_login_user", None)
    clerk = app.test_client()
    sign_in_web(clerk, users["clerk"][0])
    assert clerk.get("/desk/stamp").status_code == 403
