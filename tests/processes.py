"""Real processes for the integration tests: Celery workers and a private Redis server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Worker:
    """A real ``celery worker`` process group, started like ``jointdesk worker`` starts one."""

    def __init__(self, queues: str | None = None, env: dict | None = None, concurrency: int = 2):
        self.log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app:celery",
            "worker",
            "--loglevel",
            "INFO",
            "-c",
            str(concurrency),
            "-Q",
            queues or "jointdesk",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes the pool too
        )
        if not wait_for(lambda: " ready." in self.output() or self.proc.poll() is not None, 60):
            raise RuntimeError(f"worker did not start:\n{self.output()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def consuming(self, queue: str) -> bool:
        return queue in self.output()

    def kill(self) -> None:
        """SIGKILL to the whole group: main process and pool children die mid-work."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
        self.log.unlink(missing_ok=True)


class Beat:
    """A real ``celery beat`` process (the scheduler), started like ``jointdesk beat``."""

    def __init__(self, env: dict | None = None):
        self.log = Path(tempfile.mkstemp(prefix="beat-", suffix=".log")[1])
        self.dir = Path(tempfile.mkdtemp(prefix="beat-"))
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app:celery",
            "beat",
            "--loglevel",
            "INFO",
            "-s",
            str(self.dir / "celerybeat-schedule"),
        ]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_for(lambda: "beat: Starting" in self.output() or self.proc.poll(), 60):
            raise RuntimeError(f"beat did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A private redis-server on a free port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="redis-"))
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for(self.answers, 10):
            raise RuntimeError("private redis-server did not start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
