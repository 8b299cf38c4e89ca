"""Online self-service (网上报装): one-time codes and their limits, the public page /apply with
its receipt and downloads, the public JSON API for the app, and one case per application, also
under concurrency (a real gunicorn on the test PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import application_body, valid_person_id
from flask import g
from live_server import WebServer, at_once, post_json
from test_web_ui import csrf_token

from jointdesk.models import ApplicantMessage, Case, OnlineSubmission, VerificationCode

CODES = "/api/v1/public/verification-codes"
APPS = "/api/v1/public/applications"
PHONE = "13912345678"


@pytest.fixture
def ui(app, db):
    """A browser-like client: real CSRF, its own cookie jar."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def last_code(db, phone: str = PHONE) -> str:
    """The code of the newest message to ``phone`` in the outbox (nothing is really sent)."""
    db.session.rollback()
    body = db.session.execute(
        db.select(ApplicantMessage.body)
        .where(ApplicantMessage.phone == phone, ApplicantMessage.template == "verification_code")
        .order_by(ApplicantMessage.id.desc())
        .limit(1)
    ).scalar_one()
    return re.search(r"验证码为(\d{6})", body).group(1)


def another_browser(ui):
    """A second browser. The tests run inside one app context, whose ``g`` would hand the
    first browser's CSRF token to the second one's pages: forget it."""
    from flask import g

    g.pop("csrf_token", None)
    return ui.application.test_client()


def age_codes(db, **delta) -> None:
    """Moves every stored code back in time (past the one-a-minute limit, or its expiry)."""
    for row in db.session.execute(db.select(VerificationCode)).scalars():
        row.created_at -= timedelta(**delta)
    db.session.commit()


def case_count(db) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count(Case.id))).scalar_one()


def page_form(**overrides) -> dict:
    data = {
        "applicant_kind": "person",
        "applicant_name": "王五",
        "id_number": valid_person_id(9),
        "district": "金水区",
        "address_detail": "花园路 8 号",
        "services": ["water", "gas"],
        "external_works": "y",
        "pipeline_length_m": "80",
    }
    data.update(overrides)
    return data


def verify_on_page(ui, db, phone: str = PHONE) -> None:
    page = ui.get("/apply").get_data(as_text=True)
    res = ui.post("/apply/code", data={"phone": phone, "csrf_token": csrf_token(page)})
    assert res.status_code == 303, re.findall(r"<main>.*", res.get_data(as_text=True), re.S)
    page = ui.get("/apply").get_data(as_text=True)
    res = ui.post(
        "/apply/verify", data={"code": last_code(db, phone), "csrf_token": csrf_token(page)}
    )
    assert res.status_code == 303


def submit_on_page(ui, **overrides):
    page = ui.get("/apply").get_data(as_text=True)
    return ui.post("/apply", data={**page_form(**overrides), "csrf_token": csrf_token(page)})


def online_body(code: str, phone: str = PHONE, **overrides) -> dict:
    body = application_body(**overrides)
    body.pop("materials")
    body["applicant"]["phone"] = phone
    body["verification"] = {"phone": phone, "code": code}
    return body


def api_code(client, db, phone: str = PHONE) -> str:
    res = client.post(CODES, json={"phone": phone})
    assert res.status_code == 202, res.get_json()
    return last_code(db, phone)


# --- the page ------------------------------------------------------------------------------------


def test_the_page_journey_code_submit_receipt(ui, db):
    page = ui.get("/apply").get_data(as_text=True)
    assert "网上报装" in page or "在线申请" in page
    assert 'name="viewport"' in page
    res = ui.post("/apply/code", data={"phone": "139 1234 5678", "csrf_token": csrf_token(page)})
    assert res.status_code == 303  # spaces ignored
    page = ui.get("/apply").get_data(as_text=True)
    assert "139****5678" in page and PHONE not in page
    assert 'id="dev-outbox"' in page  # development: where the code is
    code = last_code(db)
    res = ui.post("/apply/verify", data={"code": code, "csrf_token": csrf_token(page)})
    assert res.status_code == 303
    res = submit_on_page(ui)
    assert res.status_code == 303
    receipt = ui.get(res.headers["Location"]).get_data(as_text=True)
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.channel == "online" and case.materials == [] and case.created_by_id is None
    assert case.applicant_phone == PHONE
    assert case.reference in receipt
    query_code = re.search(r'id="query-code">(\d{8})<', receipt).group(1)
    assert ui.get(f"/status?reference={case.reference}").status_code == 200
    assert "申请受理" in receipt and "验收接通" in receipt  # the steps
    assert "郑州自来水" in receipt and "燃气" in receipt  # the services' providers
    assert "139****5678" in receipt and PHONE not in receipt  # masked
    assert case.applicant_id_number not in receipt
    # the code works on the public status look-up
    res = ui.get(f"/api/v1/public/cases/{case.reference}?code={query_code}")
    assert res.status_code == 200
    # the code was used up
    row = db.session.execute(db.select(VerificationCode)).scalar_one()
    assert row.consumed_at is not None


def test_forms_need_their_csrf_token(ui, db):
    assert ui.post("/apply/code", data={"phone": PHONE}).status_code == 400
    assert db.session.execute(db.select(db.func.count(VerificationCode.id))).scalar_one() == 0
    verify_on_page(ui, db)
    assert ui.post("/apply", data=page_form()).status_code == 400
    assert case_count(db) == 0


def test_field_errors_in_chinese_and_nothing_saved(ui, db):
    verify_on_page(ui, db)
    res = submit_on_page(ui, id_number="123", services=[], address_detail="  ")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "身份证" in html and "至少选择一项" in html or "请选择" in html
    assert "未保存" in html or "没有保存" in html
    assert case_count(db) == 0
    # corrected, it goes through with the same verification
    assert submit_on_page(ui).status_code == 303
    assert case_count(db) == 1


def test_step_two_needs_a_verified_phone(ui, db):
    res = submit_on_page(ui)
    assert res.status_code == 303 and res.headers["Location"].endswith("/apply")
    assert case_count(db) == 0


def test_the_same_application_twice_gives_the_first_case(ui, db):
    verify_on_page(ui, db)
    first = submit_on_page(ui)
    again = submit_on_page(ui, address_detail="花园路８号")  # full-width, same address
    assert first.headers["Location"] == again.headers["Location"]
    assert case_count(db) == 1
    # and from another browser that proves the same phone: still the first case
    other = another_browser(ui)
    verify_on_page_later(other, db)
    third = submit_on_page(other)
    assert third.headers["Location"] == first.headers["Location"]
    assert case_count(db) == 1
    g.pop("csrf_token", None)  # back to the first browser
    # another application is another case
    assert submit_on_page(ui, services=["heat"]).headers["Location"] != first.headers["Location"]
    assert case_count(db) == 2


def verify_on_page_later(ui, db, monkeypatch=None):
    """Verifies again after the one-a-minute limit (the clock moved on)."""
    age_codes(db, minutes=2)
    verify_on_page(ui, db)


def test_a_twin_racing_past_the_look_up_stops_on_the_unique_key(ui, db, monkeypatch):
    """The race made deterministic: the look-up misses the case a twin just stored, so the
    unique key itself must refuse the second case and answer with the first."""
    import jointdesk.online.services as services

    verify_on_page(ui, db)
    first = submit_on_page(ui)
    real, calls = services.find_submission, []

    def blind_first_time(key):
        calls.append(key)
        return None if len(calls) == 1 else real(key)

    monkeypatch.setattr(services, "find_submission", blind_first_time)
    again = submit_on_page(ui)
    assert again.headers["Location"] == first.headers["Location"]
    assert len(calls) == 2 and case_count(db) == 1


def test_downloads_and_the_code_only_for_the_submitting_browser(ui, db):
    verify_on_page(ui, db)
    receipt_url = submit_on_page(ui).headers["Location"]
    reference = receipt_url.rsplit("/", 1)[1]
    html = ui.get(receipt_url).get_data(as_text=True)
    code = re.search(r'id="query-code">(\d{8})<', html).group(1)
    pdf = ui.get(f"{receipt_url}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"
    svg = ui.get(f"{receipt_url}/receipt.svg")
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    text = svg.get_data(as_text=True)
    assert code in text and reference in text and "<path" in text
    # another browser: the reference only, no code, no downloads
    stranger = another_browser(ui)
    html = stranger.get(receipt_url).get_data(as_text=True)
    assert reference in html and code not in html and "query-code" not in html
    assert "查询" in html  # tells how to look the case up
    assert stranger.get(f"{receipt_url}/receipt.pdf").status_code == 404
    assert stranger.get(f"{receipt_url}/receipt.svg").status_code == 404


def test_the_pdf_holds_the_receipt_in_chinese(ui, db):
    verify_on_page(ui, db)
    receipt_url = submit_on_page(ui).headers["Location"]
    pdf = ui.get(f"{receipt_url}/receipt.pdf").data
    assert b"STSong-Light" in pdf  # the built-in CID font, no font file


def test_a_window_receipt_is_not_an_online_one(ui, db, submit):
    case = submit()
    assert ui.get(f"/apply/receipt/{case['reference']}").status_code == 404


# --- codes -----------------------------------------------------------------------------------


def test_a_wrong_code_uses_an_attempt_and_the_last_kills_it(client, db):
    code = api_code(client, db)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        res = client.post(APPS, json=online_body(wrong))
        assert res.status_code == 403
        assert res.get_json()["error"]["code"] == "verification_wrong"
        assert f"{left} 次" in res.get_json()["error"]["fields"]["verification.code"]
    res = client.post(APPS, json=online_body(wrong))
    assert res.get_json()["error"]["code"] == "verification_dead"
    res = client.post(APPS, json=online_body(code))  # the right one, too late
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "verification_dead"
    assert case_count(db) == 0


def test_an_expired_code_and_a_used_code_are_refused(client, db):
    code = api_code(client, db)
    db.session.execute(db.update(VerificationCode).values(expires_at=VerificationCode.created_at))
    db.session.commit()
    res = client.post(APPS, json=online_body(code))
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "verification_expired"
    assert "过期" in res.get_json()["error"]["fields"]["verification.code"]
    # a used code makes no second, different case
    age_codes(db, hours=1)
    code = api_code(client, db)
    assert client.post(APPS, json=online_body(code)).status_code == 201
    res = client.post(APPS, json=online_body(code, services=["heat"]))
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "verification_used"
    assert case_count(db) == 1


def test_a_new_code_replaces_the_old_one(client, db, monkeypatch):
    old = api_code(client, db)
    age_codes(db, minutes=2)
    new = api_code(client, db)
    if old != new:
        res = client.post(APPS, json=online_body(old))
        assert res.status_code == 403
    assert client.post(APPS, json=online_body(new)).status_code == 201


def test_code_limits_per_phone_say_how_long_to_wait(client, db, monkeypatch):
    from conftest import Clock, at

    import jointdesk.online.services as services

    clock = Clock(at(2026, 11, 26, 9, 0))
    clock.set(clock.now)
    monkeypatch.setattr(services, "utcnow", clock)
    assert client.post(CODES, json={"phone": PHONE}).status_code == 202
    res = client.post(CODES, json={"phone": PHONE})
    assert res.status_code == 429
    assert 1 <= int(res.headers["Retry-After"]) <= 61
    assert "秒" in res.get_json()["error"]["message"]
    for _ in range(4):  # five an hour
        clock.advance(seconds=61)
        assert client.post(CODES, json={"phone": PHONE}).status_code == 202
    clock.advance(seconds=61)
    res = client.post(CODES, json={"phone": PHONE})
    assert res.status_code == 429 and "分钟" in res.get_json()["error"]["message"]
    assert 3000 < int(res.headers["Retry-After"]) <= 3600
    # in English on request
    res = client.post(CODES, json={"phone": PHONE}, headers={"Accept-Language": "en"})
    assert " min" in res.get_json()["error"]["message"]
    # another number is not held up
    assert client.post(CODES, json={"phone": "13700000000"}).status_code == 202
    # ten a day: after the hour, five more, then the wait is in hours
    clock.advance(minutes=60)
    for _ in range(5):
        clock.advance(minutes=13)
        assert client.post(CODES, json={"phone": PHONE}).status_code == 202, clock.now
    clock.advance(minutes=61)
    res = client.post(CODES, json={"phone": PHONE})
    assert res.status_code == 429 and "小时" in res.get_json()["error"]["message"]


def test_code_limits_per_client(app, client, db, monkeypatch):
    monkeypatch.setitem(app.config, "JOINTDESK_OTP_CLIENT_LIMIT", "3 per hour")
    for i in range(3):
        assert client.post(CODES, json={"phone": f"1390000000{i}"}).status_code == 202
    res = client.post(CODES, json={"phone": "13900000009"})
    assert res.status_code == 429 and "分钟" in res.get_json()["error"]["message"]
    assert int(res.headers["Retry-After"]) > 60
    # the page says the same
    app.config["WTF_CSRF_ENABLED"] = True
    ui = another_browser(client)
    page = ui.get("/apply").get_data(as_text=True)
    res = ui.post("/apply/code", data={"phone": "13900000008", "csrf_token": csrf_token(page)})
    assert res.status_code == 429 and "Retry-After" in res.headers
    assert "分钟后再试" in res.get_data(as_text=True)


def test_only_hashes_are_stored(client, db):
    code = api_code(client, db)
    row = db.session.execute(db.select(VerificationCode)).scalar_one()
    assert PHONE not in row.phone_hash and code not in row.code_hash
    message = db.session.execute(db.select(ApplicantMessage)).scalar_one()
    assert (
        message.dedup_key == f"otp:{row.id}" and message.status == "sent"
    )  # no gateway: kept in the outbox


def test_bad_phone_numbers_are_refused_field_by_field(client, db):
    for phone in ("12345", "23912345678", "1391234567x", ""):
        res = client.post(CODES, json={"phone": phone})
        assert res.status_code == 422
        assert "手机号" in res.get_json()["error"]["fields"]["phone"]
    assert client.post(CODES, json={"phone": "１３９ １２３４ ５６７８"}).status_code == 202


# --- the API -------------------------------------------------------------------------------------


def test_api_submission_is_online_with_zero_materials_and_trips(client, db, submit):
    code = api_code(client, db)
    res = client.post(APPS, json=online_body(code))
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    assert body["channel"] == "online" and re.fullmatch(r"\d{8}", body["query_code"])
    assert body["applicant"]["phone"] == "139****5678"
    assert body["status_url"].endswith(f"/status?reference={body['reference']}")
    assert res.headers["Location"] == f"/api/v1/public/cases/{body['reference']}"
    # the same application at the window: same steps and limits, one trip and one material more
    window = submit(applicant={**application_body()["applicant"], "phone": PHONE})
    online_ind, window_ind = body["indicators"], window["indicators"]
    assert online_ind["steps"] == window_ind["steps"] == 2
    assert online_ind["limits"] == window_ind["limits"]
    assert (online_ind["applicant_trips"], window_ind["applicant_trips"]) == (0, 1)
    assert (online_ind["materials_asked"], window_ind["materials_asked"]) == (0, 1)
    assert body["four_zero"]["zero_materials"] and body["four_zero"]["zero_trips"]
    assert not window_ind["four_zero"]["zero_materials"]
    for flag in ("zero_approvals", "zero_investment"):
        assert body["four_zero"][flag] == window_ind["four_zero"][flag]
    assert [t["service"] for t in body["tickets"]] == [t["service"] for t in window["tickets"]]
    for mine, theirs in zip(body["tickets"], window["tickets"], strict=True):
        assert [s["name"] for s in mine["steps"]] == [s["name"] for s in theirs["steps"]]
        assert [p["kind"] for p in mine["permits"]] == [p["kind"] for p in theirs["permits"]]
    status = client.get(f"/api/v1/public/cases/{body['reference']}?code={body['query_code']}")
    assert status.status_code == 200


def test_api_repeat_answers_the_first_case_with_its_code(client, db):
    code = api_code(client, db)
    first = client.post(APPS, json=online_body(code)).get_json()
    again = client.post(APPS, json=online_body(code))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["reference"] == first["reference"]
    assert again.get_json()["query_code"] == first["query_code"]
    assert case_count(db) == 1
    # without the right code, the first case is not given away
    res = client.post(APPS, json=online_body("999999" if code != "999999" else "888888"))
    assert res.status_code == 403 and "reference" not in res.get_json()


def test_api_idempotency_key(client, db):
    code = api_code(client, db)
    headers = {"Idempotency-Key": "app-42"}
    first = client.post(APPS, json=online_body(code), headers=headers)
    assert first.status_code == 201
    again = client.post(APPS, json=online_body(code), headers=headers)
    assert (
        again.status_code == 200 and again.get_json()["reference"] == first.get_json()["reference"]
    )
    other = client.post(APPS, json=online_body(code, services=["heat"]), headers=headers)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    bad = client.post(APPS, json=online_body(code), headers={"Idempotency-Key": " x"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.get_json()["error"]["fields"]
    assert case_count(db) == 1


def test_api_channel_is_decided_by_the_caller(client, db, users):
    code = api_code(client, db)
    res = client.post(APPS, json={**online_body(code), "channel": "app"})
    assert res.status_code == 422 and "online" in res.get_json()["error"]["fields"]["channel"]
    res = client.post(APPS, json={**online_body(code), "channel": "window"})
    assert res.status_code == 422
    res = client.post(APPS, json=online_body(code), headers=users["clerk"][1])
    assert res.status_code == 403
    res = client.post(APPS, json=online_body(code), headers={"Authorization": "Bearer nope"})
    assert res.status_code == 401
    assert case_count(db) == 0
    res = client.post(
        APPS, json={**online_body(code), "channel": "app"}, headers=users["integration"][1]
    )
    assert res.status_code == 201 and res.get_json()["channel"] == "app"
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.channel == "app" and case.created_by_id == users["integration"][0].id
    assert case.materials == []


def test_api_refuses_materials_and_another_phone(client, db):
    code = api_code(client, db)
    body = online_body(code)
    body["materials"] = [{"kind": "application_form"}]
    res = client.post(APPS, json=body)
    assert res.status_code == 422 and "materials" in res.get_json()["error"]["fields"]
    body = online_body(code)
    body["applicant"]["phone"] = "13700000000"
    res = client.post(APPS, json=body)
    assert res.status_code == 422 and "verification.phone" in res.get_json()["error"]["fields"]
    res = client.post(APPS, json=online_body(code, address={"district": "金水区", "detail": " "}))
    assert res.status_code == 422 and "address.detail" in res.get_json()["error"]["fields"]
    assert case_count(db) == 0
    # the code still works after the refusals (nothing half-saved, the code not used up)
    assert client.post(APPS, json=online_body(code)).status_code == 201


def test_api_errors_in_english_on_request(client, db):
    api_code(client, db)
    res = client.post(APPS, json=online_body("000001"), headers={"Accept-Language": "en"})
    assert (
        res.status_code == 403
        and "attempt" in res.get_json()["error"]["fields"]["verification.code"]
    )


# --- concurrency, on a real server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app):
    web = WebServer(workers=2, threads=10)
    yield web
    web.stop()


def test_ten_simultaneous_submissions_make_one_case(server, db):
    status, _h, _b = post_json(server.url + CODES, {"phone": PHONE}, {})
    assert status == 202
    body = online_body(last_code(db))
    results = at_once(10, lambda: post_json(server.url + APPS, body, {}))
    statuses = sorted(s for s, _h, _b in results)
    assert statuses == [200] * 9 + [201], [b for s, _h, b in results if s >= 300]
    assert len({b["reference"] for _s, _h, b in results}) == 1
    assert len({b["query_code"] for _s, _h, b in results}) == 1
    assert case_count(db) == 1
    assert db.session.execute(db.select(db.func.count(OnlineSubmission.id))).scalar_one() == 1


# --- the example client, against a real server ---------------------------------------------------


@pytest.mark.parametrize("as_app", [False, True])
def test_the_example_client_applies_and_follows_the_status(server, db, users, as_app):
    import subprocess
    import sys

    from processes import ROOT, wait_for

    phone = "13600000001" if as_app else "13600000002"
    cmd = [sys.executable, str(ROOT / "examples" / "app_client.py"), "--server", server.url]
    cmd += ["--phone", phone, "--polls", "2", "--interval", "0.1"]
    if as_app:
        cmd += ["--token", users["integration"][1]["Authorization"].split()[1]]
    proc = subprocess.Popen(  # noqa: S603
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def sent() -> bool:
        db.session.rollback()
        return (
            db.session.execute(
                db.select(ApplicantMessage.id).where(ApplicantMessage.phone == phone)
            ).first()
            is not None
        )

    assert wait_for(sent, 30, 0.1), proc.communicate(timeout=5)
    out, err = proc.communicate(last_code(db, phone) + "\n", timeout=60)
    assert proc.returncode == 0, err
    case = db.session.execute(db.select(Case)).scalar_one()
    assert f"reference {case.reference}" in out
    assert f"channel {'app' if as_app else 'online'}" in out
    assert case.channel == ("app" if as_app else "online")
    assert len(re.findall(r"^status received \(water: \w+, electricity: \w+\)$", out, re.M)) == 2


def test_a_code_of_another_number_gives_no_case_away(client, db):
    """Someone who knows an application's data but not its phone proves their own number:
    they get neither the first case nor its query code."""
    code = api_code(client, db)
    first = client.post(APPS, json=online_body(code))
    assert first.status_code == 201
    mine = api_code(client, db, "13700000000")
    body = online_body(code)  # the victim's application
    body["verification"] = {"phone": "13700000000", "code": mine}
    res = client.post(APPS, json=body)
    assert res.status_code == 422 and "query_code" not in res.get_json()
    assert "verification.phone" in res.get_json()["error"]["fields"]
    assert case_count(db) == 1


def test_purge_forgets_old_keys_and_codes(client, db):
    from jointdesk.online.services import purge

    code = api_code(client, db)
    assert client.post(APPS, json=online_body(code)).status_code == 201
    assert purge() == 0  # all still needed
    for row in db.session.execute(db.select(OnlineSubmission)).scalars():
        row.created_at -= timedelta(hours=25)
    age_codes(db, days=3)
    assert purge() == 2
    assert db.session.execute(db.select(db.func.count(VerificationCode.id))).scalar_one() == 0
    assert case_count(db) == 1  # the case stays


def test_the_page_in_english(ui, db):
    page = ui.get("/apply").get_data(as_text=True)
    ui.post("/lang/en", data={"csrf_token": csrf_token(page), "next": "/apply"})
    page = ui.get("/apply").get_data(as_text=True)
    assert "Apply online for water, power, gas and heat" in page and "Send code" in page


def test_five_simultaneous_page_submissions_make_one_case(server, db):
    """A double (quintuple) click on a slow network: the same browser posts the form five
    times at once; every answer sends it to the one receipt."""
    import http.cookiejar
    import urllib.parse

    from live_server import opener, request

    jar = http.cookiejar.CookieJar()
    browser = opener(jar)
    origin = {"Origin": server.url, "Content-Type": "application/x-www-form-urlencoded"}

    def get(path: str) -> str:
        return request(browser, server.url + path)[2].decode()

    def post(path: str, data: dict):
        raw = urllib.parse.urlencode(data, doseq=True).encode()
        return request(browser, server.url + path, data=raw, headers=origin)

    phone = "13600000003"
    status, _h, _b = post("/apply/code", {"phone": phone, "csrf_token": csrf_token(get("/apply"))})
    assert status == 303
    status, _h, _b = post(
        "/apply/verify", {"code": last_code(db, phone), "csrf_token": csrf_token(get("/apply"))}
    )
    assert status == 303
    form = {**page_form(), "csrf_token": csrf_token(get("/apply"))}
    results = at_once(5, lambda: post("/apply", form))
    assert [s for s, _h, _b in results] == [303] * 5
    assert len({h["Location"] for _s, h, _b in results}) == 1
    assert case_count(db) == 1
    receipt = get(urllib.parse.urlsplit(results[0][1]["Location"]).path)
    assert re.search(r'id="query-code">\d{8}<', receipt)


def test_no_500_for_junk(client, db, users):
    from test_openapi_and_errors import JUNK

    paths = [CODES, APPS, "/apply", "/apply/code", "/apply/verify", "/apply/restart"]
    for path in paths:
        for junk in JUNK:
            assert client.post(path, json=junk).status_code < 500, (path, junk)
            assert client.post(path, json={"phone": junk, "verification": junk}).status_code < 500
            body = online_body("123456")
            body["verification"]["phone"] = junk
            assert client.post(path, json=body).status_code < 500
            assert client.post(path, data={"phone": str(junk), "code": str(junk)}).status_code < 500
    for path in (
        "/apply/receipt/nope",
        "/apply/receipt/%FF/receipt.pdf",
        "/apply/receipt/x/receipt.svg",
    ):
        assert client.get(path).status_code == 404
