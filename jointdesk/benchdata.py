"""Bench data: ``jointdesk bench seed --cases N`` fills the configured database with a realistic
mix of cases, quickly, for the scale benchmark (``benchmarks/scale.py``).

Cases spread over the two years ending now (ids grow with time, as in production), over every
district and channel, with their tickets routed by the routing table; most old tickets are
closed (connected, a few returned), recent ones are open in every state, and the newest still
wait for their provider's channel (dispatching). Steps, permits, suspensions, materials, audit
events and (done) outbox rows follow the policy's rules (``policy.process``). Every seeded case
has a query code derived from its id (``bench_query_code``), stored as the app's HMAC, so the
public look-up can be benchmarked.

Rows are written by the seeder with ids it assigns: on PostgreSQL with COPY in batches (the
sequences are moved past them afterwards), elsewhere with batched executemany. Due times come
from one working calendar per run: exact for open tickets, and for closed ones from a cache
by the hour the clock started (plausible to within that hour, which no figure depends on).
Nothing here runs in production paths.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import multiprocessing
import os
import queue
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app

from jointdesk.extensions import db
from jointdesk.models import District, Meta, Provider, Route, User
from jointdesk.policy import process as rules
from jointdesk.policy.identity import resident_id_check_char, uscc_check_char
from jointdesk.routing.outbox import DELIVER_TASK
from jointdesk.workingtime import working_calendar

SPAN_DAYS = 730  # two years of cases, ending now
# limits are 1 or 2 working days: most tickets close within days, so only cases younger than
# this may still be open in any state (fewer the older)
RECENT_DAYS = 10
STRAGGLER_DAYS = 180  # and a few younger than this still suspended
DISPATCHING_SECONDS = 600  # cases younger than this still wait for their provider's channel
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
BENCH_USER_PREFIX = "bench-"

COLUMNS = {
    "cases": (
        "id reference query_code_hash channel applicant_kind applicant_name "
        "applicant_id_number applicant_phone district_id address_detail approval_system_code "
        "approval_push_code low_risk external_works pipeline_length_m supporting_fee_paid "
        "excavates_road moves_trees occupies_green_space created_by_id created_at"
    ),
    "materials": (
        "id case_id kind provided note sort_order handed_over_at handed_over_by waived_at "
        "waived_by waive_reason"
    ),
    "tickets": (
        "id case_id service_code provider_id status suspended_from suspend_reason return_reason "
        "representative_id first_contact_at contacts created_at queued_at closed_at due_at "
        "step_due_at due_provisional suspended_at suspended_seconds sla_state version"
    ),
    "steps": "id ticket_id seq name started_at due_at completed_at suspended_seconds "
    "due_provisional working_seconds",
    "permits": "id ticket_id kind status filed_at due_at due_provisional granted_at sla_state",
    "suspensions": "id ticket_id step_seq started_at ended_at reason_code reason",
    "events": "id case_id ticket_id actor_id actor action detail created_at",
    "outbox": (
        "id ticket_id task queue payload created_at published_at attempts next_attempt_at "
        "last_error done_at taken_by taken_at"
    ),
}
# (table and column names are these constants, never input)
# parents first: with FK checks on (SQLite, or a PostgreSQL role that may not turn them off)
TABLES = tuple(COLUMNS)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明")
STREETS = ("花园路", "建设路", "中原路", "大学路", "金水路", "农业路", "紫荆山路", "嵩山路")
RETURN_REASONS = ("地址不在供应范围内", "申请人撤回申请", "重复申请")
OTHER_REASONS = ("等待物业协调", "等待燃气表到货", "小区管网改造中")


SERVICE_COUNTS = (4,) * 15 + (3, 3, 2, 2, 1)  # services per application: ~3.6 on average
CHANNELS = ("window",) * 5 + ("online",) * 2 + ("app",) * 2 + ("approval_system",)
EVENTS_PER_CASE = 32  # id block per case: case_created and at most 5 events per ticket


class SeedRefused(Exception):
    """The database already holds cases and ``append`` was not asked for."""


def bench_query_code(case_id: int) -> str:
    """The known query code of a seeded case: derived from its id, eight digits."""
    return f"{(case_id * 2654435761 + 12345) % 10**8:08d}"


def bench_reference(case_id: int, local_day: str) -> str:
    """``ZZ`` + local date + six characters from the id: the app's format, unique per id."""
    chars = []
    n = case_id
    for _ in range(6):
        n, r = divmod(n, 32)
        chars.append(_REF_ALPHABET[r])
    return "ZZ" + local_day + "".join(reversed(chars))


class _Clock:
    """Due times from one calendar, on naive UTC moments: exact for open tickets, and for
    closed ones cached by the hour the clock started (the minutes are added back)."""

    def __init__(self):
        calendar = working_calendar()
        known: dict = {}
        plain = calendar.is_working_day

        def is_working_day(day):  # the library's answer is slow; one look per date and run
            if day not in known:
                known[day] = plain(day)
            return known[day]

        object.__setattr__(calendar, "is_working_day", is_working_day)
        self.calendar = calendar
        self.day = calendar.day_seconds
        self.cache: dict[tuple[datetime, int], datetime] = {}

    def _add(self, start: datetime, seconds: int) -> datetime:
        due = self.calendar.add_seconds(start.replace(tzinfo=UTC), seconds)
        return due.replace(tzinfo=None)

    def due(self, start: datetime, seconds: int, exact: bool) -> datetime:
        if exact:
            return self._add(start, seconds)
        hour = start.replace(minute=0, second=0, microsecond=0)
        key = (hour, seconds)
        base = self.cache.get(key)
        if base is None:
            base = self.cache[key] = self._add(hour, seconds)
        return base + (start - hour)

    def worked(self, start: datetime, end: datetime) -> int:
        """Working time between two naive UTC moments (a finished step's stored time)."""
        return self.calendar.working_seconds(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))

    def provisional(self, start: datetime, end: datetime) -> bool:
        return self.calendar.provisional_between(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def _bench_users() -> dict:
    """One clerk, supervisor and integration client, and a member of staff per provider (the
    customer representative of its tickets); created once, with one unusable password."""
    from jointdesk.auth import hash_password

    providers = db.session.execute(db.select(Provider).order_by(Provider.id)).scalars().all()
    wanted = [("clerk", "clerk", None), ("supervisor", "supervisor", None)]
    wanted += [("integration", "integration", None)]
    wanted += [(p.code, "staff", p.id) for p in providers]
    password_hash = None
    users = {}
    for name, role, provider_id in wanted:
        username = f"{BENCH_USER_PREFIX}{name}"
        user = db.session.execute(
            db.select(User).where(User.username == username)
        ).scalar_one_or_none()
        if user is None:
            password_hash = password_hash or hash_password(secrets.token_urlsafe(24))
            user = User(
                username=username,
                role=role,
                password_hash=password_hash,
                provider_id=provider_id,
                display_name=f"压测 {name}",
                default_representative=role == "staff",
            )
            db.session.add(user)
            db.session.flush()
        users[name] = user
    db.session.commit()
    return {
        "clerk": (users["clerk"].id, users["clerk"].username),
        "integration": (users["integration"].id, users["integration"].username),
        "staff": {p.id: (users[p.code].id, users[p.code].username) for p in providers},
    }


DROP_INDEXES_FROM = 100_000  # cases; a bigger load builds its secondary indexes afterwards
_DROPPED_KEY = "bench_dropped_indexes"


def _store_on_time(say) -> None:
    """What connecting stores on each ticket (the supervision figures), for the whole load."""
    from jointdesk.sla import store_on_time_all

    say("on time of the connected tickets ...")
    store_on_time_all()
    db.session.commit()


def _drop_secondary_indexes(say) -> list[str]:
    """Drops the indexes of the seeded tables that back no constraint (built again in bulk
    afterwards, much faster than row by row). Their definitions are kept in ``meta`` first, so
    that a load that dies half-way gets them back on the next run (``_restore_indexes``)."""
    rows = db.session.execute(
        db.text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
            "current_schema() AND i.tablename = ANY(:tables) AND NOT EXISTS (SELECT 1 FROM "
            "pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || "
            "quote_ident(i.indexname))::regclass)"
        ),
        {"tables": list(TABLES)},
    ).all()
    db.session.merge(Meta(key=_DROPPED_KEY, value=json.dumps([r.indexdef for r in rows])))
    for row in rows:
        db.session.execute(db.text(f'DROP INDEX "{row.indexname}"'))
    db.session.commit()
    say(f"dropped {len(rows)} secondary indexes for the load")
    return [r.indexdef for r in rows]


def _restore_indexes(say) -> None:
    """Builds the indexes a load dropped (this one, or one that died half-way)."""
    row = db.session.get(Meta, _DROPPED_KEY)
    if row is None:
        return
    definitions = json.loads(row.value)
    say(f"building {len(definitions)} indexes ...")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            conn.exec_driver_sql(
                definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1).replace(
                    "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1
                )
            )
    db.session.delete(db.session.get(Meta, _DROPPED_KEY))
    db.session.commit()


class _Generator:
    """Makes the rows of cases by their index in this run; pure computation, so that parts of
    the run can be made in separate processes. Ids are a function of the index (``base`` +
    a fixed block per case or ticket), so parts never collide; unused ids are gaps."""

    def __init__(self, plan: dict):
        self.__dict__.update(plan)
        self.rows: dict[str, list[tuple]] = {t: [] for t in TABLES}
        self.json_cache: dict = {}

    def dumps(self, key, value) -> str:
        text = self.json_cache.get(key)
        if text is None:
            text = self.json_cache[key] = json.dumps(value, ensure_ascii=False)
        return text

    def take(self) -> dict[str, list[tuple]]:
        rows, self.rows = self.rows, {t: [] for t in TABLES}
        return rows

    def case(self, i: int) -> None:
        rng = random.Random(self.rng_seed * 1_000_003 + i)
        base = self.base
        rows = self.rows
        case_id = base["cases"] + i
        now = self.now
        # evenly spread over the span, oldest first; the last case is created just now
        created = self.first_moment + timedelta(seconds=self.span * (i + rng.random()) / self.n)
        if i == self.n - 1:
            created = now - timedelta(seconds=5)
        age = (now - created).total_seconds()
        reference = bench_reference(case_id, (created + self.local_offset).strftime("%Y%m%d"))
        code_hash = hmac.new(
            self.key, f"{reference}:{bench_query_code(case_id)}".encode(), hashlib.sha256
        ).hexdigest()
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        approval_code = None
        if channel == "approval_system" or rng.random() < 0.1:
            approval_code = f"410100-{case_id:09d}"
        district_id, region = self.districts[rng.randrange(len(self.districts))]
        enterprise = rng.random() < 0.3
        if enterprise:
            first17 = f"91{region}MA{case_id % 10**7:07d}"
            id_number = first17 + uscc_check_char(first17)
            name = f"郑州{SURNAMES[case_id % len(SURNAMES)]}氏实业有限公司"
        else:
            birth = (
                f"{1950 + rng.randrange(50)}{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}"
            )
            first17 = f"{region}{birth}{rng.randrange(1000):03d}"
            id_number = first17 + resident_id_check_char(first17)
            name = SURNAMES[rng.randrange(len(SURNAMES))] + GIVEN[rng.randrange(len(GIVEN))]
        external = rng.random() < 0.3
        length = round(20 + rng.random() * 380, 1) if external else None
        facts = rules.ProjectFacts(
            channel=channel,
            approval_system_code=approval_code,
            external_works=external,
            low_risk=rng.random() < 0.4,
            pipeline_length_m=length,
            supporting_fee_paid=rng.random() < 0.3,
            excavates_road=external and rng.random() < 0.5,
            moves_trees=external and rng.random() < 0.15,
            occupies_green_space=external and rng.random() < 0.15,
        )
        if channel == "window":
            by_id, by_name = self.clerk
        elif channel == "approval_system":
            by_id, by_name = self.integration
        else:
            by_id, by_name = None, "system"
        rows["cases"].append(
            (case_id, reference, code_hash, channel, "enterprise" if enterprise else "person",
             name, id_number, f"1{3 + rng.randrange(7)}{rng.randrange(10**9):09d}", district_id,
             f"{STREETS[rng.randrange(len(STREETS))]} {1 + rng.randrange(300)} 号",
             approval_code, approval_code if channel == "approval_system" else None,
             facts.low_risk, external, length, facts.supporting_fee_paid, facts.excavates_road,
             facts.moves_trees, facts.occupies_green_space, by_id, created)
        )  # fmt: skip
        missing_kinds = []
        for order, kind in enumerate(rules.materials_required(channel, approval_code)):
            missing = rng.random() < 0.05
            handed = created + timedelta(hours=2) if missing and age > 86400 else None
            if missing:
                missing_kinds.append(kind)
            rows["materials"].append(
                (base["materials"] + i, case_id, kind, not missing, "", order, handed,
                 self.first_staff if handed else None, None, None, None)
            )  # fmt: skip
        chosen = sorted(rng.sample(range(4), SERVICE_COUNTS[rng.randrange(len(SERVICE_COUNTS))]))
        services = tuple(rules.SERVICES[j] for j in chosen)
        detail = self.dumps(
            ("case", channel, services, tuple(missing_kinds)),
            {"channel": channel, "services": list(services), "missing_materials": missing_kinds},
        )
        event_id = base["events"] + EVENTS_PER_CASE * i
        rows["events"].append(
            (event_id, case_id, None, by_id, by_name, "case_created", detail, created)
        )
        steps = rules.steps_for(channel, approval_code)
        limits = rules.time_limits(external)
        per_step = round(limits.per_step_days * self.clock.day)
        total = round(limits.total_days * self.clock.day)
        for j in chosen:
            service = rules.SERVICES[j]
            event_id = self.ticket(
                rng, case_id, 4 * i + j, service, self.routes[(service, district_id)], facts,
                steps, per_step, total, created, age, event_id + 1,
            )  # fmt: skip

    def ticket(
        self, rng, case_id, local, service, provider_id, facts, steps, per_step, total, created,
        age, event_id,
    ) -> int:  # fmt: skip
        """One ticket of a case with its steps, permits, suspensions, events and outbox row;
        returns the next free event id of the case."""
        base, now, clock, rows = self.base, self.now, self.clock, self.rows
        tid = base["tickets"] + local
        staff_id, staff_name = self.staff[provider_id]
        created = created + timedelta(milliseconds=rng.randrange(1, 50))
        # the ticket's fate by its age: recent ones may be open, the newest still dispatching
        if age < DISPATCHING_SECONDS:
            status = rules.DISPATCHING
        else:
            if age < RECENT_DAYS * 86400:  # recent: open in any state, fewer the older
                p_open = 0.6 * (1 - age / (RECENT_DAYS * 86400))
                r = rng.random()
                open_status = (
                    rules.QUEUED if r < 0.4 else rules.ACCEPTED if r < 0.75 else rules.SUSPENDED
                )
            else:  # a few stay suspended for months (the applicant's own works are not ready)
                p_open = 0.005 if age < STRAGGLER_DAYS * 86400 else 0
                open_status = rules.SUSPENDED
            if rng.random() < p_open:
                status = open_status
            else:
                status = rules.RETURNED if rng.random() < 0.07 else rules.CONNECTED
        open_ = status not in rules.TERMINAL
        two_steps = rules.STEP_ACCEPT in steps
        if status == rules.ACCEPTED and not two_steps:
            status = rules.QUEUED
        queued_at = (
            None if status == rules.DISPATCHING else created + timedelta(seconds=1 + rng.random())
        )
        remaining = (now - created).total_seconds()
        # moments of accept, suspension, the end; open tickets keep them all before now
        if open_:
            t_accept = created + timedelta(seconds=remaining * (0.1 + 0.4 * rng.random()))
            t_suspend = created + timedelta(seconds=remaining * (0.55 + 0.4 * rng.random()))
            t_end = None
        else:
            t_accept = created + timedelta(seconds=1800 + rng.random() * 6 * 3600)
            t_end = t_accept + timedelta(seconds=3600 + rng.random() * 2 * 86400)
            t_suspend = t_accept + (t_end - t_accept) * 0.3
        suspended_from = None
        if status == rules.SUSPENDED:
            suspended_from = rules.ACCEPTED if two_steps and rng.random() < 0.5 else rules.QUEUED
        accepted = two_steps and (
            status in (rules.ACCEPTED, rules.CONNECTED)
            or suspended_from == rules.ACCEPTED
            or (status == rules.RETURNED and rng.random() < 0.5)
        )
        # suspensions: the open one of a suspended ticket, a finished one on a few closed tickets
        stops = []
        if status == rules.SUSPENDED:
            stops.append((t_suspend, None))
        elif not open_ and rng.random() < 0.04:
            stops.append((t_suspend, t_suspend + (t_end - t_suspend) * 0.5))
        lost = sum(int((e - s).total_seconds() / 3) for s, e in stops if e is not None)
        exact = open_
        due = clock.due(created, total + lost, exact or lost > 0)
        # steps: the first starts at creation; accepting completes it and starts the next
        step_rows = []
        current_due = None
        for seq, name in enumerate(steps):
            started = completed = step_due = None
            if seq == 0:
                started = created
                if len(steps) == 2 and accepted:
                    completed = t_accept
                elif status == rules.CONNECTED:
                    completed = t_end
            elif accepted:
                started = t_accept
                if status == rules.CONNECTED:
                    completed = t_end
            if started is not None:
                extra = lost if completed else 0
                step_due = clock.due(started, per_step + extra, exact or extra > 0)
                if completed is None and current_due is None:
                    current_due = step_due
            # a step that ended (completed, or its ticket closed) carries its working time
            ended = completed or (None if open_ else t_end)
            worked = clock.worked(started, ended) if started and ended else None
            step_rows.append(
                (base["steps"] + 2 * local + seq, tid, seq, name, started, step_due, completed, 0,
                 False, worked)
            )  # fmt: skip
        rows["steps"].extend(step_rows)
        provisional = clock.provisional(created, due) if exact else False
        suspend_row_reason = None
        for start, end in stops:
            code = rules.SUSPENSION_REASONS[rng.randrange(len(rules.SUSPENSION_REASONS))]
            words = (
                OTHER_REASONS[rng.randrange(len(OTHER_REASONS))]
                if code == rules.SUSPEND_OTHER
                else ""
            )
            suspend_row_reason = words
            rows["suspensions"].append(
                (base["suspensions"] + local, tid, 1 if accepted else 0, start, end, code, words)
            )
        # permits of the external works, as the plan says, moved on as far as the ticket got
        for k, (kind, planned) in enumerate(rules.permit_plan(facts, service).items()):
            state, filed, granted, permit_due = planned, None, None, None
            if kind == rules.COMMITMENT_FILING:
                filed = created
            elif planned == rules.PERMIT_REQUIRED and status != rules.DISPATCHING:
                if status == rules.CONNECTED or (open_ and accepted and rng.random() < 0.4):
                    state, filed = rules.PERMIT_GRANTED, t_accept
                    granted = filed + timedelta(seconds=3600 + rng.random() * 3 * 86400)
                    if granted > now:
                        granted = now - timedelta(seconds=60)
                elif accepted and rng.random() < 0.5:
                    state, filed = rules.PERMIT_FILED, t_accept
                if filed is not None:
                    permit_due = clock.due(filed, round(rules.PERMIT_LIMIT_DAYS * clock.day), exact)
            rows["permits"].append(
                (base["permits"] + 5 * local + k, tid, kind, state, filed, permit_due, False,
                 granted, rules.LIGHT_ON_TIME)
            )  # fmt: skip
        closed_at = t_end if not open_ else None
        if open_:
            late = status != rules.DISPATCHING and (
                due < now or (current_due and current_due < now)
            )
            sla_state = rules.LIGHT_OVERDUE if late else rules.LIGHT_ON_TIME
        else:
            sla_state = rules.LIGHT_ON_TIME
        has_rep = status not in (rules.DISPATCHING,) and (accepted or rng.random() < 0.8)
        contacted = accepted or (not two_steps and status in (rules.CONNECTED, rules.SUSPENDED))
        rows["tickets"].append(
            (
                tid,
                case_id,
                service,
                provider_id,
                status,
                suspended_from,
                suspend_row_reason if status == rules.SUSPENDED else None,
                RETURN_REASONS[rng.randrange(len(RETURN_REASONS))]
                if status == rules.RETURNED
                else None,
                staff_id if has_rep else None,
                t_accept - timedelta(minutes=5) if contacted else None,
                1 if contacted else 0,
                created,
                queued_at,
                closed_at,
                due,
                current_due if open_ else None,  # a return clears it too
                provisional,
                t_suspend if status == rules.SUSPENDED else None,
                lost,
                sla_state,
                1 + (1 if queued_at else 0) + (1 if accepted else 0) + (0 if open_ else 1),
            )
        )
        # the audit trail: dispatched, then each action with its actor
        events = []
        if queued_at is not None:
            events.append(("system", None, "dispatched", {"provider": provider_id}, queued_at))
        if accepted:
            events.append(
                (staff_name, staff_id, "accept", {"from": "queued", "to": "accepted"}, t_accept)
            )
        for start, end in stops:
            frm = rules.ACCEPTED if accepted else rules.QUEUED
            events.append(
                (staff_name, staff_id, "suspend", {"from": frm, "to": "suspended"}, start)
            )
            if end is not None:
                events.append(
                    (staff_name, staff_id, "resume", {"from": "suspended", "to": frm}, end)
                )
        if status in rules.TERMINAL:
            frm = rules.ACCEPTED if accepted else rules.QUEUED
            end_action = "connect" if status == rules.CONNECTED else "return"
            events.append((staff_name, staff_id, end_action, {"from": frm, "to": status}, t_end))
        for actor, actor_id, action, detail, at in events:
            key = (action, *detail.values())
            rows["events"].append(
                (event_id, case_id, tid, actor_id, actor, action, self.dumps(key, detail), at)
            )
            event_id += 1
        done = queued_at
        rows["outbox"].append(
            (base["outbox"] + local, tid, DELIVER_TASK, self.queues[provider_id], "{}", created,
             done, 1 if done else 0, None, None, done, None, None)
        )  # fmt: skip
        return event_id


def _copy(pg, batch: dict[str, list[tuple]]) -> None:
    with pg.cursor() as cur:
        for table, rows in batch.items():
            if not rows:
                continue
            # str() of every value: booleans as True/False, moments as ISO text, and None as
            # the NULL marker (no text the seeder writes is "None"); none holds a tab, newline
            # or backslash
            text = "".join("\t".join(map(str, row)) + "\n" for row in rows)
            columns = ", ".join(COLUMNS[table].split())
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (NULL 'None')") as cp:
                cp.write(text)
    pg.commit()


def _part(plan: dict, lo: int, hi: int, batch: int, url: str, report) -> None:
    """One process's share of a PostgreSQL load: cases ``lo`` to ``hi``, a COPY and a commit
    per batch, on its own connection; reports (cases, row counts) per batch."""
    import psycopg

    generator = _Generator(plan)
    with psycopg.connect(url) as pg:
        try:
            # rows are written parent first and consistent; FK triggers would only slow it down
            pg.execute("SET session_replication_role = replica")
            pg.commit()
        except psycopg.Error:
            pg.rollback()
        for start in range(lo, hi, batch):
            end = min(hi, start + batch)
            for i in range(start, end):
                generator.case(i)
            rows = generator.take()
            _copy(pg, rows)
            report.put((end - start, {t: len(r) for t, r in rows.items()}))


def _insert_sqlite(batch: dict[str, list[tuple]]) -> None:
    raw = db.session.connection().connection.driver_connection
    for table, rows in batch.items():
        if not rows:
            continue
        cols = COLUMNS[table].split()
        marks = ", ".join("?" for _ in cols)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608
        raw.executemany(
            sql,
            [
                [v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in r]
                for r in rows
            ],
        )
    db.session.commit()


def seed(
    cases: int,
    *,
    append: bool = False,
    batch: int = 5000,
    jobs: int | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    rng_seed: int = 8,
    drop_indexes: bool | None = None,
    span_days: int = SPAN_DAYS,
) -> dict:
    """Writes ``cases`` cases with everything that belongs to them; returns row counts and the
    seconds taken. Refuses (SeedRefused) when cases exist and ``append`` is false. On
    PostgreSQL ``jobs`` processes (default: one per core) make and COPY parts of the run."""
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        _restore_indexes(say)  # left behind by a load that died half-way
    existing = db.session.execute(db.text("SELECT COUNT(*) FROM cases")).scalar()
    if existing and not append:
        raise SeedRefused(
            f"the database already holds {existing:,} cases; use --append to add more"
        )
    districts = db.session.execute(db.select(District).order_by(District.id)).scalars().all()
    routes = {
        (r.service_code, r.district_id): r.provider_id
        for r in db.session.execute(db.select(Route)).scalars()
    }
    if not districts or not routes:
        raise SeedRefused("no reference data: run `jointdesk init` first")
    providers = db.session.execute(db.select(Provider)).scalars().all()
    users = _bench_users()
    from zoneinfo import ZoneInfo

    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)  # naive UTC below
    connection = db.session.connection()
    base = {}
    for table in TABLES:
        sql = f"SELECT COALESCE(MAX(id), 0) FROM {table}"  # noqa: S608
        base[table] = connection.exec_driver_sql(sql).scalar() + 1
    db.session.commit()
    plan = {
        "n": cases,
        "now": now,
        "span": timedelta(days=span_days).total_seconds(),
        "first_moment": now - timedelta(days=span_days),
        "local_offset": ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"]).utcoffset(now),
        "key": current_app.config["SECRET_KEY"].encode(),
        "clock": _Clock(),
        "base": base,
        "rng_seed": rng_seed + existing,
        "districts": [(d.id, d.division_code or "410100") for d in districts],
        "routes": routes,
        "queues": {p.id: p.queue_name for p in providers},
        "staff": users["staff"],
        "first_staff": next(iter(users["staff"].values()))[1],
        "clerk": users["clerk"],
        "integration": users["integration"],
    }
    counts = dict.fromkeys(TABLES, 0)
    done = 0

    def tally(n: int, rows: dict[str, int]) -> None:
        nonlocal done
        done += n
        for table, count in rows.items():
            counts[table] += count
        elapsed = time.monotonic() - started
        say(
            f"{done:,} / {cases:,} cases, {counts['tickets']:,} tickets "
            f"({elapsed:,.1f} s, {done / max(elapsed, 1e-6):,.0f} cases/s)"
        )

    if postgres:
        if cases >= DROP_INDEXES_FROM if drop_indexes is None else drop_indexes:
            _drop_secondary_indexes(say)
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        jobs = max(1, min(jobs or os.cpu_count() or 1, cases // batch + 1))
        db.session.remove()
        db.engine.dispose()  # no pooled connection crosses the fork
        context = multiprocessing.get_context("fork")
        report = context.Queue()
        bounds = [cases * k // jobs for k in range(jobs + 1)]
        workers = [
            context.Process(target=_part, args=(plan, lo, hi, batch, url, report))
            for lo, hi in itertools.pairwise(bounds)
        ]
        for worker in workers:
            worker.start()
        while done < cases:
            try:
                tally(*report.get(timeout=5))
            except queue.Empty:
                if any(w.exitcode not in (None, 0) for w in workers):
                    for worker in workers:
                        worker.kill()
                    raise RuntimeError("a seeding process failed; see its error above") from None
        for worker in workers:
            worker.join()
        connection = db.session.connection()
        for table in TABLES:
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            sql = f"SELECT setval({sequence}, (SELECT MAX(id) FROM {table}))"  # noqa: S608
            connection.exec_driver_sql(sql)
        db.session.commit()
        # before the secondary indexes come back, so that the UPDATE touches no index of
        # theirs; statistics first, else it joins row by row
        db.session.execute(db.text("ANALYZE tickets, steps, cases"))
        _store_on_time(say)
        _restore_indexes(say)
    else:
        generator = _Generator(plan)
        for start in range(0, cases, batch):
            end = min(cases, start + batch)
            for i in range(start, end):
                generator.case(i)
            rows = generator.take()
            _insert_sqlite(rows)
            tally(end - start, {t: len(r) for t, r in rows.items()})
    from jointdesk.desk.services import refresh_closed_counts

    if not postgres:
        _store_on_time(say)
    refresh_closed_counts()  # seeded tickets were closed in the past: count them now
    say("ANALYZE ...")
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {**counts, "seconds": round(time.monotonic() - started, 1)}
