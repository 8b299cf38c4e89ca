"""Each role's main journey in a real Chromium against a real server (gunicorn on the test
PostgreSQL, broker on Redis), at 1366×900 and at 390×844.

The clerk takes a four-service application at the window and sees the case; the water
provider's staff finds the ticket in the queue, accepts it and connects it; the supervisor sees
the queues; the administrator opens the admin pages; the applicant, on a phone, looks the case
up with the reference and query code of the receipt. Every page is checked (console, sideways
scrolling, untranslated English, axe-core) and photographed: see ``browser_harness``.

The provider deliveries are run in the test process (the code the worker runs), so that the
journey waits for nothing.
"""

from __future__ import annotations

import re

import pytest
from browser_harness import (
    CHROMIUM_ARGS,
    VIEWPORTS,
    Visit,
    browser_problem,
    chromium_path,
)
from conftest import TEST_PASSWORD, need, valid_person_id
from live_server import WebServer

pytestmark = [pytest.mark.services]


@pytest.fixture(scope="module")
def browser():
    need(browser_problem())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(app, browser):
    # one server for a module's journeys: every sign-in and status look-up comes from
    # 127.0.0.1, on a fast machine more than the production limits of 10 a minute allow (the
    # limits are tested in-process)
    limits = {
        "JOINTDESK_LOGIN_LIMIT": "300 per minute",
        "JOINTDESK_PUBLIC_LOOKUP_LIMIT": "300 per minute",
    }
    web = WebServer(workers=1, threads=8, env=limits)
    yield web
    web.stop()


@pytest.fixture
def open_as(browser, server):
    """A fresh browser context (its own cookies) for one person at one window size."""
    contexts = []

    def _open(who: str, viewport: str) -> Visit:
        width, height = VIEWPORTS[viewport]
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",  # the hall's clock: "last checked" matches the page
            bypass_csp=True,  # to inject axe-core; the pages' own scripts obey the policy anyway
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Visit(context.new_page(), viewport, who)

    yield _open
    for context in contexts:
        context.close()


# the selects whose chosen option's text is wider than the select shows (arrow and padding
# taken off)
CUT_SELECTS_JS = """
() => {
  const ctx = document.createElement("canvas").getContext("2d");
  const cut = [];
  for (const s of document.querySelectorAll("select")) {
    const style = getComputedStyle(s);
    ctx.font = style.fontSize + " " + style.fontFamily;
    const text = s.options[s.selectedIndex].text;
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const room = s.clientWidth - padding - 20;
    if (ctx.measureText(text).width > room) cut.push(text);
  }
  return cut;
}
"""


def sign_in(visit: Visit, base: str, username: str) -> None:
    """With the keyboard only: the username field has the focus, Tab to the password, Enter."""
    page = visit.page
    page.goto(base + "/login")
    visit.check("login")
    assert page.evaluate("document.activeElement.name") == "username"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.content()[:2000]


def flash_text(page) -> str:
    return " ".join(page.locator(".flash").all_inner_texts())


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_role_through_its_main_journey(viewport, server, open_as, db, users, deliver_all):
    base = server.url
    problems: list[str] = []

    # --- the clerk at the window -------------------------------------------------------------
    clerk = open_as("clerk", viewport)
    sign_in(clerk, base, "clerk1")
    page = clerk.page
    assert page.url.endswith("/window/new")
    # the first field has the focus: the clerk starts typing at once
    assert page.evaluate("document.activeElement.name") == "applicant_name"
    clerk.check("intake")
    # nothing filled in: a summary lists the wrong fields, each marked for screen readers
    page.get_by_role("button", name="提交并打印受理回执").click()
    page.wait_for_load_state("load")
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"  # read out first
    assert summary.locator("a[href='#applicant_name']").count() == 1
    assert page.locator("#applicant_name").get_attribute("aria-invalid") == "true"
    described = page.locator("#applicant_name").get_attribute("aria-describedby")
    assert "此项为必填项" in page.locator(f"#{described}").inner_text()
    clerk.check("intake-errors")
    page.get_by_label("姓名/企业名称").fill("张三")
    # typed with spaces and dashes, as people read them out: accepted, stored without
    person_id = valid_person_id(3)
    page.get_by_label("居民身份证号码/统一社会信用代码").fill(
        f"{person_id[:6]} {person_id[6:14]} {person_id[14:]}"
    )
    page.get_by_label("手机号码").fill("138 0013-8000")
    page.get_by_label("区县(市)").select_option("金水区")
    page.get_by_label("详细地址").fill("花园路 8 号")
    for service in ("供水", "供电", "供气", "供热"):
        page.get_by_label(service, exact=True).check()
    page.get_by_role("button", name="提交并打印受理回执").click()
    page.wait_for_url(re.compile(r"/window/receipt/"))
    clerk.check("receipt")
    big = page.locator(".receipt .big").all_inner_texts()
    reference, query_code = big[0].strip(), big[1].strip()
    page.get_by_role("link", name="查看办件").click()
    page.wait_for_load_state("load")
    assert reference in page.locator("h1").inner_text()
    clerk.check("case")
    # the clerk finds the case by the applicant's name and by the whole ID number
    for query in ("张三", person_id):
        page.goto(base + "/cases")
        page.get_by_label("办件编号、申请人手机号码、姓名或证件号码").fill(query)
        page.get_by_role("button", name="搜索").click()
        page.wait_for_load_state("load")
        assert page.get_by_role("link", name=reference).count() == 1, query
    clerk.check("search")
    problems += clerk.problems

    deliver_all()  # the four tickets reach the providers' queues

    # --- the water company's staff ------------------------------------------------------------
    staff = open_as("water", viewport)
    sign_in(staff, base, "water1")
    page = staff.page
    assert "/desk" in page.url
    staff.check("queue")
    if viewport == "desktop":  # service, status and dates on one line each: one-line rows
        assert page.locator("table.queue tbody tr").first.bounding_box()["height"] < 50
    page.get_by_role("link", name=reference).click()
    page.wait_for_load_state("load")
    staff.check("ticket")
    # the actions are at the top: visible without scrolling on the desktop
    accept = page.get_by_role("button", name="受理", exact=True)
    if viewport == "desktop":
        assert accept.bounding_box()["y"] + accept.bounding_box()["height"] <= 900
    # 退回 cannot be undone: it asks first, and "cancel" leaves the ticket as it was
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_label("退回原因").fill("不在供水范围")
    page.get_by_role("button", name="退回", exact=True).click()
    assert asked and "退回" in asked[0]
    assert "/action" not in page.url and flash_text(page) == ""
    accept.click()
    page.wait_for_load_state("load")
    assert "已受理" in flash_text(page)
    connect = page.get_by_role("button", name="验收接通", exact=True)
    connect.click()
    page.wait_for_load_state("load")
    assert "已验收接通" in flash_text(page), flash_text(page)
    staff.check("ticket-connected")
    problems += staff.problems

    # --- the supervisor -----------------------------------------------------------------------
    supervisor = open_as("supervisor", viewport)
    sign_in(supervisor, base, "super1")
    page = supervisor.page
    supervisor.check("home")
    page.goto(base + "/desk/?provider=zz-gas")
    assert page.get_by_role("link", name=reference).count() == 1
    supervisor.check("queue")
    problems += supervisor.problems

    # --- the administrator --------------------------------------------------------------------
    admin = open_as("admin", viewport)
    sign_in(admin, base, "admin1")
    page = admin.page
    for name, path in (
        ("dashboard", "/admin/"),
        ("calendar", "/admin/calendar"),
        ("routing", "/admin/routing"),
        ("providers", "/admin/providers"),
        ("users", "/admin/users"),
    ):
        page.goto(base + path)
        admin.check(name)
    if viewport == "desktop":  # the routing table shows whole provider names
        page.goto(base + "/admin/routing")
        assert page.evaluate(CUT_SELECTS_JS) == []
        # and the same pages in English: nothing of the UI left in Chinese
        page.goto(base + "/admin/")
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state("load")
        for name, path in (
            ("dashboard", "/admin/"),
            ("calendar", "/admin/calendar"),
            ("routing", "/admin/routing"),
            ("users", "/admin/users"),
            ("queue", "/desk/?provider=zz-water&status=all"),
        ):
            page.goto(base + path)
            admin.check_english(name)
    problems += admin.problems

    # --- the applicant on a phone (or at a desk) ----------------------------------------------
    applicant = open_as("applicant", viewport)
    page = applicant.page
    page.goto(base + "/status")
    applicant.check("status-form")
    page.get_by_label("办件编号").fill(reference)
    page.get_by_label("查询码").fill(query_code)
    page.get_by_role("button", name="查询").click()
    page.wait_for_load_state("load")
    shown = page.locator("main").inner_text()
    assert reference in shown
    assert "已接通" in shown  # the water service, connected above
    assert "13800138000" not in shown  # the phone is masked to the public
    applicant.check("status")
    problems += applicant.problems

    assert not problems, "\n".join(problems)


def test_the_checks_themselves_find_what_they_look_for(browser):
    """The harness is not blind: an unlabelled field is an axe violation, English is found,
    and a page wider than the phone scrolls sideways."""
    from browser_harness import axe_violations, untranslated

    assert untranslated(["请登录 Sign in", "请用 `jointdesk run` 启动"]) == [
        "'Sign in' in '请登录 Sign in'"
    ]
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    page.set_content(
        '<html lang="zh-CN"><title>t</title><main><input type="text">'
        '<div style="width:800px">宽</div></main></html>'
    )
    found = axe_violations(page)
    assert any(v.startswith("label (critical)") for v in found), found
    assert page.evaluate("document.documentElement.scrollWidth") > 390
    page.set_content(
        '<select style="width:120px"><option>国网河南省电力公司郑州供电公司</option></select>'
        '<select style="width:300px"><option>郑州热力集团有限公司</option></select>'
    )
    assert page.evaluate(CUT_SELECTS_JS) == ["国网河南省电力公司郑州供电公司"]
    context.close()
