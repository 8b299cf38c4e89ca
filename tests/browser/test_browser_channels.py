"""The screens of the channels and of supervision in a real Chromium against a real server
(gunicorn on the test PostgreSQL), with the checks of ``browser_harness`` on every page.

The public disclosure portal and the complaint form at both window sizes; a provider's staff
editing, publishing and unpublishing its disclosure and posting an outage notice; the
supervisor's dashboard (its ECharts chart drawn), compliance, performance, correction orders
and CSV exports, and the administrator's weights; an applicant on a phone rating a connected
service with a 差评 and the provider's staff finding the follow-up; the hotline clerk's
complaint and the supervisor's complaint list; online self-service on a phone with the code
from the message outbox; and a case view and a status page that change by themselves when the
provider accepts the ticket.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import test_browser_journeys as journeys
from browser_harness import VIEWPORTS, Visit
from conftest import act, valid_person_id
from test_browser_journeys import flash_text, sign_in

# one browser and one server for this module, as the journeys module makes them
browser = journeys.browser
server = journeys.server
open_as = journeys.open_as

pytestmark = [pytest.mark.services]

TZ = ZoneInfo("Asia/Shanghai")


def demo_disclosure(db) -> None:
    """The demo's published catalog of the four providers and its three outage notices."""
    from jointdesk.disclosure.demo import load_demo_disclosure

    load_demo_disclosure()
    db.session.commit()


def water_case(submit, deliver_all, client, users, *, connect: bool) -> dict:
    """A water and gas case at the providers; water accepted and connected if asked."""
    case = submit(services=["water", "gas"])
    deliver_all()
    water = next(t for t in case["tickets"] if t["service"] == "water")["id"]
    if connect:
        for action in ("accept", "connect"):
            assert act(client, users["water"][1], water, action=action).status_code == 200
    return case


def look_up_status(visit: Visit, base: str, reference: str, code: str) -> None:
    page = visit.page
    page.goto(base + "/status")
    page.get_by_label("办件编号").fill(reference)
    page.get_by_label("查询码").fill(code)
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(r"/status\?reference="))


def english(visit: Visit, base: str, *pages: tuple[str, str]) -> None:
    """Switches ``visit`` to English (once) and checks each page's UI words for Chinese."""
    page = visit.page
    if page.evaluate("document.documentElement.lang") != "en":
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state("load")
    for name, path in pages:
        page.goto(base + path)
        visit.check_english(name)


# --- public: disclosure portal and complaints ----------------------------------------------


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_public_reads_disclosures_and_complains(viewport, server, open_as, db, users):
    demo_disclosure(db)
    base = server.url
    visitor = open_as("public", viewport)
    page = visitor.page

    page.goto(base + "/disclosure")
    visitor.check("disclosure")
    assert "郑州自来水" in page.locator("main").inner_text()
    page.goto(base + "/disclosure/providers/zz-water")
    visitor.check("disclosure-water")
    shown = page.locator("main").inner_text()
    assert "阶梯水价" in shown  # the demo's price list, published
    assert "花园路供水管道爆管抢修停水" in shown  # its current outage notice comes first
    page.goto(base + "/disclosure/outages")
    visitor.check("outages")
    shown = page.locator("main").inner_text()
    assert "建设路中压燃气管道改线计划停气" in shown and "花园路供水管道爆管抢修停水" in shown

    # a complaint: the receipt shows its reference and the query code once
    page.goto(base + "/complaint")
    visitor.check("complaint-form")
    page.get_by_label("您的姓名").fill("李四")
    page.get_by_label("手机号码").fill("139 1234 5678")
    page.get_by_label("被投诉单位").select_option("zz-water")
    page.get_by_label("投诉事项").fill("报装后迟迟无人联系")
    page.get_by_label("具体情况").fill("上周提交供水报装申请，至今没有人联系我。")
    page.get_by_role("button", name="提交投诉").click()
    page.wait_for_load_state("load")
    big = page.locator(".receipt .big").all_inner_texts()
    assert len(big) == 2, page.locator("main").inner_text()
    reference, code = big[0].strip(), big[1].strip()
    visitor.check("complaint-receipt")

    # looked up with both (a POST form)
    page.get_by_role("link", name="查询投诉").click()
    page.wait_for_load_state("load")
    assert page.get_by_label("投诉编号").input_value() == reference
    page.get_by_label("查询码").fill(code)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state("load")
    shown = page.locator("main").inner_text()
    assert "报装后迟迟无人联系" in shown and "13912345678" not in shown
    visitor.check("complaint-status")
    if viewport == "desktop":  # and in English: nothing of the UI left in Chinese
        english(visitor, base, ("disclosure", "/disclosure"), ("outages", "/disclosure/outages"))
        english(visitor, base, ("complaint-form", "/complaint"))
    assert not visitor.problems, "\n".join(visitor.problems)


# --- a provider's staff: the disclosure catalog and an outage notice ------------------------


def test_provider_staff_edit_publish_and_post_an_outage(server, open_as, db, users):
    demo_disclosure(db)
    base = server.url
    staff = open_as("water", "desktop")
    sign_in(staff, base, "water1")
    page = staff.page
    page.goto(base + "/disclosure/manage")
    assert page.url.endswith("/disclosure/manage/zz-water")
    staff.check("disclosure-manage")

    # edit the first item: saved, a new revision in its history
    first = page.locator("tr[id^=i]").first
    row_id = first.get_attribute("id")
    first.locator("a").first.click()
    page.wait_for_load_state("load")
    staff.check("disclosure-item")
    body = page.locator("#body")
    body.fill(body.input_value() + "\n\n服务热线：0371-67000000。")
    page.get_by_role("button", name="保存").click()
    page.wait_for_load_state("load")
    assert "已保存" in flash_text(page), flash_text(page)

    # unpublish, then publish again, from the list
    row = page.locator(f"#{row_id}")
    row.get_by_role("button", name="取消公开").click()
    page.wait_for_load_state("load")
    assert "未公开" in page.locator(f"#{row_id}").inner_text()
    page.locator(f"#{row_id}").get_by_role("button", name="公开").click()
    page.wait_for_load_state("load")
    assert "已公开" in page.locator(f"#{row_id}").inner_text()
    page.locator(f"#{row_id}").get_by_role("link", name="修改记录").click()
    page.wait_for_load_state("load")
    assert "0371-67000000" in page.locator("main").inner_text()
    staff.check("disclosure-history")

    # a planned outage notice: a draft, then published; the public sees it
    page.goto(base + "/disclosure/manage/zz-water")
    page.get_by_role("link", name="新建停止供应通知").click()
    page.wait_for_load_state("load")
    staff.check("outage-new")
    start = (datetime.now(TZ) + timedelta(days=2)).replace(hour=9, minute=0)
    page.get_by_label("业务").select_option("water")
    page.get_by_label("类型").select_option("planned")
    page.get_by_label("标题").fill("文化路供水管网计划停水")
    page.get_by_label("金水区").check()
    page.get_by_label("影响范围（街道、小区）").fill("文化路与东风路交叉口周边小区")
    page.get_by_label("开始时间").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("预计恢复时间").fill((start + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("原因").fill("管网改造碰口。")
    page.get_by_role("button", name="保存").click()
    page.wait_for_load_state("load")
    assert "已保存" in flash_text(page), page.locator("main").inner_text()[:2000]
    notice = page.locator("#outages tr", has_text="文化路供水管网计划停水")
    notice.get_by_role("button", name="公开").click()
    page.wait_for_load_state("load")
    staff.check("disclosure-manage-outage")
    page.goto(base + "/disclosure/outages")
    assert "文化路供水管网计划停水" in page.locator("main").inner_text()
    assert not staff.problems, "\n".join(staff.problems)


# --- supervision -----------------------------------------------------------------------------

CHART_DRAWN_JS = "() => !!document.querySelector('.chart canvas, .chart svg')"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_supervision_pages_chart_orders_and_exports(
    viewport, server, open_as, db, users, submit, deliver_all, client
):
    demo_disclosure(db)
    water_case(submit, deliver_all, client, users, connect=True)
    base = server.url
    supervisor = open_as("supervisor", viewport)
    sign_in(supervisor, base, "super1")
    page = supervisor.page
    page.goto(base + "/supervision/")
    page.wait_for_function(CHART_DRAWN_JS)  # ECharts drew the trend
    supervisor.check("supervision")
    for name, path in (
        ("compliance", "/supervision/compliance"),
        ("performance", "/supervision/performance"),
        ("orders", "/supervision/orders"),
    ):
        page.goto(base + path)
        supervisor.check(name)

    # every export link of the dashboard answers with a CSV file
    page.goto(base + "/supervision/")
    links = page.locator("main a", has_text="CSV")
    assert links.count() >= 1
    for href in {links.nth(i).get_attribute("href") for i in range(links.count())}:
        res = page.request.get(base + href)
        assert res.status == 200, href
        assert res.headers["content-type"].startswith("text/csv"), res.headers
        assert "attachment" in res.headers.get("content-disposition", "")
        assert res.body().decode("utf-8-sig").count("\n") >= 1

    if viewport == "desktop":
        page.goto(base + "/supervision/orders/new")
        supervisor.check("order-new")
        page.get_by_label("专营单位").select_option(label="郑州自来水投资控股有限公司")
        page.locator("#subject").fill("公示的收费标准缺少依据文号")
        page.get_by_label("整改要求").fill("请在收费标准中补充政府定价文件文号。")
        page.get_by_label("整改期限").fill(
            (datetime.now(TZ) + timedelta(days=10)).strftime("%Y-%m-%d")
        )
        page.get_by_role("button", name="下达").click()
        page.wait_for_load_state("load")
        assert "已下达责令改正通知" in flash_text(page), flash_text(page)
        assert "公示的收费标准缺少依据文号" in page.locator("main").inner_text()
        supervisor.check("order")

    admin = open_as("admin", viewport)
    sign_in(admin, base, "admin1")
    admin.page.goto(base + "/supervision/weights")
    admin.check("weights")
    if viewport == "desktop":
        english(
            supervisor,
            base,
            ("supervision", "/supervision/"),
            ("compliance", "/supervision/compliance"),
            ("performance", "/supervision/performance"),
            ("orders", "/supervision/orders"),
            ("complaints", "/complaints"),
            ("follow-ups", "/follow-ups"),
            ("disclosure-manage", "/disclosure/manage/zz-water"),
        )
    problems = supervisor.problems + admin.problems
    assert not problems, "\n".join(problems)


# --- ratings, follow-ups and complaints --------------------------------------------------------


def test_a_bad_rating_reaches_the_provider_and_complaints_reach_the_supervisor(
    server, open_as, db, users, submit, deliver_all, client
):
    case = water_case(submit, deliver_all, client, users, connect=True)
    base = server.url

    # the applicant on a phone: the connected water service can be rated, gas not yet
    applicant = open_as("applicant", "phone")
    page = applicant.page
    look_up_status(applicant, base, case["reference"], case["query_code"])
    block = page.locator("#rating-water")
    assert block.locator("form").count() == 1
    assert page.locator("#rating-gas form").count() == 0
    applicant.check("status-rating")
    block.get_by_label("非常不满意").check()
    block.get_by_label("意见（选填）").fill("安装师傅迟到两个小时")
    block.get_by_role("button", name="提交评价").click()
    page.wait_for_load_state("load")
    assert "/status?reference=" in page.url
    assert "非常不满意" in page.locator("#rating-water").inner_text()
    applicant.check("status-rated")
    problems = list(applicant.problems)

    # the water company's staff: the follow-up of the 差评 in their list
    staff = open_as("water", "desktop")
    sign_in(staff, base, "water1")
    staff.page.goto(base + "/follow-ups")
    listed = staff.page.locator("main table").inner_text()
    assert "非常不满意" in listed and "供水" in listed
    staff.check("follow-ups")
    staff.page.locator("main table a").first.click()
    staff.page.wait_for_load_state("load")
    assert "安装师傅迟到两个小时" in staff.page.locator("main").inner_text()
    staff.check("follow-up")
    problems += staff.problems

    # the hotline clerk records a complaint taken by phone
    clerk = open_as("clerk", "desktop")
    sign_in(clerk, base, "clerk1")
    page = clerk.page
    page.goto(base + "/complaints/hotline")
    clerk.check("hotline")
    page.get_by_label("您的姓名").fill("王五")
    page.get_by_label("手机号码").fill("13700001111")
    page.get_by_label("申请编号（如有）").fill(case["reference"])
    page.get_by_label("投诉事项").fill("供气迟迟未受理")
    page.get_by_label("具体情况").fill("来电反映供气申请一直未受理。")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state("load")
    assert len(page.locator(".receipt .big").all_inner_texts()) == 2
    clerk.check("hotline-receipt")
    problems += clerk.problems

    # the supervisor: the complaint in the list, and opened
    supervisor = open_as("supervisor", "desktop")
    sign_in(supervisor, base, "super1")
    page = supervisor.page
    page.goto(base + "/complaints")
    supervisor.check("complaints")
    page.locator("main table a", has_text=re.compile(r"\S")).first.click()
    page.wait_for_load_state("load")
    assert "供气迟迟未受理" in page.locator("main").inner_text()
    supervisor.check("complaint")
    problems += supervisor.problems
    assert not problems, "\n".join(problems)


# --- online self-service on a phone -------------------------------------------------------------


def outbox_code(db, phone: str) -> str:
    """The code of the newest message to ``phone`` in the outbox (nothing is really sent)."""
    from jointdesk.models import ApplicantMessage

    db.session.rollback()
    body = db.session.execute(
        db.select(ApplicantMessage.body)
        .where(ApplicantMessage.phone == phone, ApplicantMessage.template == "verification_code")
        .order_by(ApplicantMessage.id.desc())
        .limit(1)
    ).scalar_one()
    return re.search(r"验证码为(\d{6})", body).group(1)


def test_online_self_service_on_a_phone(server, open_as, db, users):
    base = server.url
    applicant = open_as("applicant", "phone")
    page = applicant.page
    page.goto(base + "/apply")
    applicant.check("apply-phone")
    page.get_by_label("手机号码").fill("139 8765 4321")
    page.get_by_role("button", name="获取验证码").click()
    page.wait_for_load_state("load")
    applicant.check("apply-code")
    page.locator("input[name=code]").fill(outbox_code(db, "13987654321"))
    page.get_by_role("button", name="验证", exact=True).click()
    page.wait_for_load_state("load")
    applicant.check("apply-form")
    page.locator("input[name=applicant_kind][value=person]").check()
    page.locator("#applicant_name").fill("赵六")
    page.locator("#id_number").fill(valid_person_id(7))
    page.locator("#district").select_option("金水区")
    page.locator("#address_detail").fill("经三路 15 号")
    page.locator("input[name=services][value=water]").check()
    page.locator("input[name=services][value=electricity]").check()
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/apply/receipt/"))
    assert re.search(r"\d{8}", page.locator("#query-code").inner_text())
    applicant.check("apply-receipt")
    assert not applicant.problems, "\n".join(applicant.problems)


# --- live pages -------------------------------------------------------------------------------

LAST_CHECKED_JS = "() => /\\d\\d:\\d\\d:\\d\\d/.test(document.querySelector('[data-live-updated]')"
LAST_CHECKED_JS += ".textContent)"


def test_case_view_and_status_page_change_by_themselves(
    server, open_as, db, users, submit, deliver_all, client
):
    case = water_case(submit, deliver_all, client, users, connect=False)
    reference = case["reference"]
    water = next(t for t in case["tickets"] if t["service"] == "water")["id"]
    base = server.url

    clerk = open_as("clerk", "desktop")
    sign_in(clerk, base, "clerk1")
    desk = clerk.page
    desk.goto(base + f"/cases/{reference}")
    row = desk.locator(f"#service-{water}")
    assert "已受理" not in row.inner_text()
    applicant = open_as("applicant", "phone")
    phone = applicant.page
    look_up_status(applicant, base, reference, case["query_code"])
    assert "已受理" not in phone.locator("#service-water h3").inner_text()
    desk.evaluate("window.__sameDocument = true")  # gone if the page reloads
    phone.evaluate("window.__sameDocument = true")

    # the provider accepts the water ticket (through the API); nobody touches the pages
    assert act(client, users["water"][1], water, action="accept").status_code == 200
    desk.wait_for_function(
        f"() => document.querySelector('#service-{water}').innerText.includes('已受理')",
        timeout=15_000,
    )
    assert desk.evaluate("window.__sameDocument") is True
    assert desk.evaluate(LAST_CHECKED_JS)
    clerk.check("case-live")
    phone.wait_for_function(
        "() => document.querySelector('#service-water h3').innerText.includes('已受理')",
        timeout=25_000,
    )
    assert phone.evaluate("window.__sameDocument") is True
    assert phone.evaluate(LAST_CHECKED_JS)
    applicant.check("status-live")
    problems = clerk.problems + applicant.problems
    assert not problems, "\n".join(problems)


# --- every role's own pages in English: nothing of the UI left in Chinese -----------------


def test_the_working_pages_in_english(server, open_as, db, users, submit, deliver_all, client):
    """The clerk's, the provider staff's and the applicant's pages the other journeys visit in
    Chinese, once in English (desktop): labels, buttons, headings and menus all translated."""
    base = server.url
    case = water_case(submit, deliver_all, client, users, connect=False)
    reference, code = case["reference"], case["query_code"]
    water = next(t for t in case["tickets"] if t["service"] == "water")["id"]
    problems: list[str] = []

    clerk = open_as("clerk", "desktop")
    sign_in(clerk, base, "clerk1")
    english(
        clerk,
        base,
        ("intake-en", "/window/new"),
        ("case-en", f"/cases/{reference}"),
        ("search-en", "/cases"),
        ("hotline-en", "/complaints/hotline"),
    )
    problems += clerk.problems

    staff = open_as("water", "desktop")
    sign_in(staff, base, "water1")
    english(
        staff,
        base,
        ("queue-en", "/desk/"),
        ("ticket-en", f"/desk/tickets/{water}"),
        ("follow-ups-en", "/follow-ups"),
        ("orders-en", "/supervision/orders"),
    )
    problems += staff.problems

    applicant = open_as("applicant", "desktop")
    look_up_status(applicant, base, reference, code)
    english(
        applicant,
        base,
        ("status-en", f"/status?reference={reference}"),
        ("apply-en", "/apply"),
        ("complaint-en", "/complaint"),
    )
    problems += applicant.problems
    assert problems == [], "\n".join(problems)
