"""``python -m benchmarks`` (what ``make bench`` runs): JointDesk beside the floor, then the
scale part.

The floor is ``benchmarks/floor_app.py``, kept byte for byte as it was given with the speed goals
(the least code with JointDesk's job shape; kept unchanged as the yardstick). Each system is
started the way it runs for real and measured with the same client; they are up together
and take turns figure by figure (the others idle meanwhile), so that other work on a shared
machine weighs on both sides of a ratio alike (``--sequential``: each alone):

- ``floor``: gunicorn -w 2 + Celery -c 2 on PostgreSQL and Redis;
- ``jointdesk``: production settings, gunicorn -w 2 + ``jointdesk worker -c 2`` + ``jointdesk
  beat`` on PostgreSQL and Redis;
- ``embedded``: ``jointdesk run`` on SQLite and the filesystem broker (``make run``).

Figures: intake throughput (8 clients back to back), case view and public look-up throughput
(16 connections), the HTTP floor, and fan-out at each rate (open loop, the client polling the
case every 20 ms). The table prints each system's figures and their ratio to the floor's, and
``docs/benchmarks/`` gets results.json, latest.md and curve.png.

After the scale part, ``benchmarks.supervision``: the month dashboard and summary API for a
month of 100,000 cases (``--skip-supervision`` skips it, and so does ``--quick``).

Afterwards ``benchmarks.scale`` (the million-case part), if present, is called as
``benchmarks.scale.main(argv)`` with ``argv`` = whatever follows ``--`` on this command line;
``--skip-scale`` skips it, and so does ``--quick`` unless arguments for it follow ``--``.

    make bench
    make bench BENCH_ARGS="--quick --skip-scale"
    python -m benchmarks --only floor,jointdesk --rates 5,10,20 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent


def _rates(value: str) -> list[float]:
    rates = sorted({float(x) for x in value.split(",") if x.strip()})
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("give positive rates, e.g. 5,10,20")
    return rates


def _systems(value: str) -> list[str]:
    names = [x.strip() for x in value.split(",") if x.strip()]
    unknown = set(names) - set(report.SYSTEMS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(report.SYSTEMS)}")
    return [name for name in report.SYSTEMS if name in names]  # the floor first


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="JointDesk side by side with the floor, then the scale part.",
        epilog="Arguments after -- go to benchmarks.scale.",
    )
    p.add_argument("--quick", action="store_true", help="short durations: a smoke run")
    p.add_argument(
        "--only",
        type=_systems,
        default=list(report.SYSTEMS),
        metavar="floor,jointdesk,embedded",
        help="measure only these systems (default: all three)",
    )
    p.add_argument(
        "--rates",
        type=_rates,
        default=[5.0, 10.0, 20.0, 50.0, 100.0],
        help="fan-out arrival rates, applications/s (default 5,10,20,50,100)",
    )
    p.add_argument(
        "--duration", type=float, help="seconds per round of a throughput figure (default 6)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="rounds per throughput figure, systems taking turns; the median counts "
        "(default 3; 1 with --quick)",
    )
    p.add_argument(
        "--warmup", type=float, help="seconds of warm-up before a figure's first round (3)"
    )
    p.add_argument("--fanout-duration", type=float, help="seconds of arrivals per rate (10)")
    p.add_argument("--poll-ms", type=float, default=20, help="case polling interval (20)")
    p.add_argument(
        "--busy-cores",
        type=int,
        default=0,
        help="run this many busy loops beside the systems while they are measured, as a "
        "neighbour on a shared machine would (default 0)",
    )
    p.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL database to connect to for creating the benchmark databases",
    )
    p.add_argument("--floor-database", default="jdbench_floor")
    p.add_argument("--app-database", default="jdbench_app")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="without a number")
    p.add_argument("--floor-redis-db", type=int, default=9)
    p.add_argument("--app-redis-db", type=int, default=10)
    p.add_argument(
        "--output",
        type=Path,
        default=ROOT / "docs" / "benchmarks",
        help="where results.json, latest.md and curve.png go (default docs/benchmarks)",
    )
    p.add_argument(
        "--from-results",
        type=Path,
        metavar="results.json",
        help="measure nothing: redraw the tables and the curve from an earlier results.json",
    )
    p.add_argument(
        "--sequential",
        action="store_true",
        help="each system alone, started and stopped in turn (default: all up together, "
        "taking turns figure by figure)",
    )
    p.add_argument(
        "--readme",
        action="store_true",
        help="also put the new tables into README.md's Performance section",
    )
    p.add_argument("--keep-data", action="store_true", help="keep databases, logs, instances")
    p.add_argument("--skip-side-by-side", action="store_true", help="only the scale part")
    p.add_argument("--skip-scale", action="store_true", help="no scale part")
    p.add_argument(
        "--skip-supervision",
        action="store_true",
        help="no supervision part (month dashboard and summary at 100,000 cases of a month)",
    )
    return p


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our arguments, and the scale part's (those after ``--``)."""
    if "--" in argv:
        cut = argv.index("--")
        argv, scale_argv = argv[:cut], argv[cut + 1 :]
    else:
        scale_argv = []
    args = parser().parse_args(argv)
    defaults = (3.0, 1.0, 4.0, 1) if args.quick else (6.0, 3.0, 10.0, 3)
    names = ("duration", "warmup", "fanout_duration", "rounds")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.rounds < 1:
        parser().error("--rounds must be at least 1")
    return args, scale_argv


def _stop(_signum, _frame):
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def side_by_side(args) -> None:
    if args.from_results:
        results = json.loads(args.from_results.read_text())
        results["table"] = report.build_table(results["systems"])
    else:
        from benchmarks.side_by_side import run

        results = run(args)
    present = tuple(name for name in report.SYSTEMS if results["systems"].get(name))
    print()
    print(report.markdown_table(results["table"], present))
    print()
    print(report.curve_table(results["systems"]))
    print()
    for path in report.write(results, args.output):
        print(f"wrote {path}")
    if args.readme:
        readme = ROOT / "README.md"
        if report.update_readme(readme, results):
            print(f"updated {readme}")
        else:
            print(f"{readme} has no {report.README_START} block: not updated")


def scale(scale_argv: list[str]) -> None:
    try:
        from benchmarks import scale as scale_part
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.scale":
            raise
        print("benchmarks/scale.py is not there: no scale figures (nothing else is wrong)")
        return
    entry = getattr(scale_part, "main", None) or scale_part.run
    print(f"\nthe scale part: benchmarks.scale {' '.join(scale_argv)}", flush=True)
    entry(scale_argv)


def main(argv: list[str] | None = None) -> None:
    args, scale_argv = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    try:
        if not args.skip_side_by_side:
            side_by_side(args)
        if args.skip_scale or args.from_results:
            pass
        elif args.quick and not scale_argv:
            print("a quick run: no scale part (give it arguments after --, e.g. -- --cases 20000)")
        else:
            scale(scale_argv)
        if not (args.skip_supervision or args.quick or args.from_results):
            from benchmarks import supervision

            print("\nthe supervision part: benchmarks.supervision", flush=True)
            supervision.main([])
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
