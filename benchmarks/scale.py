"""Scale benchmark: the pages people use, on a database of a million cases.

Seeds the database (``jointdesk bench seed``) unless it already holds N cases, then measures
in-process (Flask test client against the real app on that database, rate limiting off):

- public look-up p99 (``GET /api/v1/public/cases/{ref}?code=``), random seeded cases;
- a provider queue's first page and deep pages (keyset cursor) p95, API and staff desk;
- case view p99 (``GET /api/v1/cases/{ref}``);
- the SLA beat job over all open tickets: wall time and peak Python memory (tracemalloc);
- the web process's memory (RSS) over many requests, sampled every 10,000 (shorter runs: tenths);
- EXPLAIN (ANALYZE, BUFFERS) of every statement one request of each page runs, flagging a
  sequential scan of a big table.

Results go to docs/benchmarks/scale.json and docs/benchmarks/scale.md.

    python -m benchmarks.scale                        # PostgreSQL jdbench_scale, 1,000,000 cases
    python -m benchmarks.scale --cases 20000 --requests 20000
    python -m benchmarks.scale --database-url sqlite:////tmp/jd-scale.db --cases 50000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jdbench_scale"
BIG_TABLES = (
    "cases",
    "tickets",
    "steps",
    "permits",
    "suspensions",
    "events",
    "materials",
    "outbox",
)
GOALS = {  # milliseconds (the SLA job: seconds)
    "public_lookup_p99_ms": 10,
    "queue_api_first_p95_ms": 50,
    "queue_api_deep_p95_ms": 50,
    "queue_desk_first_p95_ms": 50,
    "queue_desk_deep_p95_ms": 50,
    "case_view_p99_ms": 20,
    "sla_job_s": 10,
}
PROVIDER = "zz-water"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_database(url: str) -> None:
    """Creates the PostgreSQL database named in ``url`` if it is missing."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    import psycopg

    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
            print(f"created database {parsed.database}")


class Capture:
    """The statements one request runs (a before_cursor_execute listener on each pool: the
    main one and, on PostgreSQL, the autocommit one the API's reads run on)."""

    def __init__(self, *engines):
        from sqlalchemy import event

        self.engines, self.event = [e for e in engines if e is not None], event
        self.statements: list[tuple[str, object]] = []

    def __enter__(self):
        for engine in self.engines:
            self.event.listen(engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        for engine in self.engines:
            self.event.remove(engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def explain(db, statements, postgres: bool) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, in a transaction rolled back after (an
    UPDATE a page makes, such as a token's last use, is measured but not kept)."""
    out = []
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        for statement, params in statements:
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb not in ("SELECT", "UPDATE", "WITH"):
                continue
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            cur.execute(prefix + statement, params)
            rows = cur.fetchall()
            plan = (
                "\n".join(r[0] for r in rows) if postgres else "\n".join(str(r[-1]) for r in rows)
            )
            if postgres:
                seq = re.findall(r"Seq Scan on (\w+)", plan)
            else:
                seq = [
                    m
                    for m in re.findall(r"SCAN (\w+)(?! USING)", plan)
                    if not re.search(rf"SCAN {m} USING", plan)
                ]
            big = sorted({t for t in seq if t in BIG_TABLES})
            out.append(
                {
                    "statement": " ".join(statement.split())[:400],
                    "plan": plan,
                    "seq_scan_big_tables": big,
                }
            )
        raw.rollback()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("JDBENCH_SCALE_URL", DEFAULT_URL))
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100_000, help="for the memory figure")
    parser.add_argument("--samples", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    parser.add_argument("--label", default="", help="added to the output file names")
    # called by another harness (``make bench``), the defaults; from the shell, its arguments
    args = parser.parse_args([] if argv is None else argv)

    postgres = args.database_url.startswith("postgresql")
    if postgres:
        ensure_database(args.database_url)
    os.environ["JOINTDESK_DATABASE_URL"] = args.database_url
    os.environ["JOINTDESK_RATELIMIT_ENABLED"] = "0"
    os.environ["JOINTDESK_SECURE_COOKIES"] = "0"  # the test client speaks plain HTTP
    os.environ.setdefault("JOINTDESK_INSTANCE_PATH", tempfile.mkdtemp(prefix="jointdesk-scale-"))
    os.environ.setdefault("JOINTDESK_LOG_LEVEL", "WARNING")

    import logging

    from flask_migrate import upgrade

    from jointdesk import create_app
    from jointdesk.auth import SESSION_KEY, issue_token, start_session
    from jointdesk.benchdata import BENCH_USER_PREFIX, bench_query_code, seed
    from jointdesk.cases.read import autocommit_engine
    from jointdesk.desk.services import QueueCursor
    from jointdesk.extensions import db
    from jointdesk.models import Case, Provider, Ticket, User
    from jointdesk.seed import load_reference_data
    from jointdesk.sla import check_sla
    from jointdesk.windows.services import query_code_digest

    app = create_app()
    logging.getLogger("jointdesk").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    result: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
        "database": "PostgreSQL" if postgres else "SQLite",
        "goals": GOALS,
    }
    with app.app_context():
        upgrade()
        load_reference_data()
        have = db.session.execute(db.text("SELECT COUNT(*) FROM cases")).scalar()
        if have < args.cases:
            print(f"seeding {args.cases - have:,} cases (the database holds {have:,}) ...")
            counts = seed(args.cases - have, append=bool(have), progress=print)
            result["seed"] = counts
            rate = round((args.cases - have) / max(counts["seconds"], 1e-6))
            result["seed"]["cases_per_s"] = rate
            print(f"seeded in {counts['seconds']:,.1f} s ({rate:,} cases/s)")
        else:
            print(f"reusing {have:,} cases")
        sizes = {
            t: db.session.execute(db.text(f"SELECT COUNT(*) FROM {t}")).scalar()  # noqa: S608
            for t in ("cases", "tickets", "steps", "permits", "events")
        }
        sizes["open_tickets"] = db.session.execute(
            db.text("SELECT COUNT(*) FROM tickets WHERE status IN "
                    "('dispatching', 'queued', 'accepted', 'suspended')")
        ).scalar()  # fmt: skip
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == PROVIDER)
        ).scalar_one()
        sizes["provider_tickets"] = db.session.execute(
            db.select(db.func.count()).select_from(Ticket).where(Ticket.provider_id == provider.id)
        ).scalar()
        result["sizes"] = sizes
        print("sizes:", sizes)
        staff = db.session.execute(
            db.select(User).where(User.username == f"{BENCH_USER_PREFIX}{PROVIDER}")
        ).scalar_one()
        supervisor = db.session.execute(
            db.select(User).where(User.username == f"{BENCH_USER_PREFIX}supervisor")
        ).scalar_one()
        staff_h = {"Authorization": f"Bearer {issue_token(staff)}"}
        super_h = {"Authorization": f"Bearer {issue_token(supervisor)}"}
        sid, staff_id = start_session(staff), staff.id
        db.session.commit()
        rng = random.Random(8)
        max_case = db.session.execute(db.text("SELECT MAX(id) FROM cases")).scalar()
        min_case = db.session.execute(db.text("SELECT MIN(id) FROM cases")).scalar()
        sample_ids = rng.sample(range(min_case, max_case + 1), min(args.samples, max_case))
        sampled = db.session.execute(db.select(Case).where(Case.id.in_(sample_ids))).scalars().all()
        refs = {case.id: case.reference for case in sampled}
        # the codes were stored with the secret key of the instance that seeded; this process's
        # key may be another (another checkout), so the sampled cases get this key's digest
        for case in sampled:
            digest = query_code_digest(case.reference, bench_query_code(case.id))
            if case.query_code_hash != digest:
                case.query_code_hash = digest
        db.session.commit()
        # deep cursors: tickets of the provider from all over its queue (mostly closed ones)
        max_ticket = db.session.execute(db.text("SELECT MAX(id) FROM tickets")).scalar()
        deep = []
        for tid in rng.sample(range(1, max_ticket + 1), min(args.samples * 3, max_ticket)):
            t = db.session.get(Ticket, tid)
            if t is not None and t.provider_id == provider.id and t.status != "dispatching":
                deep.append(QueueCursor.after(t).encode())
            if len(deep) >= args.samples:
                break
        db.session.remove()

    api = app.test_client()
    desk = app.test_client()
    with desk.session_transaction() as s:
        s[SESSION_KEY] = sid  # as the sign-in form leaves it (and Flask-Login's user id)
        s["_user_id"] = str(staff_id)
        s["_fresh"] = True
    references = [(cid, ref) for cid, ref in refs.items()]

    def timed(client, urls, headers=None, expect=200):
        times = []
        for url in urls:
            t0 = time.perf_counter()
            res = client.get(url, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            if res.status_code != expect:
                raise RuntimeError(f"{url}: {res.status_code} {res.get_data(as_text=True)[:300]}")
        return times

    lookups = [
        f"/api/v1/public/cases/{ref}?code={bench_query_code(cid)}" for cid, ref in references
    ]
    views = [f"/api/v1/cases/{ref}" for _cid, ref in references]
    api_first = [f"/api/v1/providers/{PROVIDER}/tickets"] * args.samples
    api_deep = [f"/api/v1/providers/{PROVIDER}/tickets?after={c}" for c in deep]
    desk_first = ["/desk/"] * args.samples
    desk_deep = [f"/desk/?after={c}" for c in deep]
    figures = {}
    for name, client, urls, headers in (
        ("public_lookup", api, lookups, None),
        ("case_view", api, views, super_h),
        ("queue_api_first", api, api_first, staff_h),
        ("queue_api_deep", api, api_deep, staff_h),
        ("queue_desk_first", desk, desk_first, None),
        ("queue_desk_deep", desk, desk_deep, None),
    ):
        timed(client, urls[:20], headers)  # warm up
        times = timed(client, urls, headers)
        figures[name] = {
            "n": len(times),
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "p99_ms": round(percentile(times, 99), 2),
        }
        f = figures[name]
        print(f"{name:<18} median {f['median_ms']:7.2f}  p95 {f['p95_ms']:7.2f}  ", end="")
        print(f"p99 {f['p99_ms']:7.2f} ms")
    result["latency"] = figures
    first_api = api.get(api_first[0], headers=staff_h).get_json()
    result["queue_total"] = first_api["total"]

    # EXPLAIN of every statement of one request of each page
    plans = {}
    with app.app_context():
        for name, client, url, headers in (
            ("public_lookup", api, lookups[0], None),
            ("case_view", api, views[0], super_h),
            ("queue_api_first", api, api_first[0], staff_h),
            ("queue_api_deep", api, api_deep[0], staff_h),
            ("queue_api_status_queued", api, api_first[0] + "?status=queued", staff_h),
            ("queue_api_overdue", api, api_first[0] + "?overdue=true", staff_h),
            ("queue_desk_first", desk, desk_first[0], None),
            ("queue_desk_deep", desk, desk_deep[0], None),
        ):
            with Capture(db.engine, autocommit_engine()) as cap:
                client.get(url, headers=headers)
            plans[name] = explain(db, cap.statements, postgres)
        db.session.remove()
    flagged = {
        name: [p["statement"][:120] for p in ps if p["seq_scan_big_tables"]]
        for name, ps in plans.items()
    }
    result["explain"] = plans
    result["seq_scans_on_big_tables"] = {k: v for k, v in flagged.items() if v}
    print("statements per page:", {k: len(v) for k, v in plans.items()})
    print("seq scans on big tables:", result["seq_scans_on_big_tables"] or "none")

    # the SLA beat job over all open tickets: timed twice as it runs (the first run may mark and
    # announce), then once more under tracemalloc for its peak memory only (tracing slows an
    # allocation-heavy job several times, so that run's time is not the job's)
    sla_runs = []
    with app.app_context():
        for traced in (False, False, True):
            if traced:
                tracemalloc.start()
            t0 = time.perf_counter()
            counts = check_sla()
            seconds = time.perf_counter() - t0
            run = {"seconds": round(seconds, 2), "counts": counts}
            if traced:
                _cur, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                run = {"peak_mb": round(peak / 2**20, 1), "traced_seconds": round(seconds, 2)}
                print(f"check_sla under tracemalloc: peak {peak / 2**20:.1f} MB")
            else:
                print(f"check_sla: {seconds:.2f} s, {counts}")
            sla_runs.append(run)
            db.session.remove()
    result["sla_job"] = sla_runs

    # memory of the process serving many requests (a mix of the pages), RSS every 10,000
    mix = [
        (api, lookups, None),
        (api, views, super_h),
        (api, api_first, staff_h),
        (api, api_deep, staff_h),
        (desk, desk_deep, None),
    ]
    samples = [(0, round(rss_mb(), 1))]
    every = 10_000 if args.requests >= 100_000 else max(1000, args.requests // 10)
    t0 = time.perf_counter()
    for i in range(1, args.requests + 1):
        client, urls, headers = mix[i % len(mix)]
        client.get(urls[(i // len(mix)) % len(urls)], headers=headers)
        if i % every == 0 or i == args.requests:
            samples.append((i, round(rss_mb(), 1)))
            print(f"  {i:,} requests, RSS {samples[-1][1]} MB")
    result["memory"] = {
        "requests": args.requests,
        "seconds": round(time.perf_counter() - t0, 1),
        "sample_every": every,
        "rss_mb_samples": samples,
        "first_mb": samples[1][1] if len(samples) > 1 else samples[0][1],
        "last_mb": samples[-1][1],
    }
    write(result, Path(args.out), args.label)
    return result


def verdict(value: float, goal: float) -> str:
    return "✓" if value <= goal else "✗"


def write(result: dict, out: Path, label: str = "") -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"scale{'-' + label if label else ''}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    lat, sizes, goals = result["latency"], result["sizes"], result["goals"]
    rows = [
        ("public look-up p99", lat["public_lookup"]["p99_ms"], goals["public_lookup_p99_ms"]),
        ("case view p99", lat["case_view"]["p99_ms"], goals["case_view_p99_ms"]),
        ("queue API first page p95", lat["queue_api_first"]["p95_ms"], 50),
        ("queue API deep page p95", lat["queue_api_deep"]["p95_ms"], 50),
        ("queue desk first page p95", lat["queue_desk_first"]["p95_ms"], 50),
        ("queue desk deep page p95", lat["queue_desk_deep"]["p95_ms"], 50),
    ]
    sla = result["sla_job"]
    mem = result["memory"]
    lines = [
        f"# Scale benchmark ({result['database']})",
        "",
        f"{result['date']}, {result['machine']}; in-process (Flask test client), rate limiting "
        "off. `python -m benchmarks.scale`.",
        "",
        f"Data: {sizes['cases']:,} cases, {sizes['tickets']:,} tickets "
        f"({sizes['open_tickets']:,} open), {sizes['steps']:,} steps, {sizes['permits']:,} "
        f"permits, {sizes['events']:,} events; the queue measured ({PROVIDER}) holds "
        f"{sizes['provider_tickets']:,} tickets.",
        "",
        "| figure | measured | goal | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {v:.1f} ms | ≤ {g} ms | {verdict(v, g)} |" for n, v, g in rows]
    lines += [
        f"| SLA job over all open tickets (first run / next run) | {sla[0]['seconds']:.2f} s / "
        f"{sla[1]['seconds']:.2f} s, peak {sla[2]['peak_mb']:.0f} MB (traced apart) | ≤ 10 s | "
        f"{verdict(max(sla[0]['seconds'], sla[1]['seconds']), 10)} |",
        f"| web process RSS over {mem['requests']:,} requests (first / last sample) | "
        f"{mem['first_mb']:.0f} MB / {mem['last_mb']:.0f} MB | flat | "
        f"{'✓' if mem['last_mb'] - mem['first_mb'] < 0.1 * mem['first_mb'] else '✗'} |",
    ]
    if "seed" in result:
        seed = result["seed"]
        lines += ["", f"Seeding took {seed['seconds']:,.0f} s ({seed['cases_per_s']:,} cases/s)."]
    lines += [
        "",
        "Statements per page and their time in the database (the sum of EXPLAIN ANALYZE's "
        "execution times; the rest of a page's time is the app's own work):",
        "",
        "| page | statements | SQL execution |",
        "|---|---|---|",
    ]
    for name, plans in result["explain"].items():
        times = [
            float(m) for p in plans for m in re.findall(r"Execution Time: ([0-9.]+) ms", p["plan"])
        ]
        sql = f"{sum(times):.1f} ms" if times else "n/a (SQLite plans carry no times)"
        lines.append(f"| {name} | {len(plans)} | {sql} |")
    flagged = result["seq_scans_on_big_tables"]
    lines += [
        "",
        "## Every statement of each page, explained",
        "",
        "Sequential scans of a big table: "
        + ("none." if not flagged else json.dumps(flagged, ensure_ascii=False)),
        "",
    ]
    for name, plans in result["explain"].items():
        lines += [f"### {name}", ""]
        for p in plans:
            lines += ["```sql", p["statement"], "```", "```", p["plan"], "```", ""]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")


if __name__ == "__main__":
    main(sys.argv[1:])
