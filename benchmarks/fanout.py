"""Fan-out benchmark: intake latency and time until every ticket is in its provider queue.

Runs against whatever the settings name (default: the embedded SQLite and filesystem broker;
set JOINTDESK_DATABASE_URL and JOINTDESK_BROKER_URL for PostgreSQL and Redis). Starts real
Celery worker processes, submits N four-service applications at a steady rate through the
real API (in-process WSGI client), and prints median and p99 of both latencies. A quick look
at the fan-out path without a web server; ``make bench`` (``python -m benchmarks``) measures
over HTTP beside the floor.

    python -m benchmarks.fanout
    python -m benchmarks.fanout --count 200 --rate 20 --concurrency 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20, help="applications per second")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    args = parser.parse_args()

    if "JOINTDESK_INSTANCE_PATH" not in os.environ:
        os.environ["JOINTDESK_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="jointdesk-bench-")
    os.environ.setdefault("JOINTDESK_RATELIMIT_ENABLED", "0")

    from flask_migrate import upgrade

    from jointdesk import create_app
    from jointdesk.auth import issue_token
    from jointdesk.extensions import db
    from jointdesk.models import Ticket, User
    from jointdesk.seed import create_user, demo_resident_id, load_reference_data

    app = create_app()
    with app.app_context():
        upgrade()
        load_reference_data()
        clerk = db.session.execute(
            db.select(User).where(User.username == "bench-clerk")
        ).scalar_one_or_none()
        if clerk is None:
            clerk = create_user("bench-clerk", "clerk", "bench-password-not-used")
        headers = {"Authorization": f"Bearer {issue_token(clerk)}"}
        db.session.commit()

    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app:celery",
            "worker",
            "-Q",
            "jointdesk",
            "-c",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    time.sleep(6)  # let it start and pick up the provider queues
    client = app.test_client()
    body = {
        "applicant": {
            "kind": "person",
            "name": "测试",
            "id_number": demo_resident_id("410105", "19900101", 1),
            "phone": "13800000000",
        },
        "address": {"district": "金水区", "detail": "花园路 1 号"},
        "services": ["water", "electricity", "gas", "heat"],
        "project": {"external_works": False},
        "materials": [{"kind": "application_form", "provided": True}],
    }
    intake_ms: list[float] = []
    pending: dict[str, float] = {}
    fanout_ms: list[float] = []
    interval = 1 / args.rate
    try:
        with app.app_context():
            next_at = time.perf_counter()
            for _ in range(args.count):
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
                t0 = time.perf_counter()
                res = client.post("/api/v1/cases", json=body, headers=headers)
                assert res.status_code == 201, res.get_json()
                intake_ms.append((time.perf_counter() - t0) * 1000)
                pending[res.get_json()["reference"]] = t0
                _collect(db, Ticket, pending, fanout_ms)
            deadline = time.perf_counter() + 30
            while pending and time.perf_counter() < deadline:
                _collect(db, Ticket, pending, fanout_ms)
                time.sleep(0.005)
    finally:
        worker.terminate()
        worker.wait(20)
    print(
        f"broker: {app.config['JOINTDESK_BROKER_URL'].split('://')[0]}, "
        f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, "
        f"{args.count} applications at {args.rate}/s, worker concurrency {args.concurrency}"
    )
    print(
        f"intake (POST /api/v1/cases): median {statistics.median(intake_ms):.1f} ms, "
        f"p99 {percentile(intake_ms, 99):.1f} ms"
    )
    if fanout_ms:
        print(
            f"fan-out (case stored → 4th ticket queued): "
            f"median {statistics.median(fanout_ms):.1f} ms, "
            f"p99 {percentile(fanout_ms, 99):.1f} ms"
        )
    print(f"not fanned out within 30 s: {len(pending)}")


def _collect(db, ticket_model, pending: dict[str, float], out: list[float]) -> None:
    """Fan-out time from the server's own clocks: case created_at → last ticket queued_at."""
    from jointdesk.models import Case

    if not pending:
        return
    db.session.rollback()
    rows = db.session.execute(
        db.select(
            Case.reference,
            Case.created_at,
            db.func.max(ticket_model.queued_at),
            db.func.count(ticket_model.queued_at),
        )
        .join(ticket_model, ticket_model.case_id == Case.id)
        .where(Case.reference.in_(list(pending)))
        .group_by(Case.reference, Case.created_at)
    ).all()
    for reference, created, last_queued, n_queued in rows:
        if n_queued == 4:
            pending.pop(reference)
            out.append((_aware(last_queued) - _aware(created)).total_seconds() * 1000)


def _aware(value):
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


if __name__ == "__main__":
    main()
