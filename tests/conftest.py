"""Fixtures: a real PostgreSQL database and a real Redis broker, cleaned for every test.

Set ``JOINTDESK_TEST_DATABASE_URL`` / ``JOINTDESK_TEST_REDIS_URL`` to point elsewhere. Without
``JOINTDESK_REQUIRE_SERVICES`` a test that needs a missing server is skipped with the reason;
with it, it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DB_URL = os.environ.get(
    "JOINTDESK_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# one database and one broker key prefix per test run, so that two runs never meet
RUN_ID = f"{os.getpid()}"
TEST_DB_NAME = os.environ.get("JOINTDESK_TEST_DATABASE_NAME", f"jointdesk_test_{RUN_ID}")
TEST_DB_URL = os.environ.get(
    "JOINTDESK_TEST_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{TEST_DB_NAME}"
)
TEST_REDIS_URL = os.environ.get("JOINTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
REQUIRE = os.environ.get("JOINTDESK_REQUIRE_SERVICES", "") not in ("", "0", "false")

# Every process the tests start (workers, `jointdesk run`) inherits these.
_INSTANCE = Path(tempfile.mkdtemp(prefix="jointdesk-test-"))
os.environ.update(
    {
        "JOINTDESK_INSTANCE_PATH": str(_INSTANCE),
        "JOINTDESK_DATABASE_URL": TEST_DB_URL,
        "JOINTDESK_BROKER_URL": TEST_REDIS_URL,
        "JOINTDESK_BROKER_KEY_PREFIX": f"jdtest{RUN_ID}:",
        "JOINTDESK_RATELIMIT_STORAGE_URL": "memory://",
        "JOINTDESK_QUEUE_REFRESH_SECONDS": "1",
        "JOINTDESK_DEVELOPMENT": "1",
    }
)


def _postgres_problem() -> str | None:
    import psycopg

    try:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {ADMIN_DB_URL}: {exc}"
    return None


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis not reachable at {TEST_REDIS_URL}: {exc}"
    return None


def need(problem: str | None) -> None:
    if problem:
        if REQUIRE:
            pytest.fail(f"{problem} (JOINTDESK_REQUIRE_SERVICES is set)")
        pytest.skip(problem)


def pytest_sessionstart(session) -> None:
    """Compile the translation catalogs so that messages appear in Chinese as in production."""
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "compile",
            "-f",
            "-d",
            str(ROOT / "jointdesk" / "translations"),
        ],
        check=False,
        capture_output=True,
    )


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_INSTANCE, ignore_errors=True)
    if _postgres_problem() is None:
        import psycopg

        with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (TEST_DB_NAME,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}"')


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    need(_postgres_problem())
    import psycopg

    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEST_DB_NAME,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}"')
        conn.execute(f'CREATE DATABASE "{TEST_DB_NAME}"')
    return TEST_DB_URL


@pytest.fixture(scope="session")
def redis_ready() -> str:
    need(_redis_problem())
    return TEST_REDIS_URL


TEST_ORIGIN = "http://jointdesk.test"  # SERVER_NAME of the test app


def browser_client_class():
    """A test client that sends the ``Origin`` header a browser sends with a site's own forms
    (the app refuses form posts without it); tests of that check remove or change it."""
    from flask.testing import FlaskClient

    class BrowserClient(FlaskClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.environ_base["HTTP_ORIGIN"] = TEST_ORIGIN

    return BrowserClient


@pytest.fixture(scope="session")
def app(postgres_ready):
    """The app on the test database, migrated with the real migrations."""
    from flask_migrate import upgrade

    from jointdesk import create_app

    application = create_app({"TESTING": True, "SERVER_NAME": "jointdesk.test"})
    application.test_client_class = browser_client_class()
    with application.app_context():
        upgrade()
    return application


@pytest.fixture
def db(app):
    """A clean database with the reference data loaded, inside an app context."""
    from jointdesk.extensions import db as _db
    from jointdesk.extensions import limiter
    from jointdesk.seed import load_reference_data

    with app.app_context():
        limiter.reset()  # every test starts with fresh rate-limit counters
        tables = ", ".join(t.name for t in _db.metadata.sorted_tables)  # every model's table
        _db.session.execute(_db.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _db.session.commit()
        load_reference_data()
        yield _db
        _db.session.remove()


@pytest.fixture
def broker(redis_ready):
    """The Redis broker, with this run's keys removed."""
    import redis

    r = redis.Redis.from_url(redis_ready)
    for key in r.scan_iter(match=os.environ["JOINTDESK_BROKER_KEY_PREFIX"] + "*"):
        r.delete(key)
    return redis_ready


@pytest.fixture
def client(app, db):
    return app.test_client()


TEST_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One real Argon2id hash for every test user: hashing is slow on purpose."""
    from jointdesk.auth import hash_password

    return hash_password(TEST_PASSWORD)


@pytest.fixture
def make_user(db, password_hash):
    """Creates a user (password ``TEST_PASSWORD``); staff need a provider code."""
    from jointdesk.models import Provider, User

    def _make(username: str, role: str, provider: str | None = None):
        provider_id = None
        if provider:
            provider_id = db.session.execute(
                db.select(Provider.id).where(Provider.code == provider)
            ).scalar_one()
        user = User(
            username=username, role=role, password_hash=password_hash, provider_id=provider_id
        )
        db.session.add(user)
        db.session.commit()
        return user

    return _make


def sign_in_web(client, user) -> None:
    """Signs ``user`` in on ``client`` as the login page does (a server-side session) without
    the cost of a password check; inside the ``db`` fixture's app context."""
    from jointdesk.auth import SESSION_KEY, start_session
    from jointdesk.extensions import db as _db

    sid = start_session(user)
    _db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session[SESSION_KEY] = sid


@pytest.fixture
def token_for(db):
    from jointdesk.auth import issue_token

    def _token(user) -> dict:
        value = issue_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {value}"}

    return _token


@pytest.fixture
def users(make_user, token_for):
    """One user of each role, with staff for each default provider, and their API headers."""
    people = {
        "clerk": make_user("clerk1", "clerk"),
        "supervisor": make_user("super1", "supervisor"),
        "admin": make_user("admin1", "admin"),
        "integration": make_user("gongjian", "integration"),
        "water": make_user("water1", "staff", "zz-water"),
        "water2": make_user("water2", "staff", "zz-water"),
        "power": make_user("power1", "staff", "zz-power"),
        "gas": make_user("gas1", "staff", "zz-gas"),
        "heat": make_user("heat1", "staff", "zz-heat"),
    }
    return {name: (user, token_for(user)) for name, user in people.items()}


def valid_person_id(seq: int = 1, region: str = "410105", birth: str = "19900101") -> str:
    from jointdesk.seed import demo_resident_id

    return demo_resident_id(region, birth, seq)


def application_body(**overrides) -> dict:
    body = {  # no channel: the server decides it from the route and the caller
        "applicant": {
            "kind": "person",
            "name": "张三",
            "id_number": valid_person_id(),
            "phone": "13800000000",
        },
        "address": {"district": "金水区", "detail": "花园路 1 号"},
        "services": ["water", "electricity", "gas", "heat"],
        "project": {
            "approval_system_code": None,
            "low_risk": False,
            "external_works": True,
            "pipeline_length_m": 120,
            "supporting_fee_paid": False,
        },
        "materials": [{"kind": "application_form", "provided": True}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def submit(client, users):
    """Posts an application as the clerk through the API and returns the JSON answer."""

    def _submit(**overrides) -> dict:
        res = client.post(
            "/api/v1/cases", json=application_body(**overrides), headers=users["clerk"][1]
        )
        assert res.status_code == 201, res.get_json()
        return res.get_json()

    return _submit


@pytest.fixture
def deliver_all(db):
    """Runs every open outbox delivery in-process (the same code the worker runs)."""
    from jointdesk.models import OutboxMessage
    from jointdesk.routing.outbox import deliver

    def _deliver() -> int:
        ids = (
            db.session.execute(db.select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None)))
            .scalars()
            .all()
        )
        for msg_id in ids:
            deliver(msg_id)
        return len(ids)

    return _deliver


class Clock:
    """A settable 'now' for the services (UTC-aware)."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def set(self, moment):
        from datetime import UTC

        self.now = moment.astimezone(UTC)

    def advance(self, **kwargs):
        from datetime import timedelta

        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    """Freezes the services' clock; ``clock.set(datetime)`` moves it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    c = Clock(datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    c.set(c.now)
    import jointdesk.cases.services
    import jointdesk.desk.services
    import jointdesk.routing.outbox
    import jointdesk.sla
    import jointdesk.windows.services

    for module in (
        jointdesk.cases.services,
        jointdesk.desk.services,
        jointdesk.routing.outbox,
        jointdesk.sla,
        jointdesk.windows.services,
    ):
        monkeypatch.setattr(module, "utcnow", c)
    return c


@pytest.fixture
def statements(db):
    """Runs a function and returns the SQL statements it sent (on the main pool and on the
    autocommit pool of requests that only read, see ``cases.read.autocommit_engine``)."""
    from jointdesk.cases.read import autocommit_engine

    engines = [e for e in (db.engine, autocommit_engine()) if e is not None]

    def run(fn) -> list[str]:
        seen: list[str] = []

        def before(_conn, _cursor, statement, *_args):
            seen.append(statement)

        from sqlalchemy import event

        for engine in engines:
            event.listen(engine, "before_cursor_execute", before)
        try:
            fn()
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", before)
        return seen

    return run


# --- helpers the tests share: moments on the service's clock, and a ticket action ---------

TZ = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    """A moment in Zhengzhou's time zone."""
    return datetime(*args, tzinfo=TZ)


def iso(*args) -> str:
    return at(*args).isoformat()


def act(client, headers, ticket_id, **body):
    """One action on a ticket through the API."""
    return client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=headers)
