"""Issue 7 item 11: providers' published prices and charging basis price the cost indicator.

The policy makes providers publish them: "燃气经营者应当公示业务流程、服务承诺、收费标准和服务热线等
信息"; "公开公示用水用气价格、收费依据、标准等,清理规范不合理收费"; each trade publishes its
"维修及相关服务价格标准,有关收费依据". Its cost rules: "对用户已经交纳专项配套费的新建项目,实行
“零收费”" and "社会投资简易低风险房屋建筑建设项目建筑边界外用水用气“零投资”".
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sign_in_web

from jointdesk.models import Event, Provider

ROOT = Path(__file__).resolve().parent.parent

PRICES = {  # connection fee, yuan per metre outside the building boundary
    "zz-water": ("300", "180"),
    "zz-gas": ("2600", "220"),
    "zz-heat": ("0", "350"),
}  # zz-power publishes nothing here
BASIS = "郑发改价管〔2026〕1号（测试）"


@pytest.fixture
def priced(db):
    from jointdesk.routing.prices import parse_prices, set_prices

    for code, (fee, per_metre) in PRICES.items():
        provider = db.session.execute(db.select(Provider).where(Provider.code == code)).scalar_one()
        values = {"connection_fee": fee, "price_per_metre": per_metre, "price_basis": BASIS}
        set_prices(provider, parse_prices(values), "test")


def project(**kw):
    base = {
        "approval_system_code": None,
        "low_risk": False,
        "external_works": True,
        "pipeline_length_m": 120,
        "supporting_fee_paid": False,
    }
    return {**base, **kw}


@pytest.mark.parametrize(
    "services,proj,fees,known,all_known",
    [
        # 120 m of external works, nothing paid before: each published fee plus its price per
        # metre × 120 m. water 300 + 180×120 = 300 + 21600; gas 2600 + 220×120 = 2600 + 26400;
        # heat 0 + 350×120 = 42000. Sum 92900, every item known.
        (
            ["water", "gas", "heat"],
            project(),
            {"water": (300, 21600), "gas": (2600, 26400), "heat": (0, 42000)},
            92900,
            True,
        ),
        # the same with electricity, whose provider has published nothing here: not all known
        (
            ["water", "electricity"],
            project(),
            {"water": (300, 21600), "electricity": (None, None)},
            21900,
            False,
        ),
        # special supporting fee paid → 零收费; low-risk water and gas → 零投资 outside the
        # boundary: 0 whatever the prices
        (
            ["water", "gas"],
            project(low_risk=True, pipeline_length_m=150, supporting_fee_paid=True),
            {"water": (0, 0), "gas": (0, 0)},
            0,
            True,
        ),
        # no external line works: nothing is built outside the boundary, the fee alone: 300
        (
            ["water"],
            project(external_works=False, pipeline_length_m=None),
            {"water": (300, 0)},
            300,
            True,
        ),
        # low-risk but heat: "用水用气零投资" does not cover heat → 350 × 100 = 35000
        (
            ["heat"],
            project(low_risk=True, pipeline_length_m=100),
            {"heat": (0, 35000)},
            35000,
            True,
        ),
    ],
)
def test_costs_at_the_published_prices(priced, submit, services, proj, fees, known, all_known):
    body = submit(services=services, project=proj)
    got = {
        t["service"]: (
            t["fee"]["connection"]["amount"],
            t["fee"]["outside_boundary_investment"]["amount"],
        )
        for t in body["tickets"]
    }
    assert got == fees
    cost = body["indicators"]["cost_to_applicant"]
    assert (cost["known_amount"], cost["all_known"]) == (known, all_known)
    for t in body["tickets"]:
        fee = t["fee"]["connection"]
        if fee["basis"] == "published_price":
            expected = BASIS if t["service"] != "electricity" else None
            assert fee["charging_basis"] == expected


def test_without_published_prices_nothing_is_invented(db, submit):
    """`jointdesk init` (the reference data) publishes no price: every provider's are empty,
    and a priced item stays unknown."""
    for provider in db.session.execute(db.select(Provider)).scalars():
        assert provider.published_prices.connection_fee is None
        assert provider.published_prices.price_per_metre is None
    body = submit(services=["water"], project=project())
    assert body["indicators"]["cost_to_applicant"]["all_known"] is False


def test_demo_fills_believable_prices_marked_as_demo(db):
    from jointdesk.seed import DEMO_PRICE_BASIS, _demo_prices

    _demo_prices()
    water = db.session.execute(db.select(Provider).where(Provider.code == "zz-water")).scalar_one()
    assert float(water.connection_fee) == 300 and water.price_basis == DEMO_PRICE_BASIS


def signed_in(app, user):
    """A fresh browser signed in as ``user`` (the tests share one app context, whose ``g``
    would otherwise remember the previous client's user and CSRF token)."""
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    client = app.test_client()
    sign_in_web(client, user)
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def post_prices(client, provider_id, **fields):
    page = client.get(f"/admin/providers/{provider_id}/prices")
    assert page.status_code == 200, page.get_data(as_text=True)[-1500:]
    data = {"csrf_token": csrf(page.get_data(as_text=True)), **fields}
    return client.post(f"/admin/providers/{provider_id}/prices", data=data)


@pytest.mark.parametrize(
    "fields,field,message",
    [
        (
            {"connection_fee": "nan", "price_basis": BASIS},
            "connection_fee",
            "请输入以元为单位的金额",
        ),
        (
            {"connection_fee": "inf", "price_basis": BASIS},
            "connection_fee",
            "请输入以元为单位的金额",
        ),
        (
            {"connection_fee": "1e9", "price_basis": BASIS},
            "connection_fee",
            "请输入以元为单位的金额",
        ),
        ({"connection_fee": "-5", "price_basis": BASIS}, "connection_fee", "价格不能为负数"),
        ({"connection_fee": "12.345", "price_basis": BASIS}, "connection_fee", "最多两位小数"),
        ({"connection_fee": "３００", "price_basis": BASIS}, "connection_fee", "请输入以元为单位"),
        (
            {"connection_fee": "20000000", "price_basis": BASIS},
            "connection_fee",
            "最多 10,000,000 元",
        ),
        ({"price_per_metre": "100001", "price_basis": BASIS}, "price_per_metre", "最多 100,000 元"),
        ({"price_per_metre": "-0.01", "price_basis": BASIS}, "price_per_metre", "价格不能为负数"),
        ({"connection_fee": "300"}, "price_basis", "公示价格须同时写明收费依据"),
        ({"connection_fee": "300", "price_basis": "依" * 501}, "price_basis", "500"),
    ],
)
def test_bad_prices_are_refused_field_by_field_and_nothing_is_saved(
    app, db, users, fields, field, message
):
    app.config["WTF_CSRF_ENABLED"] = True
    client = signed_in(app, users["admin"][0])
    water = db.session.execute(db.select(Provider).where(Provider.code == "zz-water")).scalar_one()
    res = post_prices(client, water.id, **fields)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    # the message stands under its own field, before the next field's label
    after_field = html.split(f'id="{field}"', 1)[1].split("<label", 1)[0]
    assert '<ul class="errors">' in after_field and message in after_field
    db.session.expire_all()
    water = db.session.get(Provider, water.id)
    assert (water.connection_fee, water.price_per_metre, water.price_basis) == (None, None, None)
    changes = db.select(db.func.count(Event.id)).where(Event.action == "provider_prices_changed")
    assert db.session.execute(changes).scalar_one() == 0


def test_who_may_publish_and_the_audit_trail(app, db, users, submit, deliver_all):
    """Administrators and the provider's own staff may; another provider's staff and clerks may
    not. Each change is an event with the values before and after. The applicant sees the
    charging basis on the public status page."""
    app.config["WTF_CSRF_ENABLED"] = True
    water = db.session.execute(db.select(Provider).where(Provider.code == "zz-water")).scalar_one()
    for who, status in (("gas", 403), ("clerk", 403)):
        other = signed_in(app, users[who][0])
        assert other.get(f"/admin/providers/{water.id}/prices").status_code == status
    staff = signed_in(app, users["water"][0])
    res = post_prices(
        staff, water.id, connection_fee="300", price_per_metre="180.5", price_basis=BASIS
    )
    assert res.status_code == 302, res.get_data(as_text=True)[-800:]
    event = db.session.execute(
        db.select(Event).where(Event.action == "provider_prices_changed")
    ).scalar_one()
    assert event.actor == "water1"
    assert event.detail == {
        "provider": "zz-water",
        "before": {"connection_fee": None, "price_per_metre": None, "price_basis": None},
        "after": {"connection_fee": "300.00", "price_per_metre": "180.50", "price_basis": BASIS},
    }
    # 300 + 180.50 × 120 = 300 + 21660.00 = 21960.00, shown with its basis to the applicant
    case = submit(services=["water"], project=project())
    assert case["indicators"]["cost_to_applicant"]["known_amount"] == 21960
    app.config["WTF_CSRF_ENABLED"] = True
    from flask import g

    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    public = app.test_client()
    page = public.get("/status").get_data(as_text=True)
    html = public.post(
        "/status",
        data={"csrf_token": csrf(page), "reference": case["reference"], "code": case["query_code"]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "¥21660.00" in html and "每米 180.50 元" in html and "¥300.00" in html
    assert f"经营企业公示的收费依据: {BASIS}" in html


@pytest.mark.parametrize(
    "args,code,says",
    [
        (["zz-water", "--connection-fee", "nan", "--basis", BASIS], 2, "--connection-fee"),
        (["zz-water", "--per-metre", "-1", "--basis", BASIS], 2, "--per-metre"),
        (["zz-water", "--connection-fee", "300"], 2, "--basis"),
        (["no-such", "--connection-fee", "300"], 2, "no provider"),
        (["zz-water", "--connection-fee", "300", "--basis", BASIS], 0, "300.00 yuan"),
    ],
)
def test_provider_prices_command(db, args, code, says):
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jointdesk.cli", "provider", "prices", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_fee_basis_text_follows_each_readers_language(client, submit, users):
    """The basis texts are translated once per process and language: a reader asking in
    English and one in Chinese, one after the other, each get their own language, in the
    tickets and in the indicators alike."""
    body = submit(services=["water"], project=project(supporting_fee_paid=True))
    _clerk, headers = users["clerk"]
    url = f"/api/v1/cases/{body['reference']}"
    zh = "已缴纳专项配套费：零收费"
    en = "Special supporting fee already paid: no connection fee"
    for language, text in [("en", en), ("zh-CN", zh), ("en", en), (None, zh)]:
        extra = {"Accept-Language": language} if language else {}
        case = client.get(url, headers=headers | extra).get_json()
        assert case["tickets"][0]["fee"]["connection"]["basis_text"] == text
        cost = case["indicators"]["cost_to_applicant"]["connection_fee"]
        assert cost["basis_text"] == text
        shown = case["indicators"]["tickets"][0]["fee"]["connection"]["basis_text"]
        assert shown == text
