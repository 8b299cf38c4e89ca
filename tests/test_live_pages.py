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
