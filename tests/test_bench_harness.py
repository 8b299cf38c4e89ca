"""The benchmark harness's pure parts (``python -m benchmarks``): percentiles, ratios, tables,
arguments, and the load client's HTTP against a local server. No timing is asserted."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.__main__ import parse
from benchmarks.client import Connection, Request, fanned_out


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert report.percentile(values, 50) == 50
    assert report.percentile(values, 99) == 99
    assert report.percentile(values, 100) == 100
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([], 50) is None
    assert report.percentile([3, 1, 2], 50) == 2


def test_summarize():
    assert report.summarize([]) == {"n": 0, "p50": None, "p99": None, "max": None}
    assert report.summarize([1.04, 2.0, 3.0]) == {"n": 3, "p50": 2.0, "p99": 3.0, "max": 3.0}


def _system(intake, view, p99, saturated=False, rates=(5.0, 20.0, 50.0)):
    def point(rate):
        value = p99 if rate == 20.0 else p99 * 10
        return {
            "rate": rate,
            "saturated": saturated,
            "intake_ms": {"p50": 1.0, "p99": 2.0},
            "fanout_client_ms": {"p50": value / 2, "p99": value},
            "fanout_server_ms": {"p50": 1.0, "p99": 3.0},
        }

    load = {"throughput": None, "errors": 0}
    return {
        "throughput": {
            "intake": load | {"throughput": intake},
            "view": load | {"throughput": view},
        },
        "fanout": [point(r) for r in rates],
    }


def test_table_ratios_and_goals():
    systems = {
        "floor": _system(200.0, 1000.0, 40.0),
        "jointdesk": _system(20.0, 600.0, 400.0, saturated=True),
        "embedded": _system(10.0, 100.0, 60.0),
    }
    rows = {row["figure"]: row for row in report.build_table(systems)}
    assert rows["intake"]["jointdesk"]["ratio"] == 0.1
    assert rows["intake"]["jointdesk"]["meets_goal"] is False
    assert rows["view"]["jointdesk"]["meets_goal"] is True
    assert rows["fanout_p99"]["jointdesk"]["value"] == 400.0  # the 20/s point
    assert rows["fanout_p99"]["jointdesk"]["ratio"] == 10.0
    assert rows["fanout_p99"]["jointdesk"]["saturated"] is True
    assert rows["fanout_p99"]["embedded"]["meets_goal"] is True  # 1.5x <= 2x
    assert rows["lookup"]["jointdesk"]["ratio"] is None  # not measured
    assert rows["fanout_p50"]["jointdesk"]["meets_goal"] is None  # informative
    assert "20/s" in rows["fanout_p99"]["words"]

    table = report.markdown_table(report.build_table(systems))
    lines = table.splitlines()
    assert lines[0].startswith("| figure | floor | JointDesk")
    assert len({line.count("|") for line in lines}) == 1  # every row has every column
    assert "| 200 /s | 20 /s | 0.10 ✗ | ≥ 0.5 | 10 /s | 0.05 ✗ |" in table
    assert "400 ms (overloaded) | 10.0× ✗ | ≤ 2× |" in table

    curve = report.curve_table(systems)
    assert curve.splitlines()[2].startswith("| 5 |")
    assert "(overloaded)" in curve


def test_table_without_the_floor_has_no_ratios():
    rows = report.build_table({"jointdesk": _system(20.0, 600.0, 400.0)})
    assert all(row["jointdesk"]["ratio"] is None for row in rows)
    table = report.markdown_table(rows, ("jointdesk",))
    assert "—" in table and "embedded" not in table


def test_headline_point_is_the_nearest_rate():
    points = [{"rate": 5.0}, {"rate": 10.0}, {"rate": 50.0}]
    assert report.headline_point(points)["rate"] == 10.0
    assert report.headline_point([]) is None


def test_value_formats():
    assert report.fmt_value("throughput", 1698.4) == "1,698 /s"
    assert report.fmt_value("throughput", 6.25) == "6.2 /s"
    assert report.fmt_value("latency", 38.0, saturated=True) == "38 ms (overloaded)"
    assert report.fmt_value("latency", None) == "—"
    assert report.fmt_ratio("latency", 18.46, False) == "18.5× ✗"
    assert report.fmt_goal("throughput", 0.5) == "≥ 0.5"


def test_arguments_and_the_scale_parts():
    args, scale = parse(["--quick", "--rates", "20,5", "--only", "jointdesk,floor"])
    assert args.rates == [5.0, 20.0]
    assert args.only == ["floor", "jointdesk"]
    assert args.duration < 10
    assert scale == []
    assert args.rounds == 1
    args, scale = parse(["--duration", "7", "--", "--cases", "20000"])
    assert args.duration == 7 and args.warmup == 3.0 and args.rounds == 3
    assert scale == ["--cases", "20000"]
    assert parse(["--rounds", "5"])[0].rounds == 5
    with pytest.raises(SystemExit):
        parse(["--only", "nothing"])
    with pytest.raises(SystemExit):
        parse(["--rounds", "0"])
    assert parse([])[0].busy_cores == 0 and parse(["--busy-cores", "1"])[0].busy_cores == 1


def test_busy_loops_keep_a_core_busy_until_killed():
    import time

    from benchmarks.side_by_side import busy_loops

    assert busy_loops(0) == []
    (loop,) = busy_loops(1)
    try:
        time.sleep(0.5)
        stat = Path(f"/proc/{loop.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert loop.poll() is None and int(stat[11]) + int(stat[12]) > 0  # user+system ticks
    finally:
        loop.kill()
        loop.wait()


def test_a_figure_of_several_rounds_is_its_median_round():
    from benchmarks.side_by_side import median_round

    def r(rate):
        return {"throughput": rate, "latency_ms": {"p50": 1000 / rate}}

    three = median_round([r(90.0), r(60.0), r(75.0)])
    assert three["throughput"] == 75.0 and three["latency_ms"]["p50"] == 1000 / 75
    assert three["rounds"] == [90.0, 60.0, 75.0]  # in the order measured
    assert median_round([r(80.0), r(40.0)])["throughput"] == 40.0  # the lower middle one
    assert median_round([r(5.0)])["rounds"] == [5.0]


def test_fanned_out_reads_the_tickets_and_the_server_clocks():
    case = {
        "created_at": "2026-11-27T12:00:00+08:00",
        "tickets": [
            {"status": "queued", "queued_at": "2026-11-27T04:00:00.030+00:00"},
            {"status": "accepted", "queued_at": "2026-11-27T04:00:00.010+00:00"},
        ],
    }
    done, server = fanned_out(json.dumps(case).encode(), 2)
    assert done and server == pytest.approx(30.0)
    case["tickets"][1]["status"] = "dispatching"
    assert fanned_out(json.dumps(case).encode(), 2) == (False, None)
    assert fanned_out(json.dumps(case).encode(), 3) == (False, None)  # a ticket missing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.path.encode()
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        sent = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (sent[:3], sent[3:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")


def test_the_client_keeps_connections_and_reopens_closed_ones():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = Connection("127.0.0.1", server.server_address[1], timeout=5)
        assert conn.request(Request("GET", "/a")) == (200, b"/a")
        assert conn.request(Request("GET", "/b")) == (200, b"/b")
        assert conn.connects == 1  # kept alive
        assert conn.request(Request("GET", "/close")) == (200, b"/close")
        assert conn.sock is None
        assert conn.request(Request("POST", "/x", b'{"a": 1}', expect=201)) == (201, b'{"a": 1}')
        assert conn.request(Request("GET", "/missing")) == (404, b"/missing")
        assert conn.connects == 2
        conn.close()
    finally:
        server.shutdown()
        server.server_close()


def test_requests_are_written_whole():
    data = Request("POST", "/api/v1/cases", b"{}", b"Authorization: Bearer t\r\n").encode(
        b"127.0.0.1:5000"
    )
    assert data.startswith(b"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n")
    assert b"Content-Length: 2\r\n" in data
    assert data.endswith(b"Authorization: Bearer t\r\n\r\n{}")
    assert b"Content-Length" not in Request("GET", "/x").encode(b"h")


def test_the_readme_block_is_replaced_between_its_markers(tmp_path):
    results = {
        "date": "2026-11-27 05:00 UTC",
        "machine": {"cores": 2, "cpu": "AMD EPYC", "postgresql": "15.20 (Debian)"},
        "systems": {
            "floor": _system(200.0, 1000.0, 40.0),
            "jointdesk": _system(20.0, 600.0, 400.0),
        },
    }
    results["table"] = report.build_table(results["systems"])
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.README_START}\nold\n{report.README_END}\nafter\n")
    assert report.update_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n")
    assert "old" not in text and "PostgreSQL 15.20," in text and "| 200 /s | 20 /s |" in text
    assert "busy loop" not in text
    results["settings"] = {"busy_cores": 1}
    assert report.update_readme(readme, results)
    assert ", 1 busy loop(s) beside (--busy-cores)." in readme.read_text()
    readme.write_text("no markers\n")
    assert not report.update_readme(readme, results)


def test_the_scale_part_is_called_with_the_arguments_after_the_dashes(monkeypatch, capsys):
    import types

    import benchmarks
    from benchmarks.__main__ import scale

    seen = []
    fake = types.ModuleType("benchmarks.scale")
    fake.main = seen.append
    monkeypatch.setitem(sys.modules, "benchmarks.scale", fake)
    monkeypatch.setattr(benchmarks, "scale", fake, raising=False)
    scale(["--cases", "10"])
    assert seen == [["--cases", "10"]]

    monkeypatch.setitem(sys.modules, "benchmarks.scale", None)  # not there: import fails
    monkeypatch.delattr(benchmarks, "scale")
    scale([])
    assert "no scale figures" in capsys.readouterr().out


def test_cpu_per_process_kind_counts_a_systems_processes_and_their_children(tmp_path):
    """``benchmarks.cpu`` reads each process's CPU time from /proc and files it under its kind
    (a system's ``celery`` and ``worker`` processes are workers), children included, and a
    process born during the measurement counts whole."""
    import types

    from benchmarks import cpu
    from benchmarks.systems import Processes

    child = "\n".join(
        [
            "import time",
            "t = time.process_time()",
            "while time.process_time() - t < 0.3: pass",
            "time.sleep(60)",
        ]
    )
    parent = "\n".join(
        [
            "import subprocess, sys, time",
            f"subprocess.Popen([sys.executable, '-c', {child!r}])",
            "time.sleep(60)",
        ]
    )
    procs = Processes(tmp_path)
    proc = procs.start("celery", [sys.executable, "-c", parent], {}, tmp_path)
    system = types.SimpleNamespace(processes=procs)
    try:
        before = cpu.snapshot(system)
        assert set(before) >= {"worker", "database", "broker"}
        assert proc.pid in before["worker"]
        for _ in range(100):  # until the child has spun (at most 10 s)
            after = cpu.snapshot(system)
            if len(after["worker"]) == 2 and cpu.spent(before, after)["worker"] >= 0.25:
                break
            threading.Event().wait(0.1)
        assert len(after["worker"]) == 2  # the parent and its child
        assert cpu.spent(before, after)["worker"] >= 0.25
    finally:
        procs.stop(grace=2)
