"""One request, one case: the approval-system push, Idempotency-Key, the window form's one-time
token and duplicate warning, and query codes that are never kept client-side and can be issued
anew. The concurrency tests send real simultaneous requests to a real gunicorn (two processes,
ten threads each) on the test PostgreSQL database."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
from datetime import timedelta

import pytest
from conftest import application_body, valid_person_id
from live_server import WebServer, at_once, opener, post_json, request
from test_web_ui import application_form, csrf_token, form_token, login

from jointdesk.models import Case, Event, RequestKey

PUSH = "/api/v1/integrations/approval-system/projects"


def case_count(db) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count(Case.id))).scalar_one()


def push_body(code: str = "2026-410105-47-01-000777", **overrides) -> dict:
    body = application_body(materials=None, **overrides)
    body["project"]["approval_system_code"] = code
    return body


@pytest.fixture(scope="module")
def server(app):
    web = WebServer(workers=2, threads=10)
    yield web
    web.stop()


# --- 1. the approval-system push ------------------------------------------------------------


def test_twenty_simultaneous_pushes_of_one_project_make_one_case(server, db, users):
    headers = users["integration"][1]
    results = at_once(20, lambda: post_json(server.url + PUSH, push_body(), headers))
    statuses = sorted(status for status, _h, _b in results)
    assert statuses == [200] * 19 + [201], [b for _s, _h, b in results if _s >= 500]
    assert len({body["reference"] for _s, _h, body in results}) == 1
    assert case_count(db) == 1
    assert sum("query_code" in body for _s, _h, body in results) == 1  # only the 201 has it
    # and every later push of the code still answers with the one case
    status, _h, body = post_json(server.url + PUSH, push_body(), headers)
    assert status == 200 and body["reference"] == results[0][2]["reference"]


def test_a_push_racing_past_the_first_look_stops_on_the_unique_constraint(
    client, db, users, monkeypatch
):
    """The race made deterministic: the look-up misses a case another request just stored, so
    the insert itself must refuse it and the push answer with that case."""
    import jointdesk.windows.services as services

    url, headers = PUSH, users["integration"][1]
    first = client.post(url, json=push_body(), headers=headers)
    assert first.status_code == 201
    real, calls = services.pushed_case, []

    def blind_first_time(code):
        calls.append(code)
        return None if len(calls) == 1 else real(code)

    monkeypatch.setattr(services, "pushed_case", blind_first_time)
    again = client.post(url, json=push_body(), headers=headers)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert len(calls) == 2 and case_count(db) == 1


def test_a_push_of_a_known_code_with_other_data_is_refused_and_audited(client, db, users):
    headers = users["integration"][1]
    first = client.post(PUSH, json=push_body(), headers=headers).get_json()
    other = push_body()
    other["applicant"] = {
        "kind": "person",
        "name": "王五",
        "id_number": valid_person_id(9),
        "phone": "13700000000",
    }
    other["services"] = ["gas"]
    res = client.post(PUSH, json=other, headers=headers)
    assert res.status_code == 409
    error = res.get_json()["error"]
    assert error["code"] == "push_conflict" and "项目代码" in error["message"]
    assert {"applicant.name", "applicant.id_number", "applicant.phone", "services"} == set(
        error["fields"]
    )
    text = res.get_data(as_text=True)
    assert first["reference"] not in text and "张三" not in text  # nothing of the other case
    assert case_count(db) == 1
    event = db.session.execute(db.select(Event).where(Event.action == "push_conflict")).scalar_one()
    assert event.detail == {
        "fields": ["applicant.id_number", "applicant.name", "applicant.phone", "services"]
    }
    assert valid_person_id(9) not in str(event.detail)


def test_one_case_per_code_pushed_by_the_approval_system_not_per_window_case(client, db, users):
    """A window application may name a project code; it neither blocks nor is the push."""
    code = "2026-410105-47-01-000888"
    window = application_body()
    window["project"]["approval_system_code"] = code
    for _ in range(2):  # a window case is not limited by the code
        assert (
            client.post("/api/v1/cases", json=window, headers=users["clerk"][1]).status_code == 201
        )
    pushed = client.post(PUSH, json=push_body(code), headers=users["integration"][1])
    assert pushed.status_code == 201 and pushed.get_json()["channel"] == "approval_system"
    again = client.post(PUSH, json=push_body(code), headers=users["integration"][1])
    assert again.status_code == 200
    assert again.get_json()["reference"] == pushed.get_json()["reference"]
    assert case_count(db) == 3


# --- 2. Idempotency-Key on POST /api/v1/cases -----------------------------------------------


def key(value: str, headers: dict) -> dict:
    return {**headers, "Idempotency-Key": value}


def test_the_same_key_and_body_answer_the_first_case(client, db, users):
    headers = key("order-2026-0001", users["clerk"][1])
    first = client.post("/api/v1/cases", json=application_body(), headers=headers)
    assert first.status_code == 201
    body = application_body()
    reordered = dict(reversed(list(body.items())))  # the same JSON, another key order
    again = client.post("/api/v1/cases", json=reordered, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    # the caller who may never have received the first answer gets its code, nobody else
    assert again.get_json()["query_code"] == first.get_json()["query_code"]
    assert again.headers["Cache-Control"] == "no-store"
    assert case_count(db) == 1


def test_the_same_key_with_another_body_is_422(client, db, users):
    headers = key("order-2026-0002", users["clerk"][1])
    assert client.post("/api/v1/cases", json=application_body(), headers=headers).status_code == 201
    res = client.post("/api/v1/cases", json=application_body(services=["water"]), headers=headers)
    assert res.status_code == 422
    assert "Idempotency-Key" in res.get_json()["error"]["fields"]
    assert case_count(db) == 1


def test_keys_belong_to_their_caller(client, db, users, make_user, token_for):
    other = token_for(make_user("clerk2", "clerk"))
    a = client.post("/api/v1/cases", json=application_body(), headers=key("k1", users["clerk"][1]))
    b = client.post("/api/v1/cases", json=application_body(), headers=key("k1", other))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.get_json()["reference"] != b.get_json()["reference"]


@pytest.mark.parametrize(
    "value", ["x" * 65, "", "钥匙".encode().decode("latin-1"), "a\x7fb", " x", "x ", " "]
)
def test_a_malformed_key_is_422_naming_the_header(client, db, users, value):
    res = client.post(
        "/api/v1/cases", json=application_body(), headers=key(value, users["clerk"][1])
    )
    assert res.status_code == 422
    fields = res.get_json()["error"]["fields"]
    assert list(fields) == ["Idempotency-Key"] and "64" in fields["Idempotency-Key"]
    assert case_count(db) == 0


def test_the_longest_printable_key_is_accepted(client, db, users):
    value = "".join(chr(c) for c in range(0x21, 0x21 + 64))
    res = client.post(
        "/api/v1/cases", json=application_body(), headers=key(value, users["clerk"][1])
    )
    assert res.status_code == 201


def test_twenty_simultaneous_requests_with_one_key_make_one_case(server, db, users):
    headers = key("mobile-app-retry-1", users["clerk"][1])
    results = at_once(
        20, lambda: post_json(server.url + "/api/v1/cases", application_body(), headers)
    )
    statuses = sorted(status for status, _h, _b in results)
    assert statuses == [200] * 19 + [201], [b for _s, _h, b in results if _s >= 500]
    assert len({body["reference"] for _s, _h, body in results}) == 1
    assert case_count(db) == 1
    # simultaneous requests with one key and different bodies: one case, the others refused
    results = at_once(
        6,
        lambda: post_json(
            server.url + "/api/v1/cases",
            application_body(services=["water"]),
            key("mobile-app-retry-2", users["clerk"][1]),
        ),
    )
    assert sorted(s for s, _h, _b in results) == [200] * 5 + [201]
    assert case_count(db) == 2


def test_a_key_expires_after_24_hours_and_is_purged(client, db, users, monkeypatch):
    import jointdesk.idempotency as idempotency
    from jointdesk.models.types import utcnow

    headers = key("daily-batch", users["clerk"][1])
    first = client.post("/api/v1/cases", json=application_body(), headers=headers).get_json()
    later = utcnow() + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(idempotency, "utcnow", lambda: later)
    # past 24 hours the key is free again: another body makes a new case, not a 422
    res = client.post("/api/v1/cases", json=application_body(services=["gas"]), headers=headers)
    assert res.status_code == 201 and res.get_json()["reference"] != first["reference"]
    client.post("/api/v1/cases", json=application_body(), headers=key("other", headers))
    monkeypatch.setattr(idempotency, "utcnow", lambda: later + timedelta(hours=25))
    from worker.tasks import purge_request_keys

    schedule = client.application.extensions["celery"].conf.beat_schedule
    assert schedule["purge-request-keys"]["task"] == purge_request_keys.name
    assert purge_request_keys.run() == 2  # what beat runs every hour
    assert db.session.execute(db.select(db.func.count(RequestKey.id))).scalar_one() == 0


def test_the_push_honours_a_key_too(client, db, users):
    headers = key("push-42", users["integration"][1])
    assert client.post(PUSH, json=push_body(), headers=headers).status_code == 201
    res = client.post(PUSH, json=push_body("2026-410105-47-01-000999"), headers=headers)
    assert res.status_code == 422 and "Idempotency-Key" in res.get_json()["error"]["fields"]


def test_openapi_documents_the_key_and_the_new_endpoint(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    param = doc["components"]["parameters"]["IdempotencyKey"]
    assert param["in"] == "header" and param["schema"]["maxLength"] == 64
    ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert ref in doc["paths"]["/api/v1/cases"]["post"]["parameters"]
    assert {"200", "201", "422"} <= set(doc["paths"]["/api/v1/cases"]["post"]["responses"])
    assert "409" in doc["paths"][PUSH]["post"]["responses"]
    assert "post" in doc["paths"]["/api/v1/cases/{reference}/query-code"]


# --- 3. the window form ---------------------------------------------------------------------


@pytest.fixture
def ui(app, db):
    before = app.config.get("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = True
    yield app.test_client()
    app.config["WTF_CSRF_ENABLED"] = before


def test_a_form_posted_three_times_makes_one_case_and_shows_its_receipt(ui, db, users):
    login(ui, "clerk1")
    data = application_form(ui)
    answers = [ui.post("/window/new", data=data) for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 302]
    assert len({a.headers["Location"] for a in answers}) == 1
    assert case_count(db) == 1
    receipt = ui.get(answers[-1].headers["Location"]).get_data(as_text=True)
    case = db.session.execute(db.select(Case)).scalar_one()
    assert case.reference in receipt and "已提交过" in receipt
    assert re.search(r'class="big">(\d{8})<', receipt)  # never shown before: shown now, once


def test_back_and_submitting_changed_data_makes_no_second_case(ui, db, users):
    login(ui, "clerk1")
    data = application_form(ui)
    first = ui.post("/window/new", data=data)
    ui.get(first.headers["Location"])  # the receipt was shown and printed
    again = ui.post("/window/new", data={**data, "phone": "13612345678"})
    assert again.status_code == 302
    page = ui.get(again.headers["Location"]).get_data(as_text=True)
    assert "未保存" in page and 'class="big">' in page
    assert not re.search(r'class="big">(\d{8})<', page)  # the code is not shown a second time
    assert case_count(db) == 1


def test_simultaneous_clicks_on_a_slow_network_make_one_case(server, db, users):
    jar = http.cookiejar.CookieJar()
    web = opener(jar)
    origin = {"Origin": server.url, "Referer": server.url + "/window/new"}
    page = request(web, server.url + "/login")[2].decode()
    status, _h, _b = request(
        web,
        server.url + "/login",
        data=urllib.parse.urlencode(
            {
                "username": "clerk1",
                "password": "correct-horse-battery",
                "csrf_token": csrf_token(page),
            }
        ).encode(),
        headers={**origin, "Referer": server.url + "/login"},
    )
    assert status == 302
    page = request(web, server.url + "/window/new")[2].decode()
    form = {
        "csrf_token": csrf_token(page),
        "form_token": form_token(page),
        "applicant_kind": "person",
        "applicant_name": "李四",
        "id_number": valid_person_id(7),
        "phone": "13912345678",
        "district": "二七区",
        "address_detail": "大学路 45 号",
        "services": "water",
        "form_provided": "y",
    }
    body = urllib.parse.urlencode(form).encode()
    results = at_once(
        3, lambda: request(web, server.url + "/window/new", data=body, headers=origin)
    )
    assert [r[0] for r in results] == [302, 302, 302], [r[2][:300] for r in results]
    assert len({r[1]["Location"] for r in results}) == 1
    assert case_count(db) == 1


def test_an_open_case_of_the_same_person_address_and_service_must_be_confirmed(ui, db, users):
    login(ui, "clerk1")
    first = ui.post("/window/new", data=application_form(ui))
    reference = db.session.execute(db.select(Case.reference)).scalar_one()
    # a new form (new token), the same person and address written differently, gas again
    data = application_form(ui, address_detail="大学路45号", services=["gas", "heat"])
    res = ui.post("/window/new", data=data)
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and reference in html and 'name="confirm_duplicate"' in html
    assert case_count(db) == 1
    assert first.status_code == 302
    res = ui.post("/window/new", data={**data, "confirm_duplicate": "y"})
    assert res.status_code == 302
    assert case_count(db) == 2
    created = (
        db.session.execute(
            db.select(Event).where(Event.action == "case_created").order_by(Event.id.desc())
        )
        .scalars()
        .first()
    )
    assert created.detail["duplicate_of"] == [reference]


def test_no_warning_for_another_service_or_a_closed_one(ui, db, users):
    login(ui, "clerk1")
    ui.post("/window/new", data=application_form(ui, services=["water"]))
    res = ui.post("/window/new", data=application_form(ui, services=["heat"]))
    assert res.status_code == 302  # heat was not asked for before
    assert case_count(db) == 2


def test_the_form_page_disables_its_button_after_the_first_click(ui, users):
    login(ui, "clerk1")
    html = ui.get("/window/new").get_data(as_text=True)
    assert "data-submit-once" in html and "/static/forms.js" in html
    script = ui.get("/static/forms.js").get_data(as_text=True)
    assert "disabled = true" in script and "pageshow" in script


# --- 4. query codes -------------------------------------------------------------------------


def session_of(app, ui) -> dict:
    cookie = ui.get_cookie("session", domain="jointdesk.test")
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(cookie.value)


def test_the_query_code_is_never_kept_in_the_session_cookie(app, ui, db, users):
    login(ui, "clerk1")
    res = ui.post("/window/new", data=application_form(ui))
    old_cookie = ui.get_cookie("session", domain="jointdesk.test").value
    assert "receipt" not in session_of(app, ui)
    receipt = ui.get(res.headers["Location"])
    code = re.search(r'class="big">(\d{8})<', receipt.get_data(as_text=True)).group(1)
    assert receipt.headers["Cache-Control"] == "no-store"
    assert code not in str(session_of(app, ui))
    # replaying the cookie from before the receipt was shown does not show it again
    ui.set_cookie("session", old_cookie, domain="jointdesk.test")
    again = ui.get(res.headers["Location"]).get_data(as_text=True)
    assert code not in again


def public(client, reference, code):
    return client.get(f"/api/v1/public/cases/{reference}?code={code}").status_code


def test_a_clerk_issues_a_new_query_code_from_the_case_page(app, ui, db, users, submit):
    case = submit()
    login(ui, "clerk1")
    page = ui.get(f"/cases/{case['reference']}").get_data(as_text=True)
    assert "重新发放查询码" in page
    url = f"/cases/{case['reference']}/query-code"
    assert ui.post(url).status_code == 400  # no CSRF token
    res = ui.post(url, data={"csrf_token": csrf_token(page)})
    assert res.status_code == 302
    receipt = ui.get(res.headers["Location"]).get_data(as_text=True)
    new_code = re.search(r'class="big">(\d{8})<', receipt).group(1)
    assert new_code not in str(session_of(app, ui))
    assert public(ui, case["reference"], case["query_code"]) == 404  # the old one stopped
    assert public(ui, case["reference"], new_code) == 200
    assert new_code not in ui.get(res.headers["Location"]).get_data(as_text=True)  # once
    event = db.session.execute(
        db.select(Event).where(Event.action == "query_code_reissued")
    ).scalar_one()
    assert event.actor == "clerk1" and new_code not in str(event.detail)
    timeline = ui.get(f"/cases/{case['reference']}").get_data(as_text=True)
    assert "查询码" in timeline


@pytest.mark.parametrize("who", ["water1", "super1"])
def test_only_clerks_and_admins_issue_codes_on_the_web(ui, users, submit, who):
    case = submit()
    login(ui, who)
    page = ui.get("/cases").get_data(as_text=True)
    res = ui.post(f"/cases/{case['reference']}/query-code", data={"csrf_token": csrf_token(page)})
    assert res.status_code in (403, 404)


@pytest.mark.parametrize("reference", ["%FF", "Z" * 300, "%00", "<script>"])
def test_junk_references_for_a_new_code_are_404_not_500(client, users, reference):
    res = client.post(f"/api/v1/cases/{reference}/query-code", headers=users["clerk"][1])
    assert res.status_code in (400, 404)


def test_the_api_issues_a_new_query_code(client, db, users, submit):
    headers = key("first-try", users["clerk"][1])
    first = client.post("/api/v1/cases", json=application_body(), headers=headers).get_json()
    ref, old = first["reference"], first["query_code"]
    url = f"/api/v1/cases/{ref}/query-code"
    for who in ("integration", "water", "supervisor"):
        assert client.post(url, headers=users[who][1]).status_code == 403
    assert client.post(url).status_code == 401
    assert (
        client.post("/api/v1/cases/ZZNOPE/query-code", headers=users["admin"][1]).status_code == 404
    )
    res = client.post(url, headers=users["clerk"][1])
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    new = res.get_json()["query_code"]
    assert re.fullmatch(r"\d{8}", new) and res.get_json()["reference"] == ref
    assert public(client, ref, old) == 404 and public(client, ref, new) == 200
    # a retry of the first request no longer hands out the code that stopped working
    again = client.post("/api/v1/cases", json=application_body(), headers=headers)
    assert again.status_code == 200 and "query_code" not in again.get_json()
    assert client.post(url, headers=users["admin"][1]).status_code == 200
    events = (
        db.session.execute(db.select(Event).where(Event.action == "query_code_reissued"))
        .scalars()
        .all()
    )
    assert [e.actor for e in events] == ["clerk1", "admin1"]


# --- the embedded default (SQLite) ----------------------------------------------------------

SQLITE_SCRIPT = r"""
import copy, json, sys, threading
from flask_migrate import upgrade
from jointdesk import create_app
from jointdesk.auth import issue_token
from jointdesk.extensions import db
from jointdesk.models import Case, User
from jointdesk.seed import load_reference_data

BODY = json.loads(sys.argv[1])
application_body = lambda: copy.deepcopy(BODY)  # noqa: E731
app = create_app({"TESTING": True})
out = {}
with app.app_context():
    upgrade()
    load_reference_data()
    users = {}
    for name, role in (("gongjian", "integration"), ("clerk1", "clerk")):
        user = User(username=name, role=role, password_hash="x")
        db.session.add(user)
        db.session.flush()
        users[role] = {"Authorization": "Bearer " + issue_token(user)}
    db.session.commit()
client = app.test_client()
push = application_body()
push["materials"] = None
push["project"]["approval_system_code"] = "2026-410105-47-01-000555"
url = "/api/v1/integrations/approval-system/projects"
results = []

def send(body, headers, path):
    results.append(app.test_client().post(path, json=body, headers=headers).status_code)

threads = [threading.Thread(target=send, args=(push, users["integration"], url)) for _ in range(5)]
threads += [
    threading.Thread(
        target=send,
        args=(application_body(), {**users["clerk"], "Idempotency-Key": "k-1"}, "/api/v1/cases"),
    )
    for _ in range(5)
]
for t in threads:
    t.start()
for t in threads:
    t.join()
other = json.loads(json.dumps(push))
other["applicant"]["name"] = "王五"
out["conflict"] = client.post(url, json=other, headers=users["integration"]).status_code
out["statuses"] = sorted(results)
with app.app_context():
    out["cases"] = db.session.execute(db.select(db.func.count(Case.id))).scalar_one()
print(json.dumps(out))
"""


def test_the_same_guarantees_on_the_embedded_sqlite_default(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from processes import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTDESK_")}
    env.update(
        {
            "JOINTDESK_INSTANCE_PATH": str(tmp_path),
            "JOINTDESK_RATELIMIT_STORAGE_URL": "memory://",
        }
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SQLITE_SCRIPT, json.dumps(application_body())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # five pushes of one project, five requests with one key: one case each
    assert out["statuses"] == [200] * 8 + [201] * 2, out
    assert out["cases"] == 2 and out["conflict"] == 409
