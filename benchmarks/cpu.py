"""Where the CPU goes: each system under a closed-loop load, its processes' CPU per request.

On a 2-core machine where every process of a system (web, workers, PostgreSQL, Redis) runs
during a measurement, a throughput figure is bound by the total CPU one request costs all of
them. This prints that cost per process kind, for the floor and JointDesk alike, from
/proc/PID/stat (user + system time) read before and after the load:

    python -m benchmarks.cpu                      # intake, floor and JointDesk
    python -m benchmarks.cpu --figure view --seconds 10

``web``, ``worker`` and ``beat`` are the system's own processes (and their children);
``database`` is every PostgreSQL process on the machine, ``broker`` every Redis process:
run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.client import closed_loop
from benchmarks.side_by_side import VIEW_SET, drain
from benchmarks.systems import Settings, descendants, make_system

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _named(names: tuple[str, ...]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(names):
                found.append(int(entry.name))
    return found


def snapshot(system) -> dict[str, dict[int, float]]:
    """CPU seconds so far per process, grouped by kind."""
    kinds: dict[str, dict[int, float]] = {}
    for name, proc in system.processes.procs:
        kind = {"gunicorn": "web", "run": "web", "celery": "worker"}.get(name, name)
        for pid in [proc.pid, *descendants(proc.pid)]:
            kinds.setdefault(kind, {})[pid] = _cpu_seconds(pid)
    kinds["database"] = {pid: _cpu_seconds(pid) for pid in _named(("postgres",))}
    kinds["broker"] = {pid: _cpu_seconds(pid) for pid in _named(("redis",))}
    return kinds


def spent(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per kind between two snapshots (processes born in between count whole)."""
    return {
        kind: sum(t - before.get(kind, {}).get(pid, 0.0) for pid, t in pids.items())
        for kind, pids in after.items()
    }


def spy(system, seconds: float, into: Path) -> list:
    """py-spy (if installed) sampling each web and worker process while the load runs, its
    stacks written in collapsed form to ``into/KIND-PID.txt``."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--spy needs py-spy on PATH (pip install py-spy)")
    into.mkdir(parents=True, exist_ok=True)
    spies = []
    for kind, pids in snapshot(system).items():
        if kind in ("database", "broker", "beat"):
            continue
        for pid in pids:
            out = into / f"{kind}-{pid}.txt"
            args = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250"]
            args += ["--nonblocking", "--gil", "-f", "raw", "-o", str(out)]
            quiet = subprocess.DEVNULL
            spies.append(subprocess.Popen(args, stdout=quiet, stderr=quiet))  # noqa: S603
    return spies


def measure(system, figure: str, seconds: float, cases: list[dict], spy_into=None) -> dict:
    if figure == "intake":
        make, clients = (lambda k, n: system.intake()), 8
    else:
        reqs = [case[figure] for case in cases[-VIEW_SET:]]
        make, clients = (lambda k, n: reqs[(k * 31 + n) % len(reqs)]), 16
    closed_loop(system.host, system.port, make, clients, 2.0, 0.5)  # warm-up
    if figure == "intake":
        drain(system, cases[-1] if cases else None)
    spies = spy(system, seconds, spy_into) if spy_into else []
    before = snapshot(system)
    t0 = time.perf_counter()
    result = closed_loop(
        system.host,
        system.port,
        make,
        clients,
        seconds,
        0.0,
        on_answer=(lambda k, body: cases.append(system.created(body)))
        if figure == "intake"
        else None,
    )
    if figure == "intake" and cases:
        drain(system, cases[-1])  # the workers' share of the last applications too
    elapsed = time.perf_counter() - t0
    after = snapshot(system)
    for proc in spies:
        proc.wait()
    done = result.count
    per = {k: round(v / done * 1000, 2) for k, v in spent(before, after).items() if v > 0}
    per["total"] = round(sum(per.values()), 2)
    return {"throughput": round(result.throughput, 1), "elapsed": round(elapsed, 1), "ms": per}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu", description=__doc__.split("\n")[0])
    p.add_argument("--figure", default="intake", choices=["intake", "view", "lookup"])
    p.add_argument("--systems", default="floor,jointdesk")
    p.add_argument("--seconds", type=float, default=8.0, help="per measurement (8)")
    p.add_argument("--rounds", type=int, default=3, help="measurements per system, in turns")
    p.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--spy", type=Path, help="folder for py-spy's stacks of each process")
    args = p.parse_args(argv)
    settings = Settings(
        admin_url=args.admin_url,
        redis_url=args.redis_url,
        floor_redis_db=9,
        app_redis_db=10,
        floor_database="jdbench_floor",
        app_database="jdbench_app",
    )
    parent = Path(tempfile.mkdtemp(prefix="jdcpu-"))
    systems = [make_system(name, settings, parent) for name in args.systems.split(",")]
    cases: dict[str, list[dict]] = {s.name: [] for s in systems}
    runs: dict[str, list[dict]] = {s.name: [] for s in systems}
    try:
        for system in systems:
            system.start()
            system.wait_until_up()
            system.warm_up()
            if args.figure != "intake":
                measure(system, "intake", 3.0, cases[system.name])
        # the systems take turns, so that the machine's changes of pace weigh on each alike
        for turn in range(args.rounds):
            for system in systems:
                spy_into = args.spy / f"{system.name}-{turn}" if args.spy else None
                out = measure(system, args.figure, args.seconds, cases[system.name], spy_into)
                runs[system.name].append(out)
                print(
                    f"{system.name:<10} {args.figure}: {out['throughput']}/s  "
                    f"CPU ms per request {out['ms']}",
                    flush=True,
                )
    finally:
        for system in systems:
            system.stop()
            system.cleanup()
    totals = {name: sorted(r["ms"]["total"] for r in found) for name, found in runs.items()}
    medians = {name: t[len(t) // 2] for name, t in totals.items() if t}
    print("median CPU ms per request: " + ", ".join(f"{n} {m}" for n, m in medians.items()))
    if "floor" in medians and "jointdesk" in medians:
        print(f"floor / jointdesk: {medians['floor'] / medians['jointdesk']:.2f}")


if __name__ == "__main__":
    main()
