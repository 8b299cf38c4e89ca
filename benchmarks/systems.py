"""The systems measured, started and stopped the way they run for real.

- ``floor``: ``benchmarks/floor_app.py`` under gunicorn -w 2 with a Celery worker -c 2 on its
  four queues, on a PostgreSQL database and a Redis database number of its own.
- ``jointdesk``: production settings (a secret key, no development mode) on PostgreSQL and
  Redis: ``jointdesk init``, a clerk from ``jointdesk user create`` with a token from
  ``jointdesk token create``, gunicorn -w 2 ``jointdesk:create_app()``, ``jointdesk worker
  -c 2`` (the control queue and every provider queue) and ``jointdesk beat``.
- ``embedded``: what ``make run`` serves: ``jointdesk run`` (waitress, a worker -c 2 and the
  scheduler) on SQLite and the filesystem broker in a temporary instance folder.

Every process starts in a session of its own; ``Processes.stop`` ends each group, then any
descendant still alive (``jointdesk run`` starts its children in sessions of their own).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from benchmarks.client import Connection, Request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVICES = ["water", "electricity", "gas", "heat"]
CLERK = "bench-clerk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent pid → child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    found, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Processes:
    """The processes one system runs, each in its own session, logs in ``logdir``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(  # noqa: S603
            args,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with status {proc.returncode}; its log:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to every group (warm shutdown), SIGKILL to what is left after ``grace``."""
        family = set()
        for _, proc in self.procs:
            family.update(descendants(proc.pid))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for _, proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for pid in family:  # e.g. the children `jointdesk run` put in sessions of their own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.procs.clear()


def _run(args: list[str], env: dict, cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603
        args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- PostgreSQL and Redis ------------------------------------------------------------------


def database_url(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _admin(admin_url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def recreate_database(admin_url: str, name: str) -> None:
    with _admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    with _admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def postgresql_version(admin_url: str) -> str:
    with _admin(admin_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def redis_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


# -- the systems -------------------------------------------------------------------------


@dataclass
class Settings:
    admin_url: str
    redis_url: str  # without a database number
    floor_redis_db: int
    app_redis_db: int
    floor_database: str
    app_database: str

    def redis(self, number: int) -> str:
        return f"{self.redis_url.rstrip('/')}/{number}"


class System:
    """A system under test: how to start and stop it, and the requests of each figure."""

    name = ""
    hello_endpoint = ""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.processes = Processes(workdir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.serial = itertools.count(1)

    # lifecycle
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.processes.stop()

    def cleanup(self) -> None:
        """Forget the data it made (databases, Redis keys)."""

    # the requests
    def intake(self) -> Request:
        raise NotImplementedError

    def created(self, body: bytes) -> dict:
        """What the intake answer says about the new case: view and look-up requests."""
        raise NotImplementedError

    def hello(self) -> Request:
        raise NotImplementedError

    def wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        req = self.hello()
        last = None
        while time.monotonic() < deadline:
            self.processes.check()
            conn = Connection(self.host, self.port, timeout=5)
            try:
                status, _ = conn.request(req)
                if status == req.expect:
                    return
                last = f"status {status}"
            except OSError as exc:
                last = repr(exc)
            finally:
                conn.close()
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer {req.path} within {timeout} s ({last})")

    def wait_fanned_out(self, case: dict, timeout: float = 90.0) -> float:
        """Polls a case until no ticket is dispatching; returns the seconds it took."""
        from benchmarks.client import fanned_out

        started = time.monotonic()
        conn = Connection(self.host, self.port)
        try:
            while time.monotonic() - started < timeout:
                self.processes.check()
                status, body = conn.request(case["view"])
                if status == 200 and fanned_out(body, len(SERVICES))[0]:
                    return time.monotonic() - started
                time.sleep(0.1)
        finally:
            conn.close()
        raise RuntimeError(f"{self.name}: a case was not fanned out within {timeout} s")

    def warm_up(self) -> None:
        """One application all the way through: the workers consume every queue."""
        conn = Connection(self.host, self.port)
        try:
            req = self.intake()
            status, body = conn.request(req)
        finally:
            conn.close()
        if status != req.expect:
            raise RuntimeError(f"{self.name}: intake answered {status}: {body[:500]!r}")
        self.wait_fanned_out(self.created(body))


class Floor(System):
    name = "floor"
    hello_endpoint = "GET /hello"

    def env(self) -> dict:
        s = self.settings
        return os.environ | {
            "BASE_DB": database_url(s.admin_url, s.floor_database),
            "BASE_BROKER": s.redis(s.floor_redis_db),
        }

    def start(self) -> None:
        s = self.settings
        recreate_database(s.admin_url, s.floor_database)
        flush_redis(s.redis(s.floor_redis_db))
        env = self.env()
        _run([sys.executable, "floor_app.py"], env, HERE)  # creates its tables
        py = sys.executable
        self.processes.start(
            "gunicorn",
            [py, "-m", "gunicorn", "-w", "2", "-b", f"{self.host}:{self.port}", "floor_app:app"],
            env,
            HERE,
        )
        self.processes.start(
            "celery",
            [py, "-m", "celery", "-A", "floor_app:celery", "worker"]
            + ["-Q", "q0,q1,q2,q3", "-c", "2", "--loglevel", "WARNING"],
            env,
            HERE,
        )

    def cleanup(self) -> None:
        s = self.settings
        drop_database(s.admin_url, s.floor_database)
        flush_redis(s.redis(s.floor_redis_db))

    def intake(self) -> Request:
        return Request("POST", "/cases", json.dumps({"services": SERVICES}).encode(), expect=201)

    def created(self, body: bytes) -> dict:
        case = json.loads(body)
        return {
            "view": Request("GET", f"/cases/{case['id']}"),
            "lookup": Request("GET", f"/lookup/{quote(case['reference'])}"),
        }

    def hello(self) -> Request:
        return Request("GET", "/hello")


def application(n: int) -> dict:
    """A valid four-service application; applicant and address vary with ``n``."""
    from jointdesk.policy.identity import resident_id_check_char

    first17 = f"410105{19700101 + (n // 1000) % 28:08d}{n % 1000:03d}"
    return {
        "applicant": {
            "kind": "person",
            "name": f"测试{n % 97}",
            "id_number": first17 + resident_id_check_char(first17),
            "phone": f"138{n % 100_000_000:08d}",
        },
        "address": {"district": "金水区", "detail": f"花园路 {n % 999 + 1} 号"},
        "services": SERVICES,
        "project": {"external_works": False},
        "materials": [{"kind": "application_form", "provided": True}],
    }


class JointDesk(System):
    name = "jointdesk"
    # the fixed cost of any request: routing, every hook, a JSON answer; no token, no SQL
    hello_endpoint = "GET /api/v1/cases/NONE without a token (401)"

    def __init__(self, settings: Settings, workdir: Path) -> None:
        super().__init__(settings, workdir)
        self.instance = workdir / "instance"
        self.token = ""

    def env(self) -> dict:
        s = self.settings
        base = {k: v for k, v in os.environ.items() if not k.startswith("JOINTDESK_")}
        return base | {
            "JOINTDESK_ENV_FILE": os.devnull,  # no developer's .env
            "JOINTDESK_INSTANCE_PATH": str(self.instance),
            "JOINTDESK_DATABASE_URL": database_url(s.admin_url, s.app_database),
            "JOINTDESK_BROKER_URL": s.redis(s.app_redis_db),
            "JOINTDESK_SECRET_KEY": self.secret,
            "JOINTDESK_DEVELOPMENT": "0",
            "JOINTDESK_RATELIMIT_ENABLED": "0",  # the look-up figure would be 429s otherwise
        }

    @property
    def secret(self) -> str:
        if not hasattr(self, "_secret"):
            self._secret = secrets.token_hex(32)
        return self._secret

    def jointdesk(self, *args: str, stdin: str | None = None) -> str:
        return _run([sys.executable, "-m", "jointdesk.cli", *args], self.env(), ROOT, stdin)

    def prepare(self) -> None:
        """``jointdesk init``, a clerk and its API token, as an operator would."""
        self.jointdesk("init")
        password = secrets.token_urlsafe(18)
        self.jointdesk(
            "user", "create", "--username", CLERK, "--role", "clerk", "--password-stdin",
            stdin=password + "\n",
        )  # fmt: skip
        self.token = self.jointdesk("token", "create", "--username", CLERK).strip().splitlines()[-1]

    def start(self) -> None:
        s = self.settings
        recreate_database(s.admin_url, s.app_database)
        flush_redis(s.redis(s.app_redis_db))
        self.prepare()
        env, py = self.env(), sys.executable
        bind = f"{self.host}:{self.port}"
        self.processes.start(
            "gunicorn",
            [py, "-m", "gunicorn", "-w", "2", "-b", bind, "jointdesk:create_app()"],
            env,
            ROOT,
        )
        self.processes.start("worker", [py, "-m", "jointdesk.cli", "worker", "-c", "2"], env, ROOT)
        self.processes.start("beat", [py, "-m", "jointdesk.cli", "beat"], env, ROOT)

    def cleanup(self) -> None:
        s = self.settings
        drop_database(s.admin_url, s.app_database)
        flush_redis(s.redis(s.app_redis_db))

    @property
    def auth(self) -> bytes:
        return f"Authorization: Bearer {self.token}\r\n".encode()

    def intake(self) -> Request:
        body = json.dumps(application(next(self.serial)), ensure_ascii=False).encode()
        return Request("POST", "/api/v1/cases", body, self.auth, expect=201)

    def created(self, body: bytes) -> dict:
        case = json.loads(body)
        ref = quote(case["reference"])
        return {
            "view": Request("GET", f"/api/v1/cases/{ref}", headers=self.auth),
            "lookup": Request(
                "GET", f"/api/v1/public/cases/{ref}?code={quote(case['query_code'])}"
            ),
        }

    def hello(self) -> Request:
        return Request("GET", "/api/v1/cases/NONE", expect=401)


class Embedded(JointDesk):
    """``make run``'s JointDesk: ``jointdesk run`` on SQLite and the filesystem broker."""

    name = "embedded"

    def env(self) -> dict:
        base = {k: v for k, v in os.environ.items() if not k.startswith("JOINTDESK_")}
        return base | {
            "JOINTDESK_ENV_FILE": os.devnull,
            "JOINTDESK_INSTANCE_PATH": str(self.instance),
            "JOINTDESK_RATELIMIT_ENABLED": "0",
        }

    def start(self) -> None:
        self.prepare()
        self.processes.start(
            "run",
            [sys.executable, "-m", "jointdesk.cli", "run", "--port", str(self.port)],
            self.env(),
            ROOT,
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.instance, ignore_errors=True)


SYSTEM_CLASSES = {"floor": Floor, "jointdesk": JointDesk, "embedded": Embedded}


def make_system(name: str, settings: Settings, parent: Path) -> System:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    return SYSTEM_CLASSES[name](settings, workdir)
