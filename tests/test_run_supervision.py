"""`jointdesk run` on the embedded default keeps what it starts running, and nothing is lost or
duplicated when its worker is killed under load.

The real command on a fresh instance folder: SQLite and the filesystem broker, no servers.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import test_embedded_run
from conftest import application_body
from processes import free_port, wait_for
from test_embedded_run import JOINTDESK, ROOT, _up, call

# the embedded default on a fresh instance folder (test_embedded_run's fixture)
embedded = pytest.fixture(test_embedded_run.embedded_env.__wrapped__, name="embedded")

APPLICATIONS = 200
RATE = 25  # per second


class Run:
    """A `jointdesk run` process with its log."""

    def __init__(self, env: dict) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["JOINTDESK_INSTANCE_PATH"]) / "run.log"
        self.proc = subprocess.Popen(  # noqa: S603
            [*JOINTDESK, "run", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, name: str) -> list[int]:
        """Every process of that name the supervisor started, oldest first."""
        return [int(p) for p in re.findall(rf"started the {name} \(pid (\d+)\)", self.output())]

    def wait_ready(self) -> None:
        assert wait_for(lambda: _up(self.base), 60), self.output()[-3000:]
        assert wait_for(lambda: self.output().count(" ready.") >= 1, 60), self.output()[-3000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise
        return self.proc.returncode


def cli(env: dict, *args: str) -> str:
    return subprocess.run(  # noqa: S603
        [*JOINTDESK, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout


def gone(pid: int) -> bool:
    """No such process (a zombie counts as still there)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "X"


def test_worker_killed_under_load_every_ticket_queued_exactly_once(embedded):
    env = {**embedded, "JOINTDESK_RELAY_INTERVAL": "2"}
    cli(env, "demo")
    clerk = cli(env, "token", "create", "--username", "clerk").strip().splitlines()[-1]
    run = Run(env)
    references: list[str] = []
    failures: list = []
    lock = threading.Lock()
    try:
        run.wait_ready()
        first_worker = run.pids("worker")[-1]

        def submit(i: int) -> None:
            body = application_body()
            body["address"]["detail"] = f"花园路 {i} 号"
            status, created = call(f"{run.base}/api/v1/cases", clerk, body)
            with lock:
                if status == 201:
                    references.append(created["reference"])
                else:
                    failures.append((status, created))

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            for i in range(APPLICATIONS):
                delay = started + i / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if i == APPLICATIONS // 3:
                    os.killpg(first_worker, signal.SIGKILL)  # mid-way, main and pool processes
                pool.submit(submit, i)
            offered = time.monotonic() - started  # the last request went out then
        answered = time.monotonic() - started
        assert failures == []
        assert len(references) == APPLICATIONS
        assert offered < APPLICATIONS / 20, f"sent at {APPLICATIONS / offered:.1f}/s"
        print(f"sent at {APPLICATIONS / offered:.1f}/s, all answered after {answered:.1f} s")
        assert f"the worker (pid {first_worker}) killed by signal 9" in run.output()

        db = Path(env["JOINTDESK_INSTANCE_PATH"]) / "jointdesk.sqlite3"
        marks = ",".join("?" * len(references))

        def query(sql: str) -> list:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
                return conn.execute(sql.replace("REFS", marks), references).fetchall()

        mine = (
            "SELECT t.id FROM tickets t JOIN cases c ON c.id = t.case_id "
            "WHERE c.reference IN (REFS)"
        )

        def queued() -> int:
            return query(
                f"SELECT count(*) FROM tickets WHERE status = 'queued' AND id IN ({mine})"
            )[0][0]

        assert wait_for(queued_all := lambda: queued() == 4 * APPLICATIONS, 45, 0.5), (
            f"{queued()} of {4 * APPLICATIONS} queued\n{run.output()[-3000:]}"
        )
        assert queued_all()
        print(f"all queued {time.monotonic() - started:.1f} s after the first application")
        assert query(f"SELECT count(*) FROM tickets WHERE id IN ({mine})") == [(4 * APPLICATIONS,)]
        # each ticket handed over exactly once: one dispatched event, one outbox row, done
        per_ticket = query(
            f"SELECT t.id, (SELECT count(*) FROM events e WHERE e.ticket_id = t.id "
            f"AND e.action = 'dispatched'), "
            f"(SELECT count(*) FROM outbox o WHERE o.ticket_id = t.id), "
            f"(SELECT count(*) FROM outbox o WHERE o.ticket_id = t.id AND o.done_at IS NULL) "
            f"FROM tickets t WHERE t.id IN ({mine})"
        )
        assert len(per_ticket) == 4 * APPLICATIONS
        assert {row[1:] for row in per_ticket} == {(1, 1, 0)}
        # the worker was restarted by the supervisor, and it is the one that finished the work
        assert len(run.pids("worker")) == 2, run.output()[-3000:]
    finally:
        code = run.stop()
    assert code == 0
    assert all(gone(pid) for name in ("worker", "scheduler") for pid in run.pids(name))


def test_a_process_that_keeps_dying_stops_the_run_with_a_clear_message(embedded):
    env = {**embedded, "JOINTDESK_RUN_RESTART_LIMIT": "3"}
    cli(env, "init")
    run = Run(env)
    try:
        run.wait_ready()
        # the scheduler dies once: restarted after a second, the run goes on
        scheduler = run.pids("scheduler")[-1]
        os.killpg(scheduler, signal.SIGKILL)
        assert wait_for(lambda: len(run.pids("scheduler")) == 2, 15), run.output()[-3000:]
        assert f"the scheduler (pid {scheduler}) killed by signal 9; restarting it in 1 s" in (
            run.output()
        )
        # the worker keeps dying: after its third death within the window the run stops
        for deaths in range(1, 4):
            assert wait_for(lambda n=deaths: len(run.pids("worker")) == n, 20), run.output()
            os.killpg(run.pids("worker")[-1], signal.SIGKILL)
        assert wait_for(lambda: run.proc.poll() is not None, 40), run.output()[-3000:]
    finally:
        if run.proc.poll() is None:
            run.stop()
    assert run.proc.returncode == 1
    out = run.output()
    assert "FATAL: the worker" in out and "died 3 times within 300 s" in out
    assert "restarting it in 2 s" in out
    # nothing left behind: no worker, pool process or scheduler, no zombie
    assert all(gone(pid) for name in ("worker", "scheduler") for pid in run.pids(name))
    assert not _up(run.base)
