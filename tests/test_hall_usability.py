"""The screens as people use them (issue 11), without a browser: the intake form's limits,
messages and search, the ticket's action area, the queue's default, the calendar's words, the
header, the favicon, and message catalogs that every install ships. The same screens are
driven in a real browser by tests/browser."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from conftest import ROOT, act, application_body, sign_in_web, valid_person_id
from test_web_ui import application_form, csrf_token, login

from jointdesk.models import Case, Ticket
from jointdesk.policy.identity import without_separators
from jointdesk.policy.process import offered_actions


@pytest.fixture
def ui(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


# --- item 7: the intake form -----------------------------------------------------------------


def test_separators_are_dropped_from_numbers_as_typed():
    assert without_separators("138 0013-8000") == "13800138000"
    assert without_separators("１３８　００１３－８０００") == "13800138000"  # full width
    assert without_separators("410105 19900101 0017") == "410105199001010017"
    assert without_separators("4101—05") == "410105"  # a dash of another width


def test_the_first_field_has_the_focus_and_each_maxlength_is_the_servers_limit(ui, users):
    login(ui, "clerk1")
    page = ui.get("/window/new").get_data(as_text=True)
    name = re.search(r"<input[^>]*id=\"applicant_name\"[^>]*>", page).group(0)
    assert "autofocus" in name and 'maxlength="100"' in name
    # room for the spaces and dashes people type between groups of digits
    assert re.search(r'id="id_number"[^>]*maxlength="30"', page)
    assert re.search(r'id="phone"[^>]*maxlength="20"', page)
    assert re.search(r'id="address_detail"[^>]*maxlength="200"', page)
    assert re.search(r'id="form_note"[^>]*maxlength="500"', page)


def test_spaces_and_dashes_in_phone_and_id_are_ignored(ui, db, users):
    login(ui, "clerk1")
    person_id = valid_person_id(9)
    data = application_form(
        ui,
        id_number=f"{person_id[:6]} {person_id[6:14]}-{person_id[14:]}",
        phone="139 1234-5678",
    )
    res = ui.post("/window/new", data=data)
    assert res.status_code == 302, res.get_data(as_text=True)[:3000]
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.applicant_id_number == person_id
    assert case.applicant_phone == "13912345678"


def test_a_too_long_value_is_refused_on_its_field_and_nothing_is_saved(ui, db, users):
    login(ui, "clerk1")
    res = ui.post("/window/new", data=application_form(ui, applicant_name="张" * 101))
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    message = re.search(r'id="applicant_name-error">(.*?)</ul>', page, re.S).group(1)
    assert "最多100个字符。" in message
    assert db.session.execute(db.select(Case)).first() is None


def test_wrong_fields_are_marked_and_listed_at_the_top_with_links(ui, db, users):
    login(ui, "clerk1")
    res = ui.post(
        "/window/new",
        data=application_form(ui, applicant_name="", phone="123", services=[]),
    )
    page = res.get_data(as_text=True)
    summary = re.search(r'<div[^>]*id="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert summary, page[:3000]
    links = re.findall(r'href="#([\w-]+)"', summary.group(1))
    assert links == ["applicant_name", "phone", "services-0"]  # in the page's order
    for field in ("applicant_name", "phone"):
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', page).group(0)
        assert 'aria-invalid="true"' in tag
        assert f'aria-describedby="{field}-error"' in tag
        assert f'id="{field}-error"' in page
    # the summary has the focus, not the first field
    assert "autofocus" not in re.search(r'<input[^>]*id="applicant_name"[^>]*>', page).group(0)
    assert db.session.execute(db.select(Case)).first() is None


def test_the_clerk_finds_a_case_by_name_and_by_the_whole_id_number(ui, db, users, submit):
    case = submit()
    login(ui, "clerk1")

    def found(q: str) -> bool:
        page = ui.get("/cases").get_data(as_text=True)
        res = ui.post("/cases", data={"csrf_token": csrf_token(page), "q": q})
        return case["reference"] in res.get_data(as_text=True)

    assert found("张三") and found("张")
    assert found(valid_person_id()) and found(valid_person_id().lower())
    assert not found(valid_person_id()[:10])  # a part of an ID number finds nothing
    assert not found("李四")


# --- item 1: the ticket page -------------------------------------------------------------------


def test_connect_is_not_offered_while_a_permit_is_pending():
    steps = ("accept", "connect")
    assert "connect" in offered_actions("accepted", steps, {"road_excavation": "granted"})
    for pending in ("required", "filed"):
        offered = offered_actions("accepted", steps, {"road_excavation": pending})
        assert "connect" not in offered and "return" in offered
    # a commitment filing does not hold the connection up
    assert "connect" in offered_actions("accepted", steps, {"commitment_filing": "required"})


def ticket_of(submit, deliver_all, **project) -> int:
    body = application_body()["project"] | project
    case = submit(services=["water"], project=body)
    deliver_all()
    return case["tickets"][0]["id"]


def test_the_ticket_page_has_one_labelled_action_area_at_the_top(
    client, db, users, submit, deliver_all
):
    ticket_id = ticket_of(submit, deliver_all, excavates_road=True)
    sign_in_web(client, users["water"][0])
    page = client.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
    area = page.index('class="card action-area"')
    assert area < page.index("<table")  # before the steps, permits and fees
    assert page.count('class="card action-area"') == 1
    # 退回 has its own labelled reason and asks first
    assert '<label for="reason-return">退回原因</label>' in page
    assert re.search(r'<form[^>]*action-return[^>]*data-confirm="确定退回', page)
    # every text box and select of the page has a label
    for control in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if 'type="hidden"' in control:
            continue
        ident = re.search(r'id="([^"]+)"', control)
        assert ident and f'for="{ident.group(1)}"' in page, control


def test_while_permits_are_pending_the_page_says_why_connect_is_missing(
    client, db, users, submit, deliver_all
):
    ticket_id = ticket_of(submit, deliver_all, excavates_road=True)
    sign_in_web(client, users["water"][0])
    page = client.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
    # queued: 受理 first; the permit is pending, so no 验收接通 button
    assert ">受理</button>" in page and ">验收接通</button>" not in page


def test_each_action_says_what_happened(ui, db, users, submit, deliver_all):
    ticket_id = ticket_of(submit, deliver_all)
    login(ui, "water1")

    def do(action: str, **extra) -> str:
        page = ui.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        data = {"csrf_token": csrf_token(page), "action": action, "version": version, **extra}
        ui.post(f"/desk/tickets/{ticket_id}/action", data=data)
        after = ui.get(f"/desk/tickets/{ticket_id}").get_data(as_text=True)
        return " ".join(re.findall(r'<div class="flash success">(.*?)</div>', after))

    assert "已受理" in do("accept")
    assert "已暂停计时：天气或不可抗力" in do("suspend", reason_code="force_majeure")
    assert "已恢复计时" in do("resume")
    assert "已退回：地址不在供水范围" in do("return", reason="地址不在供水范围")
    assert db.session.get(Ticket, ticket_id).status == "returned"


# --- item 2: the queue -----------------------------------------------------------------------


def test_the_queue_shows_the_open_work_oldest_due_first_by_default(
    client, db, users, submit, deliver_all
):
    first = submit(services=["water"])
    other = application_body()["applicant"] | {"phone": "13900000001"}
    second = submit(services=["water"], applicant=other)
    deliver_all()
    sign_in_web(client, users["water"][0])
    # the first is connected (closed work)
    headers = users["water"][1]
    tid = first["tickets"][0]["id"]
    assert act(client, headers, tid, action="accept").status_code == 200
    assert act(client, headers, tid, action="connect").status_code == 200
    page = client.get("/desk/").get_data(as_text=True)
    assert second["reference"] in page and first["reference"] not in page
    assert '<option value="open" selected' in page
    everything = client.get("/desk/?status=all").get_data(as_text=True)
    assert first["reference"] in everything and second["reference"] in everything
    # applicant (masked) and received-time columns; filters tied to their labels
    assert "<td>张*</td>" in page and "受理时间" in page
    for name in ("status", "overdue"):
        assert f'<label for="f-{name}">' in page and f'id="f-{name}"' in page


# --- item 8: words, header, favicon, catalogs --------------------------------------------------


def test_the_calendar_names_holidays_and_weekdays_in_chinese(client, db, users):
    sign_in_web(client, users["admin"][0])
    page = client.get("/admin/calendar?year=2026").get_data(as_text=True)
    assert "国庆节" in page and "春节" in page
    assert "National Day" not in page and "Spring Festival" not in page
    assert "2026-10-01 周四" in page
    assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b", page)


def test_the_header_names_the_role_once(client, db, users):
    admin = users["admin"][0]
    admin.display_name = "系统管理员"
    db.session.commit()
    sign_in_web(client, admin)
    page = client.get("/admin/").get_data(as_text=True)
    assert "系统管理员 (系统管理员)" not in page and "系统管理员" in page


def test_provider_codes_are_not_shown_in_the_queue_filter(client, db, users):
    sign_in_web(client, users["supervisor"][0])
    page = client.get("/desk/").get_data(as_text=True)
    assert "(zz-gas)" not in page and "(zz-water)" not in page


def test_every_page_links_a_favicon_that_exists(client, db):
    page = client.get("/login").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    res = client.get(href)
    assert res.status_code == 200 and b"<svg" in res.data


def test_required_is_worded_the_same_in_every_form(ui, db, users):
    page = ui.get("/login").get_data(as_text=True)
    res = ui.post("/login", data={"csrf_token": csrf_token(page), "username": "", "password": ""})
    assert "此项为必填项。" in res.get_data(as_text=True)
    login(ui, "clerk1")
    res = ui.post("/window/new", data=application_form(ui, applicant_name=""))
    assert "此项为必填项。" in res.get_data(as_text=True)


def test_missing_catalogs_are_compiled_at_start_up(tmp_path, monkeypatch):
    from babel.support import Translations

    from jointdesk.catalogs import catalog_directory

    source = tmp_path / "translations"
    po = ROOT / "jointdesk/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
    (source / "zh_Hans_CN/LC_MESSAGES").mkdir(parents=True)
    shutil.copy(po, source / "zh_Hans_CN/LC_MESSAGES/messages.po")
    # writable sources: compiled in place
    assert catalog_directory(source, tmp_path / "cache") == source
    t = Translations.load(str(source), ["zh_Hans_CN"])
    assert t.gettext("Sign in") == "登录"
    # read-only sources (an installed package): compiled into the fallback
    import jointdesk.catalogs as catalogs

    real = catalogs._compile

    def read_only(po, mo):
        if source in mo.parents:
            raise PermissionError(13, "Permission denied", str(mo))
        real(po, mo)

    (source / "zh_Hans_CN/LC_MESSAGES/messages.mo").unlink()
    monkeypatch.setattr(catalogs, "_compile", read_only)
    chosen = catalog_directory(source, tmp_path / "cache")
    assert chosen == tmp_path / "cache"
    assert Translations.load(str(chosen), ["zh_Hans_CN"]).gettext("Sign in") == "登录"


def test_a_wheel_built_by_pip_alone_carries_the_compiled_catalogs(tmp_path):
    """``pip wheel .`` on the files git knows (no .mo among them): the build compiles them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    src = tmp_path / "src"
    for name in filter(None, listed):
        path = Path(name.decode())
        if path.suffix == ".mo" or not (ROOT / path).is_file():
            continue
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, src / path)
    assert not list(src.rglob("*.mo"))
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path / "out")],
        cwd=src,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0 and "No matching distribution" in res.stderr:
        pytest.skip(f"no package index for the build requirements: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "out").glob("jointdesk-*.whl")
    with zipfile.ZipFile(wheel) as z:
        mo = "jointdesk/translations/zh_Hans_CN/LC_MESSAGES/messages.mo"
        assert mo in z.namelist()
        catalog = read_mo(io.BytesIO(z.read(mo)))
        assert catalog.get("Sign in").string == "登录"
