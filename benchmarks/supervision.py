"""Supervision benchmark: the month dashboard and the summary API for a month of 100,000 cases.

Seeds its own database (``jointdesk bench seed``'s seeder) with ``--cases`` cases all created in
one month (the one before ``--month-end``, default the month before this one) unless it holds
them already, then measures in-process (Flask test client, rate limiting off):

- ``GET /api/v1/supervision/summary?month=`` (supervisor's token), median and worst of
  ``--samples`` requests;
- ``GET /supervision/?month=`` (the month dashboard, signed-in supervisor), likewise;
- ``GET /supervision/performance?month=`` (every performance table of the month), likewise;
- EXPLAIN (ANALYZE, BUFFERS) of every statement one summary request runs.

Goal: under a second each on PostgreSQL. Results go to docs/benchmarks/supervision.json and
docs/benchmarks/supervision.md.

    python -m benchmarks.supervision                       # PostgreSQL jdbench_supervision
    python -m benchmarks.supervision --cases 20000 --samples 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.scale import Capture, ensure_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jdbench_supervision"
GOAL_MS = 1000


def _month_start(now: datetime, tz) -> datetime:
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("JDBENCH_SUPERVISION_URL", DEFAULT_URL)
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = parser.parse_args([] if argv is None else argv)

    postgres = args.database_url.startswith("postgresql")
    if postgres:
        ensure_database(args.database_url)
    os.environ["JOINTDESK_DATABASE_URL"] = args.database_url
    os.environ["JOINTDESK_RATELIMIT_ENABLED"] = "0"
    os.environ["JOINTDESK_SECURE_COOKIES"] = "0"
    os.environ.setdefault(
        "JOINTDESK_INSTANCE_PATH", tempfile.mkdtemp(prefix="jointdesk-supervision-")
    )
    os.environ.setdefault("JOINTDESK_LOG_LEVEL", "WARNING")

    import logging
    from zoneinfo import ZoneInfo

    from flask_migrate import upgrade

    from jointdesk import create_app
    from jointdesk.auth import SESSION_KEY, issue_token, start_session
    from jointdesk.benchdata import BENCH_USER_PREFIX, seed
    from jointdesk.extensions import db
    from jointdesk.models import User
    from jointdesk.policy.supervision import month_key
    from jointdesk.seed import load_reference_data

    app = create_app()
    logging.getLogger("jointdesk").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    tz = ZoneInfo(app.config["JOINTDESK_TIMEZONE"])
    end = _month_start(datetime.now(UTC), tz)  # the seeded month ends where this one starts
    month = month_key((end - timedelta(days=1)).date())
    result: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
        "database": "PostgreSQL" if postgres else "SQLite",
        "month": month,
        "goal_ms": GOAL_MS,
    }
    with app.app_context():
        upgrade()
        load_reference_data()
        have = db.session.execute(db.text("SELECT COUNT(*) FROM cases")).scalar()
        if have < args.cases:
            print(f"seeding {args.cases - have:,} cases into {month} ...", flush=True)
            # 27 days ending at the month's end: every case in the month, whatever its length
            counts = seed(
                args.cases - have,
                append=bool(have),
                progress=print,
                now=end.astimezone(UTC),
                span_days=27,
            )
            result["seed"] = {"seconds": counts["seconds"]}
        sizes = {
            t: db.session.execute(db.text(f"SELECT COUNT(*) FROM {t}")).scalar()  # noqa: S608
            for t in ("cases", "tickets", "steps")
        }
        result["sizes"] = sizes
        print("sizes:", sizes, flush=True)
        supervisor = db.session.execute(
            db.select(User).where(User.username == f"{BENCH_USER_PREFIX}supervisor")
        ).scalar_one()
        headers = {"Authorization": f"Bearer {issue_token(supervisor)}"}
        sid, sup_id = start_session(supervisor), supervisor.id
        db.session.commit()
        db.session.remove()

    api = app.test_client()
    web = app.test_client()
    with web.session_transaction() as s:
        s[SESSION_KEY] = sid
        s["_user_id"] = str(sup_id)
        s["_fresh"] = True

    def timed(client, url, **kw) -> dict:
        times = []
        for _ in range(args.samples):
            started = time.perf_counter()
            res = client.get(url, **kw)
            times.append((time.perf_counter() - started) * 1000)
            assert res.status_code == 200, (url, res.status_code)
        return {
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "samples": len(times),
        }

    figures = {
        "summary API": timed(api, f"/api/v1/supervision/summary?month={month}", headers=headers),
        "month dashboard": timed(web, f"/supervision/?month={month}"),
        "performance page": timed(web, f"/supervision/performance?month={month}"),
    }
    result["latency"] = figures
    with app.app_context():
        with Capture(db.engine) as capture:
            api.get(f"/api/v1/supervision/summary?month={month}", headers=headers)
        result["explain"] = explain(db, capture.statements, postgres)
        first = api.get(f"/api/v1/supervision/summary?month={month}", headers=headers).get_json()
        result["month_tickets"] = sum(i["tickets"] for i in first["items"])
    for name, f in figures.items():
        print(f"{name}: median {f['median_ms']} ms, worst {f['max_ms']} ms", flush=True)
    write(result, Path(args.out))
    return result


def explain(db, statements, postgres: bool) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of each SELECT, with the settings the reports run with
    (``supervision.performance.lean_reads``: no JIT, 64 MB of work_mem)."""
    import re

    out = []
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        if postgres:
            cur.execute("SET jit = off")
            cur.execute("SET work_mem = '64MB'")
        for statement, params in statements:
            if statement.lstrip().split(None, 1)[0].upper() != "SELECT":
                continue
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            cur.execute(prefix + statement, params)
            rows = cur.fetchall()
            plan = "\n".join(str(r[0] if postgres else r[-1]) for r in rows)
            seq = re.findall(r"Seq Scan on (\w+)", plan)
            out.append(
                {
                    "statement": " ".join(statement.split())[:400],
                    "plan": plan,
                    "seq_scan_big_tables": sorted({t for t in seq if t in ("tickets", "steps")}),
                }
            )
        raw.rollback()
    return out


def write(result: dict, out: Path) -> None:
    import re

    out.mkdir(parents=True, exist_ok=True)
    (out / "supervision.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    sizes = result["sizes"]
    lines = [
        f"# Supervision benchmark ({result['database']})",
        "",
        f"{result['date']}, {result['machine']}; in-process (Flask test client), rate limiting "
        "off. `python -m benchmarks.supervision`.",
        "",
        f"Data: {sizes['cases']:,} cases, all created in {result['month']} "
        f"({result['month_tickets']:,} tickets in the month), {sizes['steps']:,} steps.",
        "",
        "| figure | median | worst | goal | |",
        "|---|---|---|---|---|",
    ]
    for name, f in result["latency"].items():
        ok = "✓" if f["max_ms"] <= result["goal_ms"] else "✗"
        lines.append(
            f"| {name} | {f['median_ms']:.0f} ms | {f['max_ms']:.0f} ms | "
            f"< {result['goal_ms']} ms | {ok} |"
        )
    lines += ["", "EXPLAIN (ANALYZE, BUFFERS) of the summary's statements:", ""]
    for plan in result["explain"]:
        took = re.findall(r"Execution Time: ([0-9.]+) ms", plan["plan"])
        lines += [
            f"- `{plan['statement'][:160]}…` {took[0] + ' ms' if took else ''}",
            "",
            "```",
            plan["plan"],
            "```",
            "",
        ]
    (out / "supervision.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
