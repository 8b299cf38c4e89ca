"""A real web server for concurrency tests: gunicorn, several processes with threads each,
on the test database (the environment conftest sets), on a free port."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from processes import ROOT, free_port, wait_for


class WebServer:
    def __init__(self, workers: int = 2, threads: int = 10, env: dict | None = None) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self.proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "--threads",
                str(threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "jointdesk:create_app()",
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_for(self.answers, 60, 0.2):
            self.stop()
            raise RuntimeError(f"gunicorn did not start:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(self.url + "/login", timeout=2):  # noqa: S310
                return True
        except (OSError, urllib.error.URLError):
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener(cookies: http.cookiejar.CookieJar | None = None) -> urllib.request.OpenerDirector:
    """Does not follow redirects, so a test sees each 302 and its Location."""
    handlers: list = [_NoRedirect()]
    if cookies is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(cookies))
    return urllib.request.build_opener(*handlers)


def request(
    open_: urllib.request.OpenerDirector,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict | None = None,
) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with open_.open(req, timeout=60) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def post_json(url: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
    status, res_headers, raw = request(
        opener(),
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    return status, res_headers, json.loads(raw or b"{}")


def at_once(n: int, call: Callable[[], object]) -> list:
    """Runs ``call`` in ``n`` threads released together by a barrier; returns the results."""
    barrier = threading.Barrier(n)

    def run():
        barrier.wait(30)
        return call()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(run) for _ in range(n)]]
