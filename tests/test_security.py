"""No forged or lingering sessions (issue 6, section 3), through real form posts with real CSRF
tokens on real PostgreSQL: the secret key, server-side sessions, per-account throttling, demo
and integration accounts, what staff of another provider see, same-origin posts, headers."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TEST_PASSWORD, application_body
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from test_web_ui import application_form, csrf_token, login

from jointdesk.models import Case, Event, User

OLD_PUBLISHED_KEY = "dev-only-not-secret"  # what config.py used to sign cookies with


def isolated(app, client_class):
    """A browser whose every request runs in its own app context, as in production (the ``db``
    fixture keeps one app context open for the test, and requests would otherwise share its
    ``g``: the signed-in user and the CSRF token would leak from one browser to the next)."""

    class Isolated(client_class):
        def open(self, *args, **kwargs):
            with app.app_context():
                return super().open(*args, **kwargs)

    return Isolated(app, app.response_class, use_cookies=True)


@pytest.fixture
def browser(app, db):
    """Makes browsers (real CSRF, own cookie jar, own app context per request)."""
    app.config["WTF_CSRF_ENABLED"] = True
    return lambda: isolated(app, app.test_client_class)


@pytest.fixture
def ui(browser):
    return browser()


def jointdesk(*args, stdin: str | None = None, env: dict | None = None):
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jointdesk.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def signed_in(client, path: str = "/cases") -> bool:
    return client.get(path).status_code == 200


def copy_of(app, client) -> FlaskClient:
    """Another browser with a copy of ``client``'s session cookie (as an attacker keeps it)."""
    other = isolated(app, app.test_client_class)
    cookie = client.get_cookie("session", domain="jointdesk.test")
    other.set_cookie("session", cookie.value, domain="jointdesk.test")
    return other


def post_button(client, page: str, action: str, **extra):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **extra})


# --- 1. no well-known key -------------------------------------------------------------------


def test_without_a_secret_key_each_instance_makes_its_own_private_one(tmp_path):
    """Six processes start at once on a fresh instance: one random key, mode 0600, shared."""
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if k != "JOINTDESK_SECRET_KEY"}
    env["JOINTDESK_INSTANCE_PATH"] = str(instance)
    code = "from config import build_settings; print(build_settings()['SECRET_KEY'])"
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1
    key = keys.pop()
    assert key != OLD_PUBLISHED_KEY and len(key) >= 64
    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary files left
    env["JOINTDESK_INSTANCE_PATH"] = str(tmp_path / "another")
    other = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert other.stdout.strip() not in (key, "")


def test_a_cookie_signed_with_the_old_published_key_opens_nothing(app, ui, users):
    forger = Flask("forger")
    forger.secret_key = OLD_PUBLISHED_KEY
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    forged = serializer.dumps({"_user_id": str(users["admin"][0].id), "_fresh": True})
    ui.set_cookie("session", forged, domain="jointdesk.test")
    res = ui.get("/admin/")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert app.config["SECRET_KEY"] != OLD_PUBLISHED_KEY


def test_a_published_key_is_refused_even_when_set(tmp_path):
    env = {**os.environ, "JOINTDESK_SECRET_KEY": OLD_PUBLISHED_KEY}
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from config import build_settings; build_settings()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "JOINTDESK_SECRET_KEY" in res.stderr


# --- 2. sessions end on the server -------------------------------------------------------------


def test_logout_ends_the_session_even_for_a_copied_cookie(app, ui, users, submit):
    case = submit()
    login(ui, "clerk1")
    stolen = copy_of(app, ui)
    assert stolen.get(f"/cases/{case['reference']}").status_code == 200
    res = post_button(ui, "/cases", "/logout")
    assert res.status_code == 302
    assert not signed_in(ui)
    res = stolen.get(f"/cases/{case['reference']}")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_sign_out_everywhere_and_deactivation_in_the_admin_pages(
    app, browser, db, users, token_for
):
    admin = browser()
    login(admin, "admin1")
    water_a, water_b, clerk = browser(), browser(), browser()
    login(water_a, "water1")
    login(water_b, "water1")
    login(clerk, "clerk1")
    assert signed_in(water_a, "/desk/") and signed_in(water_b, "/desk/") and signed_in(clerk)
    water = users["water"][0]
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "water1" in page and "全部退出登录" in page
    res = post_button(admin, "/admin/users", f"/admin/users/{water.id}/revoke-sessions")
    assert res.status_code == 302
    assert not signed_in(water_a, "/desk/") and not signed_in(water_b, "/desk/")
    login(water_a, "water1")  # signing in again works: only the old sessions are gone
    assert signed_in(water_a, "/desk/")

    clerk_user = users["clerk"][0]
    res = post_button(admin, "/admin/users", f"/admin/users/{clerk_user.id}/deactivate")
    assert res.status_code == 302
    assert not signed_in(clerk)
    assert admin.get("/api/v1/cases/none", headers=users["clerk"][1]).status_code == 401
    actions = set(
        db.session.execute(db.select(Event.action).where(Event.case_id.is_(None))).scalars()
    )
    assert {"sessions_revoked", "user_deactivated"} <= actions
    # an administrator cannot lock themselves out
    own = post_button(admin, "/admin/users", f"/admin/users/{users['admin'][0].id}/deactivate")
    assert own.status_code == 302 and signed_in(admin, "/admin/users")


def test_password_change_and_cli_sign_out_end_sessions(app, browser, db, users):
    sup = browser()
    login(sup, "super1")
    gas = browser()
    login(gas, "gas1")
    assert signed_in(sup) and signed_in(gas)
    res = jointdesk(
        "user",
        "set-password",
        "--username",
        "super1",
        "--password-stdin",
        stdin="a-brand-new-password\n",
    )
    assert res.returncode == 0, res.stderr
    assert not signed_in(sup)
    assert signed_in(gas)
    res = jointdesk("user", "sign-out", "--username", "gas1")
    assert res.returncode == 0, res.stderr
    assert "1 session" in res.stdout
    assert not signed_in(gas)


def test_a_signed_in_page_loads_the_user_with_one_query(app, browser, db, users):
    """The per-request cost of server-side sessions: one indexed look-up."""
    from sqlalchemy import event

    client = browser()
    anon = browser()
    login(client, "clerk1")

    def count(c) -> int:
        seen = []

        def before(*_args, **_kwargs):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert c.get("/status").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return len(seen)

    assert count(client) - count(anon) == 1


# --- 3. per-account throttling ---------------------------------------------------------------


def try_login(client, username, password, ip):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page)},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_thirty_wrong_passwords_from_three_addresses_lock_the_account(app, browser, ui, db, users):
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        for _ in range(10):
            res = try_login(ui, "admin1", "wrong-password!", ip)
            assert res.status_code == 200
    res = try_login(ui, "admin1", TEST_PASSWORD, "10.0.0.4")
    assert res.status_code == 200 and "登录失败次数过多" in res.get_data(as_text=True)
    assert not signed_in(ui)
    locked_events = (
        db.session.execute(db.select(Event).where(Event.action == "account_locked")).scalars().all()
    )
    assert len(locked_events) >= 1 and locked_events[0].detail["username"] == "admin1"
    assert db.session.execute(
        db.select(Event).where(Event.action == "login_refused_locked")
    ).first()

    # a username that does not exist locks the same way and says the same thing
    for _ in range(10):
        try_login(ui, "no-such-user", "wrong-password!", "10.0.1.1")
    nobody = try_login(ui, "no-such-user", "whatever-it-is", "10.0.1.2").get_data(as_text=True)
    assert "登录失败次数过多" in nobody

    # another administrator unlocks it in the users page; then the right password works
    db.session.add(
        User(username="admin2", role="admin", password_hash=users["admin"][0].password_hash)
    )
    db.session.commit()
    other = browser()
    login(other, "admin2")
    page = other.get("/admin/users").get_data(as_text=True)
    assert "锁定至" in page
    res = post_button(other, "/admin/users", f"/admin/users/{users['admin'][0].id}/unlock")
    assert res.status_code == 302
    res = try_login(ui, "admin1", TEST_PASSWORD, "10.0.0.5")
    assert res.status_code == 302 and signed_in(ui, "/admin/")
    assert db.session.execute(db.select(Event).where(Event.action == "account_unlocked")).first()


def test_the_cli_unlocks_a_locked_username(app, ui, users):
    for i in range(10):
        try_login(ui, "clerk1", "wrong-password!", f"10.0.2.{i % 3}")
    assert "登录失败次数过多" in try_login(ui, "clerk1", TEST_PASSWORD, "10.0.2.9").get_data(
        as_text=True
    )
    res = jointdesk("user", "unlock", "--username", "clerk1")
    assert res.returncode == 0 and "unlocked" in res.stdout, res.stderr
    assert try_login(ui, "clerk1", TEST_PASSWORD, "10.0.2.10").status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(ui, users):
    for _ in range(9):
        try_login(ui, "water1", "wrong-password!", "10.0.3.1")
    assert try_login(ui, "water1", TEST_PASSWORD, "10.0.3.2").status_code == 302
    post_button(ui, "/desk/", "/logout")
    for _ in range(9):
        try_login(ui, "water1", "wrong-password!", "10.0.3.3")
    assert try_login(ui, "water1", TEST_PASSWORD, "10.0.3.4").status_code == 302


# --- 4. demo and API-only accounts -------------------------------------------------------------


def test_demo_refuses_outside_development(db):
    res = jointdesk(
        "demo",
        env={
            "JOINTDESK_SECRET_KEY": "a-real-production-secret-0123456789abcdef",
            "JOINTDESK_DEVELOPMENT": "0",
        },
    )
    assert res.returncode != 0
    assert "outside development" in res.stderr
    db.session.rollback()
    assert db.session.execute(db.select(User).where(User.username == "admin")).first() is None


def test_integration_accounts_cannot_sign_in_to_the_web(app, browser, ui, db, users):
    page = ui.get("/login").get_data(as_text=True)
    res = ui.post(
        "/login",
        data={"username": "gongjian", "password": TEST_PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert res.status_code == 200 and "用户名或密码" in res.get_data(as_text=True)
    assert ui.get("/").headers["Location"].endswith("/status")  # not signed in
    # not even with a session made for it by other means
    from conftest import sign_in_web

    other = browser()
    sign_in_web(other, users["integration"][0])
    assert other.get("/").headers["Location"].endswith("/status")
    # its API token still works
    assert (
        ui.post(
            "/api/v1/cases", json=application_body(), headers=users["integration"][1]
        ).status_code
        == 201
    )


# --- 5. staff of another provider: progress only, web and API ---------------------------------


def test_staff_of_another_provider_see_no_representative_or_reason(
    ui, client, users, submit, deliver_all
):
    case = submit(services=["water", "electricity", "gas"])
    deliver_all()
    tickets = {t["service"]: t for t in case["tickets"]}
    act = "/api/v1/tickets/{}/actions"
    res = client.post(
        act.format(tickets["electricity"]["id"]),
        json={"action": "accept"},
        headers=users["power"][1],
    )
    assert res.get_json()["representative"]["username"] == "power1"
    res = client.post(
        act.format(tickets["water"]["id"]),
        json={"action": "return", "reason": "管网未覆盖该地块"},
        headers=users["water"][1],
    )
    assert res.get_json()["status"] == "returned"

    api = client.get(f"/api/v1/cases/{case['reference']}", headers=users["gas"][1]).get_json()
    seen = {t["service"]: t for t in api["tickets"]}
    assert seen["electricity"]["representative"] is None
    assert "return_reason" not in seen["water"]
    assert seen["water"]["status"] == "returned"  # progress stays visible
    assert "管网未覆盖" not in str(api) and "power1" not in str(api)

    login(ui, "gas1")
    html = ui.get(f"/cases/{case['reference']}").get_data(as_text=True)
    assert "管网未覆盖" not in html and "power1" not in html
    # their own provider's colleagues, and the other readers, still see everything
    own = client.get(f"/api/v1/cases/{case['reference']}", headers=users["water"][1]).get_json()
    assert next(t for t in own["tickets"] if t["service"] == "water")["return_reason"]
    sup = client.get(f"/api/v1/cases/{case['reference']}", headers=users["supervisor"][1])
    assert "power1" in str(sup.get_json()) and "管网未覆盖" in str(sup.get_json())
    # the applicant's status page still says why a service was returned
    public = client.get(
        f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}"
    ).get_json()
    assert "管网未覆盖" in str(public)


# --- 6. same-origin form posts and CSRF token rotation -----------------------------------------


def test_form_posts_without_this_sites_origin_are_refused(app, db, users, token_for):
    bare = isolated(app, FlaskClient)  # a client that sends no Origin
    page = bare.get("/login").get_data(as_text=True)
    data = {"username": "clerk1", "password": TEST_PASSWORD, "csrf_token": csrf_token(page)}
    res = bare.post("/login", data=data)
    assert res.status_code == 403 and "不是从本站提交" in res.get_data(as_text=True)
    res = bare.post("/login", data=data, headers={"Origin": "http://evil.example"})
    assert res.status_code == 403
    res = bare.post("/login", data=data, headers={"Referer": "http://evil.example/login"})
    assert res.status_code == 403
    # a browser that sends only the Referer (or Origin: null) of this site is fine
    res = bare.post(
        "/login", data=data, headers={"Origin": "null", "Referer": "http://jointdesk.test/login"}
    )
    assert res.status_code == 302

    form = application_form(bare)
    res = bare.post("/window/new", data=form, headers={"Origin": "http://evil.example"})
    assert res.status_code == 403
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 0
    res = bare.post("/window/new", data=form, headers={"Origin": "http://jointdesk.test"})
    assert res.status_code == 302

    # the API authenticates with bearer tokens, never cookies: no Origin needed
    res = bare.post(
        "/api/v1/cases",
        json=application_body(),
        headers={**users["clerk"][1], "Origin": "http://evil.example"},
    )
    assert res.status_code == 201


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("post", "/healthz", 405),
        ("delete", "/window/new", 405),
        ("query", "/healthz", 405),
        ("post", "/no-such-page", 404),
    ],
)
def test_a_request_no_page_takes_is_404_or_405_with_allow_even_without_origin(
    app, browser, method, path, status
):
    """The same-origin check guards views; where none runs, the answer says why (405 keeps
    its Allow header) instead of blaming the Origin."""
    res = isolated(app, FlaskClient).open(path, method=method.upper())  # sends no Origin
    assert res.status_code == status
    if status == 405:
        assert "GET" in res.headers["Allow"]


def test_signing_in_rotates_the_csrf_token(ui, db, users):
    before = csrf_token(ui.get("/login").get_data(as_text=True))
    login(ui, "clerk1")
    after = csrf_token(ui.get("/window/new").get_data(as_text=True))
    assert after != before
    form = application_form(ui)
    form["csrf_token"] = before
    res = ui.post("/window/new", data=form)
    assert res.status_code == 400
    assert db.session.execute(db.select(db.func.count(Case.id))).scalar_one() == 0
    form["csrf_token"] = after
    assert ui.post("/window/new", data=form).status_code == 302


# --- 7. headers ---------------------------------------------------------------------------------

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),
    re.compile(r"javascript:", re.I),
]


def check_headers(res, *, no_store: bool = True):
    h = res.headers
    assert h["X-Frame-Options"] == "DENY"
    csp = h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    if no_store:
        assert "no-store" in h["Cache-Control"]


def check_page(res):
    check_headers(res)
    html = res.get_data(as_text=True)
    for pattern in INLINE:
        assert not pattern.search(html), (pattern.pattern, pattern.search(html))


def test_every_page_has_the_security_headers_and_nothing_inline(
    app, browser, ui, client, users, submit, deliver_all
):
    check_page(ui.get("/login"))
    check_page(ui.get("/status"))
    login(ui, "clerk1")
    check_page(ui.get("/window/new"))
    res = ui.post("/window/new", data=application_form(ui))
    receipt = ui.get(res.headers["Location"])
    check_page(receipt)  # the query code and the QR code (a data: image, allowed by img-src)
    assert "data:image/svg+xml" in receipt.get_data(as_text=True)
    assert "img-src 'self' data:" in receipt.headers["Content-Security-Policy"]
    reference = res.headers["Location"].rsplit("/", 1)[-1]
    check_page(ui.get(f"/cases/{reference}"))  # the clerk sees the whole phone number
    check_page(ui.get("/cases"))
    check_page(ui.get("/nowhere"))

    case = submit(services=["water"])
    deliver_all()
    page = ui.get("/status").get_data(as_text=True)
    result = ui.post(
        "/status",
        data={
            "csrf_token": csrf_token(page),
            "reference": case["reference"],
            "code": case["query_code"],
        },
    )
    check_page(result)

    staff = browser()
    login(staff, "water1")
    check_page(staff.get("/desk/"))
    check_page(staff.get(f"/desk/tickets/{case['tickets'][0]['id']}"))
    admin = browser()
    login(admin, "admin1")
    for path in (
        "/admin/",
        "/admin/calendar",
        "/admin/routing",
        "/admin/providers",
        "/admin/users",
    ):
        check_page(admin.get(path))

    # the API: the answer that carries a query code and whole phone numbers is never cached
    created = client.post("/api/v1/cases", json=application_body(), headers=users["clerk"][1])
    assert created.status_code == 201 and created.get_json()["query_code"]
    check_headers(created)
    check_headers(client.get(f"/api/v1/cases/{case['reference']}", headers=users["clerk"][1]))
    check_headers(client.get(f"/api/v1/public/cases/{case['reference']}?code={case['query_code']}"))
    static = client.get("/static/app.js")
    check_headers(static, no_store=False)
    assert static.mimetype in ("text/javascript", "application/javascript")
    assert "window.print" in static.get_data(as_text=True)
    static.close()


def test_the_print_button_works_without_inline_script():
    """The receipt's print button is wired by the static script, not an onclick attribute."""
    receipt = (Path(ROOT) / "jointdesk/templates/windows/receipt.html").read_text()
    assert "data-print" in receipt and "onclick" not in receipt


def test_ended_sessions_and_old_failures_do_not_pile_up(browser, db, users):
    from datetime import timedelta

    from jointdesk.models import LoginThrottle, UserSession
    from jointdesk.models.types import utcnow

    ui = browser()
    for _ in range(3):
        login(ui, "clerk1")
        post_button(ui, "/cases", "/logout")
    try_login(ui, "ghost", "wrong-password!", "10.0.4.1")
    # a failure older than the lock period, and a lock long over, are forgotten at a sign-in
    db.session.execute(
        db.update(LoginThrottle).values(
            first_failure_at=utcnow() - timedelta(hours=2),
            locked_until=utcnow() - timedelta(hours=1),
        )
    )
    db.session.commit()
    login(ui, "clerk1")
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count()).select_from(UserSession)).scalar_one() == 1
    assert db.session.execute(db.select(LoginThrottle)).first() is None


def test_huge_ids_in_admin_urls_are_404_not_500(client, users):
    """The prices and user-action routes take ids only within the database's integer range."""
    from conftest import sign_in_web

    sign_in_web(client, users["admin"][0])
    assert client.get("/admin/providers/99999999999999999999/prices").status_code == 404
    res = post_button(client, "/admin/users", "/admin/users/99999999999999999999/unlock")
    assert res.status_code == 404
