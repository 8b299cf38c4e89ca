"""The floor and JointDesk side by side: each started alone, measured with the same client,
stopped; then the ratios, the curve and the files under docs/benchmarks/."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report
from benchmarks.client import closed_loop, fanout
from benchmarks.systems import (
    Settings,
    System,
    make_system,
    postgresql_version,
    redis_version,
)

VIEW_SET = 256  # cases the view and look-up figures cycle over (the newest ones)


def cpu_jiffies() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far (/proc/stat, in jiffies)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Cores busy on average between two ``cpu_jiffies`` readings."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total * (os.cpu_count() or 1), 2) if total else 0.0


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def throughput(
    system: System, name: str, make_request, clients: int, args, on_answer=None, warmup=None
):
    result = closed_loop(
        system.host,
        system.port,
        make_request,
        clients,
        args.duration,
        args.warmup if warmup is None else warmup,
        on_answer=on_answer,
    )
    system.processes.check()
    say(
        f"  {name:<7} {result.throughput:8.1f} /s  p50 {result.latency_ms['p50']} ms  "
        f"p99 {result.latency_ms['p99']} ms  errors {result.errors}  "
        f"client CPU {result.client_cpu:.2f} cores"
        + (f"\n          first error: {result.first_error}" if result.first_error else "")
    )
    return result.as_dict()


LATER_WARMUP = 1.0  # seconds of warm-up before a figure's second and later rounds


def median_round(rounds: list[dict]) -> dict:
    """A figure measured in rounds: the round of median throughput (the lower of the two middle
    ones for an even count), with every round's throughput beside it."""
    middle = sorted(rounds, key=lambda r: r["throughput"])[(len(rounds) - 1) // 2]
    return {**middle, "rounds": [r["throughput"] for r in rounds]}


def drain(system: System, case: dict | None) -> None:
    """Waits until ``case`` is fanned out, so no backlog of this system's workers takes the
    cores from the next measurement."""
    if case is None:
        return
    try:
        system.wait_fanned_out(case, timeout=180)
    except RuntimeError as exc:
        say(f"  WARNING: {exc}; going on")


def steps(system: System, args, out: dict) -> list:
    """One system's figures as steps, each measuring one figure into ``out``; every system
    has the same steps, so steps of two systems can take turns."""
    out.update(
        label=report.LABELS[system.name],
        hello_endpoint=system.hello_endpoint,
        throughput={},
        fanout=[],
    )
    cases: list[dict] = []
    rounds: dict[str, list[dict]] = {}

    def measured(figure: str, result: dict) -> None:
        rounds.setdefault(figure, []).append(result)
        out["throughput"][figure] = median_round(rounds[figure])

    def warmup(figure: str) -> float | None:  # the full warm-up before a figure's first round
        return LATER_WARMUP if figure in rounds else None

    def hello():
        req = system.hello()
        result = throughput(system, "hello", lambda k, n: req, 16, args, warmup=warmup("hello"))
        measured("hello", result)

    def intake():
        result = throughput(
            system,
            "intake",
            lambda k, n: system.intake(),
            8,
            args,
            on_answer=lambda k, body: cases.append(system.created(body)),
            warmup=warmup("intake"),
        )
        measured("intake", result)
        if not cases:
            raise RuntimeError(f"{system.name}: intake created no case")
        say(f"  {len(cases)} cases; waiting for the workers to catch up")
        drain(system, cases[-1])

    def load(figure: str):
        def step():
            reqs = [case[figure] for case in cases[-VIEW_SET:]]
            result = throughput(
                system,
                figure,
                lambda k, n: reqs[(k * 31 + n) % len(reqs)],
                16,
                args,
                warmup=warmup(figure),
            )
            measured(figure, result)

        return step

    def fan(rate: float):
        def step():
            time.sleep(1)
            point = fanout(
                system.host,
                system.port,
                lambda i: system.intake(),
                lambda body: system.created(body)["view"],
                rate,
                args.fanout_duration,
                poll_every=args.poll_ms / 1000,
            )
            system.processes.check()
            d = point.as_dict()
            out["fanout"].append(d)
            say(
                f"  fan-out at {rate:g}/s: intake p50/p99 {d['intake_ms']['p50']}/"
                f"{d['intake_ms']['p99']} ms, fan-out p50/p99 {d['fanout_client_ms']['p50']}/"
                f"{d['fanout_client_ms']['p99']} ms (server {d['fanout_server_ms']['p50']}/"
                f"{d['fanout_server_ms']['p99']}), {d['completed']}/{d['offered']} done"
                + (
                    f", dropped {d['dropped']}, timeouts {d['timeouts']}, errors {d['errors']}"
                    if d["saturated"]
                    else ""
                )
                + (f"\n          first error: {d['first_error']}" if d["first_error"] else "")
            )
            drain(system, point.last_case and {"view": point.last_case})

        return step

    # each throughput figure in ``args.rounds`` rounds; systems measured together take turns
    # round by round, so a slow spell of the shared machine falls on every side alike
    n = args.rounds
    return [
        *[hello] * n,
        *[intake] * n,
        *[load("view")] * n,
        *[load("lookup")] * n,
        *(fan(r) for r in args.rates),
    ]


def machine(settings: Settings) -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    uname = platform.uname()
    return {
        "system": uname.system,
        "release": uname.release,
        "machine": uname.machine,
        "uname": f"{uname.system} {uname.release} {uname.version} {uname.machine}",  # no host
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "postgresql": postgresql_version(settings.admin_url),
        "redis": redis_version(settings.redis(settings.app_redis_db)),
        "python": platform.python_version(),
    }


def groups(args) -> list[list[str]]:
    """Systems up at the same time, taking turns figure by figure, so that other work on a
    shared machine weighs on every side of a ratio alike (an idle system costs about 1 % of
    a core: measured, the embedded worker polling its broker folders costs most).
    ``--sequential``: each system alone, started and stopped in turn."""
    if args.sequential:
        return [[name] for name in args.only]
    return [list(args.only)]


def busy_loops(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep a core busy (``--busy-cores``): the neighbour on a
    shared machine, whose time slices every process of the systems must wait behind."""
    if count:
        say(f"{count} busy loop(s) running beside the systems (--busy-cores)")
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
        for _ in range(count)
    ]


def measure_group(names: list[str], settings, parent: Path, args, into: dict) -> None:
    """Starts the systems of ``names``, measures them figure by figure in turn, stops them."""
    systems = [make_system(name, settings, parent) for name in names]
    quiet = cpu_jiffies()
    time.sleep(2)
    idle_busy = busy_cores(quiet, cpu_jiffies())
    if idle_busy > 0.25:
        say(
            f"WARNING: before starting, the machine was busy with something else "
            f"({idle_busy} cores): figures will be low and ratios noisy"
        )
    busy = {s.name: [0, 0] for s in systems}
    neighbours = busy_loops(getattr(args, "busy_cores", 0))
    try:
        for system in systems:
            label = report.LABELS[system.name]
            say(f"{label}: starting (port {system.port}, logs in {system.workdir})")
            system.start()
            system.wait_until_up()
            system.warm_up()
            say(f"{label}: up")
        outs = {s.name: {} for s in systems}
        plans = [steps(s, args, outs[s.name]) for s in systems]
        for turn in zip(*plans, strict=True):
            for system, step in zip(systems, turn, strict=True):
                if len(systems) > 1:
                    say(f"{report.LABELS[system.name]}:")
                before = cpu_jiffies()
                step()
                after = cpu_jiffies()
                busy[system.name][0] += after[0] - before[0]
                busy[system.name][1] += after[1] - before[1]
        for system in systems:
            b, total = busy[system.name]
            outs[system.name]["machine_busy"] = {
                "before_start_cores": idle_busy,
                "while_measured_cores": round(b / total * (os.cpu_count() or 1), 2)
                if total
                else 0.0,
            }
            into[system.name] = outs[system.name]
    except Exception:
        for system in systems:
            for proc_name, _ in system.processes.procs:
                print(f"--- {system.name} {proc_name} log ---\n{system.processes.tail(proc_name)}")
        raise
    finally:
        for loop in neighbours:
            loop.kill()
            loop.wait()
        for system in systems:
            say(f"{report.LABELS[system.name]}: stopping")
            system.stop()
            if not args.keep_data:
                system.cleanup()


def run(args) -> dict:
    settings = Settings(
        admin_url=args.admin_url,
        redis_url=args.redis_url,
        floor_redis_db=args.floor_redis_db,
        app_redis_db=args.app_redis_db,
        floor_database=args.floor_database,
        app_database=args.app_database,
    )
    results: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": machine(settings),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "fanout_duration": args.fanout_duration,
            "rates": args.rates,
            "poll_ms": args.poll_ms,
            "busy_cores": getattr(args, "busy_cores", 0),
            "web": "gunicorn -w 2 (sync); embedded: waitress, 8 threads",
            "workers": "Celery -c 2",
            "turns": "sequential" if args.sequential else "interleaved",
        },
        "systems": {},
    }
    parent = Path(tempfile.mkdtemp(prefix="jointdesk-bench-"))
    try:
        for group in groups(args):
            measure_group(group, settings, parent, args, results["systems"])
    finally:
        if args.keep_data:
            say(f"kept the logs and instance folders in {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    results["table"] = report.build_table(results["systems"])
    return results
