"""The load client: one piece of code for every system measured; only paths and bodies differ.

Plain sockets speaking HTTP/1.1, so the client costs little next to the servers it measures
(they share the machine's cores): a request is written as prepared bytes and the answer read
by its Content-Length. A connection is kept while the server keeps it; gunicorn's sync
workers answer ``Connection: close``, so against them every request opens a new one, the way
any client of theirs would, and the client counts how often it connected.

Two kinds of load:

- ``closed_loop``: N clients, each sending its next request as soon as the last one is
  answered, for a fixed duration after a warm-up; the answers counted in that window over
  its length give the throughput.
- ``fanout``: applications arriving at a fixed rate whatever the answers (open loop); after
  each intake answer the client polls the case every 20 ms until no ticket is
  ``dispatching`` any more.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.report import summarize

RECV = 65536


class ConnectionDropped(Exception):
    """The server closed the connection before answering."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: bytes = b""  # extra header lines, each ending in CRLF
    expect: int = 200

    def encode(self, host: bytes) -> bytes:
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (
            self.method.encode(),
            self.path.encode(),
            host,
        )
        if self.body or self.method == "POST":
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(self.body)
        return head + self.headers + b"\r\n" + self.body


class Connection:
    """One HTTP/1.1 connection to ``host:port``, opened again whenever the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.address = (host, port)
        self.host = f"{host}:{port}".encode()
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.used = 0  # answers read on the current socket
        self.connects = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _open(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.used = 0
        self.connects += 1

    def request(self, req: Request) -> tuple[int, bytes]:
        """Status and body. A kept connection the server closed meanwhile is opened again
        and the request sent once more (nothing reached the server the first time)."""
        data = req.encode(self.host)
        for attempt in (0, 1):
            if self.sock is None:
                self._open()
            reused = self.used > 0
            try:
                self.sock.sendall(data)
                return self._read()
            except (ConnectionDropped, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt:
                    raise
            except Exception:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _read(self) -> tuple[int, bytes]:
        sock = self.sock
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(RECV)
            if not chunk:
                raise ConnectionDropped
            buf += chunk
        head = buf[:end].split(b"\r\n")
        rest = buf[end + 4 :]
        version, status = head[0].split(b" ", 2)[:2]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            body, rest = self._read_chunked(rest)
        elif b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(rest) < length:
                chunk = sock.recv(RECV)
                if not chunk:
                    raise ConnectionDropped
                rest += chunk
            body = rest[:length]
        else:  # the body ends where the connection does
            while chunk := sock.recv(RECV):
                rest += chunk
            body = rest
            headers[b"connection"] = b"close"
        keep = headers.get(b"connection") != b"close" and (
            version == b"HTTP/1.1" or headers.get(b"connection") == b"keep-alive"
        )
        if keep:
            self.used += 1
        else:
            self.close()
        return int(status), body

    def _read_chunked(self, rest: bytes) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += self._recv()
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += self._recv()
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return body, rest

    def _recv(self) -> bytes:
        chunk = self.sock.recv(RECV)
        if not chunk:
            raise ConnectionDropped
        return chunk


# -- closed loop: throughput ---------------------------------------------------------------


@dataclass
class LoadResult:
    """What one load phase measured."""

    throughput: float  # answers per second within the measuring window
    count: int
    errors: int
    latency_ms: dict  # p50, p99 of the answers in the window
    connects: int  # connections opened during the whole phase
    client_cpu: float  # the client's own CPU time over the window, in cores
    first_error: str | None = None

    def as_dict(self) -> dict:
        return {
            "throughput": round(self.throughput, 1),
            "count": self.count,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "connects": self.connects,
            "client_cpu_cores": round(self.client_cpu, 2),
            "first_error": self.first_error,
        }


def closed_loop(
    host: str,
    port: int,
    make_request: Callable[[int, int], Request],
    clients: int,
    duration: float,
    warmup: float,
    on_answer: Callable[[int, bytes], None] | None = None,
) -> LoadResult:
    """``clients`` threads, each sending ``make_request(client, n)`` back to back for
    ``warmup + duration`` seconds; counts the answers inside the last ``duration`` seconds.
    ``on_answer(client, body)`` sees every expected answer (e.g. to keep created cases)."""
    start = time.perf_counter() + 0.1
    t0 = start + warmup
    t1 = t0 + duration
    records: list[list[tuple[float, float, bool]]] = [[] for _ in range(clients)]
    connects = [0] * clients
    errors: list[str] = []
    cpu = {}

    def client(k: int) -> None:
        conn = Connection(host, port)
        out = records[k]
        n = 0
        time.sleep(max(0.0, start - time.perf_counter()))
        while (began := time.perf_counter()) < t1:
            req = make_request(k, n)
            n += 1
            try:
                status, body = conn.request(req)
                ok = status == req.expect
                if ok and on_answer is not None:
                    on_answer(k, body)
                elif not ok:
                    errors.append(f"{req.method} {req.path}: {status} {body[:200]!r}")
            except OSError as exc:
                ok = False
                errors.append(f"{req.method} {req.path}: {exc!r}")
                conn.close()
                time.sleep(0.05)
            done = time.perf_counter()
            out.append((done, done - began, ok))
        connects[k] = conn.connects
        conn.close()

    def clock() -> None:
        time.sleep(max(0.0, t0 - time.perf_counter()))
        cpu["t0"] = time.process_time()
        time.sleep(max(0.0, t1 - time.perf_counter()))
        cpu["t1"] = time.process_time()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    threads.append(threading.Thread(target=clock, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    inside = [r for rec in records for r in rec if t0 <= r[0] < t1]
    good = [lat for _, lat, ok in inside if ok]
    return LoadResult(
        throughput=len(good) / duration,
        count=len(good),
        errors=sum(1 for r in inside if not r[2]),
        latency_ms=summarize([x * 1000 for x in good]),
        connects=sum(connects),
        client_cpu=(cpu.get("t1", 0) - cpu.get("t0", 0)) / duration,
        first_error=errors[0] if errors else None,
    )


# -- open loop: fan-out ------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fanned_out(body: bytes, services: int) -> tuple[bool, float | None]:
    """Whether every ticket of the case answered is past ``dispatching``, and then the
    server's own figure: case ``created_at`` to the last ticket's ``queued_at``, in ms."""
    case = json.loads(body)
    tickets = case.get("tickets") or []
    if len(tickets) < services or any(t.get("status") == "dispatching" for t in tickets):
        return False, None
    created = parse_time(case.get("created_at"))
    queued = [parse_time(t.get("queued_at")) for t in tickets]
    if created is None or any(q is None for q in queued):
        return True, None
    return True, (max(queued) - created).total_seconds() * 1000


@dataclass
class FanoutResult:
    rate: float
    offered: int
    duration: float
    intake_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)  # POST answered → poll sees it done
    server_ms: list[float] = field(default_factory=list)  # created_at → last queued_at
    polls: list[int] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)  # how late a POST left its schedule
    started: float = 0.0  # the first arrival's time (perf_counter)
    last_answer: float = 0.0  # the last intake answer's time
    last_case: Request | None = None  # the view of the case answered last
    dropped: int = 0  # arrivals with every client slot busy: not sent
    timeouts: int = 0  # not fanned out within the timeout
    errors: int = 0
    first_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def answered_rate(self) -> float:
        """Intake answers per second, from the first arrival to the last answer."""
        span = self.last_answer - self.started
        return len(self.intake_ms) / span if span > 0 else 0.0

    @property
    def saturated(self) -> bool:
        """The system did not keep up with the offered rate: arrivals dropped, fan-outs
        given up, errors, or intake answered at less than 90 % of the offered rate."""
        return (
            self.dropped > 0
            or self.timeouts > 0
            or self.errors > 0
            or self.answered_rate < 0.9 * self.rate
        )

    def as_dict(self) -> dict:
        return {
            "rate": self.rate,
            "offered": self.offered,
            "completed": len(self.client_ms),
            "answered_rate": round(self.answered_rate, 1),
            "dropped": self.dropped,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "saturated": self.saturated,
            "intake_ms": summarize(self.intake_ms),
            "fanout_client_ms": summarize(self.client_ms),
            "fanout_server_ms": summarize(self.server_ms),
            "polls_per_application": round(sum(self.polls) / len(self.polls), 1)
            if self.polls
            else None,
            "send_lag_ms": summarize(self.late_ms),
            "first_error": self.first_error,
        }


def fanout(
    host: str,
    port: int,
    intake: Callable[[int], Request],
    view_of: Callable[[bytes], Request],
    rate: float,
    duration: float,
    services: int = 4,
    poll_every: float = 0.02,
    slots: int = 64,
    timeout: float = 30.0,
) -> FanoutResult:
    """Applications arrive every ``1/rate`` s for ``duration`` s, each on a free client slot
    (one thread and connection per slot; an arrival that finds every slot busy is dropped and
    counted, so an overloaded system does not make the run endless). After the intake answer
    the slot polls ``view_of(intake answer)`` every ``poll_every`` s until the case is fanned
    out, or gives up after ``timeout`` s."""
    count = max(1, round(rate * duration))
    result = FanoutResult(rate=rate, offered=count, duration=duration)
    jobs: queue.Queue = queue.Queue()
    free = threading.Semaphore(slots)

    def fail(message: str) -> None:
        with result.lock:
            result.errors += 1
            result.first_error = result.first_error or message

    def one(conn: Connection, i: int, due: float) -> None:
        req = intake(i)
        sent = time.perf_counter()
        status, body = conn.request(req)
        answered = time.perf_counter()
        if status != req.expect:
            fail(f"{req.method} {req.path}: {status} {body[:200]!r}")
            return
        with result.lock:
            result.intake_ms.append((answered - sent) * 1000)
            result.late_ms.append(max(0.0, sent - due) * 1000)
            result.last_answer = max(result.last_answer, answered)
        view = view_of(body)
        result.last_case = view
        polls = 0
        poll_at = answered
        while True:
            status, seen = conn.request(view)
            polls += 1
            now = time.perf_counter()
            if status != view.expect:
                fail(f"GET {view.path}: {status} {seen[:200]!r}")
                return
            done, server = fanned_out(seen, services)
            if done:
                with result.lock:
                    result.client_ms.append((now - answered) * 1000)
                    result.polls.append(polls)
                    if server is not None:
                        result.server_ms.append(server)
                return
            if now - answered > timeout:
                with result.lock:
                    result.timeouts += 1
                return
            poll_at += poll_every
            time.sleep(max(0.0, poll_at - time.perf_counter()))
            poll_at = max(poll_at, time.perf_counter())

    def slot() -> None:
        conn = Connection(host, port)
        while (job := jobs.get()) is not None:
            try:
                one(conn, *job)
            except OSError as exc:
                conn.close()
                fail(repr(exc))
            finally:
                free.release()
        conn.close()

    threads = [threading.Thread(target=slot, daemon=True) for _ in range(slots)]
    for t in threads:
        t.start()
    start = result.started = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        if free.acquire(blocking=False):
            jobs.put((i, due))
        else:
            result.dropped += 1
    for _ in threads:
        jobs.put(None)
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    return result
