"""The transactional outbox and its relay.

Intake writes one outbox row per ticket in the same transaction as the case. Right after the
commit the rows are published to the providers' Celery queues, so fan-out takes milliseconds.
A row stays open until the delivery task has done its work, so the relay (run by beat) publishes
again whatever the broker or a worker lost: while the broker is down, after a worker was killed
mid-task, after Redis restarted empty. Delivery is idempotent, so a duplicate costs nothing.

How long the relay waits depends on what is known about a row:
- never published (the broker refused it at intake): at the relay's next run;
- taken by a worker (its delivery task started and has run ``TAKE_AFTER_SECONDS``,
  ``taken_by``) that is known dead (stopped, or no heartbeat for three intervals): at once;
- published but never taken: after ``JOINTDESK_OUTBOX_UNTAKEN_SECONDS`` (the message may have
  been lost with a killed worker's prefetched messages or an emptied Redis, or the web process
  died between intake's commit and its publication), doubling per publication;
- taken by a worker that is alive: after ``JOINTDESK_OUTBOX_REDELIVER_SECONDS``, doubling.
A copy published while the first is still on its way makes no duplicate work: the delivery is
a conditional UPDATE, and a copy of a row already done returns at once.

On PostgreSQL a worker records its take only for a delivery still running after
``TAKE_AFTER_SECONDS`` (a thread of the worker process writes it, on the autocommit pool, while
the delivery goes on; see ``_LateTakes``): a delivery takes milliseconds and commits long before,
and its take would have cost a committed write and a round trip of its own, before the work,
on every delivery. What the relay knows about a delivery that hangs or whose worker dies is the
same; one whose worker dies, or that fails, within its first ``TAKE_AFTER_SECONDS`` waits like
an untaken row (``JOINTDESK_OUTBOX_UNTAKEN_SECONDS``, not ``..._REDELIVER_SECONDS``).
Elsewhere (SQLite: one process, no network) the take is written before the work.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
from datetime import timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    DateTime,
    and_,
    bindparam,
    case,
    cast,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import joinedload

from jointdesk import audit, domain_events, heartbeat
from jointdesk.cases.read import autocommit_engine
from jointdesk.domain_events import DomainEvent
from jointdesk.extensions import db
from jointdesk.models import Case, Event, OutboxMessage, Provider, Step, Ticket, User
from jointdesk.models.types import utcnow
from jointdesk.policy.process import (
    DISPATCHING,
    OPEN,
    QUEUED,
    STEP_ACCEPT,
    proactive_contact,
)
from jointdesk.prebuilt import first_row, insert_rows

DELIVER_TASK = "jointdesk.deliver_ticket"
FIRST_CONTACT_NOTICE = "first_contact_due"
MAX_BACKOFF_SECONDS = 3600
# a delivery still running after this long has its take recorded (PostgreSQL; see _LateTakes)
TAKE_AFTER_SECONDS = 0.05
log = logging.getLogger(__name__)


def add_deliveries(tickets: list[tuple[int, str]], now) -> list[tuple[int, str]]:
    """Queues the hand-over of new tickets, given as (ticket id, provider queue), in the
    caller's transaction with one multi-row INSERT; returns the rows as (id, queue).

    The rows are written as published at ``now``, since ``publish_fresh`` publishes them right
    after the commit: the fast path then costs no second write. Should the process die between
    the commit and the publication, the relay publishes them once the untaken wait is over."""
    wait = timedelta(seconds=current_app.config["JOINTDESK_OUTBOX_UNTAKEN_SECONDS"])
    rows = insert_rows(  # on the driver's cursor, see jointdesk.prebuilt
        db.session.connection(),
        _OUTBOX,
        [
            {
                "ticket_id": tid,
                "task": DELIVER_TASK,
                "queue": queue,
                "payload": {},
                "created_at": now,
                "published_at": now,
                "attempts": 1,
                "next_attempt_at": now + wait,
            }
            for tid, queue in tickets
        ],
        returning=("id", "ticket_id"),
        key="ticket_id",  # one row per ticket
    )
    return [(row["id"], queue) for row, (_tid, queue) in zip(rows, tickets, strict=True)]


def publish_fresh(messages: list[tuple[int, str]], task: str = DELIVER_TASK) -> int:
    """Publishes the rows ``add_deliveries`` wrote, once committed; returns how many went out.
    On Redis the messages go out together, in one pipelined round trip (kombu's producer
    batch); other transports publish them one by one. When the broker refuses, the rows not
    known to be out (with a batch: all of them) are written back as never published, with the
    error, for the relay's next run (like a failed ``_publish_rows``); a copy published twice
    costs nothing (see the module's docstring)."""
    celery = current_app.extensions["celery"]
    sent = 0
    batched = False
    try:
        with celery.producer_or_acquire() as producer:
            batched = producer.supports_batch_publish
            with producer.batch():
                for message_id, queue in messages:
                    # declare=(): the queue exists once its workers started, and a message to
                    # one not declared yet waits all the same (its key or folder is the queue)
                    celery.send_task(
                        task,
                        args=[message_id],
                        queue=queue,
                        retry=False,
                        producer=producer,
                        declare=(),
                        # the arguments as logs show them, given (Celery would build a
                        # guarded repr of a one-number list for each message)
                        argsrepr=f"[{message_id}]",
                        kwargsrepr="{}",
                    )
                    sent += 1
    except Exception as exc:  # broker down or unreachable: the relay will try again
        n = 0 if batched else sent
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning(
            "outbox %s not published (%s); the relay will retry",
            ", ".join(str(mid) for mid, _queue in messages[n:]),
            error,
        )
        db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_([mid for mid, _queue in messages[n:]]),
                OutboxMessage.done_at.is_(None),
                OutboxMessage.taken_by.is_(None),
            )
            .values(
                published_at=None,
                attempts=0,
                next_attempt_at=utcnow(),
                last_error=error,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return n
    return len(messages)


def _send(msg: OutboxMessage) -> None:
    celery = current_app.extensions["celery"]
    celery.send_task(msg.task, args=[msg.id], queue=msg.queue, retry=False)


def _backoff(msg: OutboxMessage, setting: str) -> timedelta:
    """Wait before the relay looks at a row again: the setting's time, doubling per
    publication, at most an hour, so a provider whose workers are away is not flooded."""
    return _wait(current_app.config[setting], msg.attempts)


def _wait(base: float, attempts: int) -> timedelta:
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def _publish_rows(rows: list[OutboxMessage]) -> int:
    sent = 0
    now = utcnow()
    broker_down = False
    for msg in rows:
        if broker_down:
            break
        try:
            _send(msg)
        except Exception as exc:  # broker down or unreachable: the relay will try again
            msg.last_error = f"{type(exc).__name__}: {exc}"[:500]
            msg.next_attempt_at = now  # due at the relay's next run
            log.warning(
                "outbox %s not published (%s); the relay will retry", msg.id, msg.last_error
            )
            broker_down = True  # one failure means the broker is away: leave the rest too
            continue
        msg.attempts += 1  # publications: a failed publish does not lengthen the next wait
        msg.published_at = now
        msg.taken_by = msg.taken_at = None
        msg.next_attempt_at = now + _backoff(msg, "JOINTDESK_OUTBOX_UNTAKEN_SECONDS")
        msg.last_error = None
        sent += 1
    db.session.commit()
    return sent


def relay(limit: int = 500) -> int:
    """Publishes every open row that is due: never published, taken by a worker known dead, or
    not confirmed after its wait (see the module docstring). Never-published rows go first."""
    now = utcnow()
    query = (
        db.select(OutboxMessage)
        .where(
            OutboxMessage.done_at.is_(None),
            or_(
                OutboxMessage.next_attempt_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                and_(
                    OutboxMessage.taken_by.is_not(None),
                    OutboxMessage.taken_by.not_in(heartbeat.alive_ids(now)),
                ),
            ),
        )
        .order_by(OutboxMessage.published_at.is_not(None), OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due = list(db.session.execute(query).scalars())
    if not due:
        db.session.commit()
        return 0
    return _publish_rows(due)


class Delivery(NamedTuple):
    """What a delivery needs of its outbox row: the ticket, the queue, the provider's channel."""

    id: int
    ticket_id: int | None
    queue: str
    channel: str | None


# The delivery's statements, built once per process (Core tables and bound parameters: no
# statement construction nor ORM bookkeeping per task, the same SQL text every time so that
# the database keeps them prepared).
_OUTBOX = OutboxMessage.__table__
_TICKETS = Ticket.__table__
_WAITS = 16  # the take's backoff steps; from there on it is the cap (see take)


def _subquery(sql: str, name: str):
    """A correlated subquery for a RETURNING clause, written as SQL from the models' table
    names and constants, never input (the same on PostgreSQL and SQLite): SQLAlchemy's SQLite
    compiler drops every table name inside RETURNING, subqueries included, which would make
    their columns ambiguous."""
    return literal_column(f"({sql})").label(name)


def _row_columns():
    channel = _subquery(  # the ticket's provider's channel, read with the row
        f"SELECT p.channel FROM {Provider.__tablename__} p JOIN {_TICKETS.name} t"  # noqa: S608 (table names)
        f" ON t.provider_id = p.id WHERE t.id = {_OUTBOX.name}.ticket_id",
        "channel",
    )
    return _OUTBOX.c.id, _OUTBOX.c.ticket_id, _OUTBOX.c.queue, channel


@functools.cache
def _take_statement():
    # the moments bound as naive UTC, as stored: the caller gives them so (eighteen of them;
    # UTCDateTime's conversion of each would cost more than the rest of the parameters)
    stamp = DateTime()
    waits = {n: bindparam(f"w{n}", type_=stamp) for n in range(_WAITS)}
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == bindparam("message_id"), _OUTBOX.c.done_at.is_(None))
        .values(
            taken_by=bindparam("worker_id"),
            taken_at=bindparam("now", type_=stamp),
            next_attempt_at=case(
                waits, value=_OUTBOX.c.attempts, else_=bindparam("cap", type_=stamp)
            ),
        )
        .returning(*_row_columns())
    )


@functools.cache
def _take_waits(base: float) -> tuple[tuple[str, timedelta], ...]:
    """The take's backoff steps for a redelivery wait of ``base`` seconds, by parameter name."""
    steps = [(f"w{n}", _wait(base, n)) for n in range(_WAITS)]
    return (*steps, ("cap", timedelta(seconds=MAX_BACKOFF_SECONDS)))


@functools.cache
def _open_row_statement():
    return select(*_row_columns()).where(
        _OUTBOX.c.id == bindparam("message_id"), _OUTBOX.c.done_at.is_(None)
    )


@functools.cache
def _done_statement():
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == bindparam("message_id"), _OUTBOX.c.done_at.is_(None))
        .values(done_at=bindparam("now", type_=_OUTBOX.c.done_at.type))
    )


@functools.cache
def _held_statement():
    """The conditional UPDATE that moves a ticket ``dispatching`` → ``queued`` (the idempotency
    guard: only one delivery moves it), returning what the audit and domain events need."""
    t = _TICKETS
    provider_code = _subquery(
        f"SELECT p.code FROM {Provider.__tablename__} p WHERE p.id = {t.name}.provider_id",  # noqa: S608 (table names)
        "provider_code",
    )
    case_channel = _subquery(
        f"SELECT c.channel FROM {Case.__tablename__} c WHERE c.id = {t.name}.case_id",  # noqa: S608 (table names)
        "case_channel",
    )
    has_accept = _subquery(  # whether the ticket has a 受理 step, which decides proactive_contact
        f"SELECT COUNT(*) FROM {Step.__tablename__} s"  # noqa: S608 (table names)
        f" WHERE s.ticket_id = {t.name}.id AND s.name = '{STEP_ACCEPT}'",
        "has_accept",
    )
    return (
        update(t)
        .where(t.c.id == bindparam("ticket_id"), t.c.status == literal_column(f"'{DISPATCHING}'"))
        .values(
            status=literal_column(f"'{QUEUED}'"),
            queued_at=bindparam("now", type_=t.c.queued_at.type),
            version=t.c.version + 1,
        )
        .returning(
            t.c.case_id,
            t.c.provider_id,
            t.c.representative_id,
            provider_code,
            case_channel,
            has_accept,
        )
    )


def _take_params(message_id: int, worker_id: str) -> dict:
    """The take's values: this worker, now, and the relay's next look at the row, doubling per
    publication (``_backoff``), chosen by the row's publication count in the statement itself;
    at most an hour."""
    now = utcnow().replace(tzinfo=None)  # naive UTC, as the statement binds it
    params = {"message_id": message_id, "worker_id": worker_id, "now": now}
    for name, wait in _take_waits(current_app.config["JOINTDESK_OUTBOX_REDELIVER_SECONDS"]):
        params[name] = now + wait
    return params


def take(message_id: int, worker_id: str) -> Delivery | None:
    """Records, committed at once, that this worker process started on the row, and reads what
    the delivery needs, in one statement outside any transaction (autocommit: no BEGIN, no
    COMMIT round trip): if the worker dies before the delivery commits, the relay republishes
    the row at once. None when the row is done or unknown."""
    params = _take_params(message_id, worker_id)
    engine = autocommit_engine()
    if engine is not None and not db.session().in_transaction():
        # PostgreSQL: a connection of the pool that stays in autocommit (no isolation switch
        # there and back on a connection of the main pool)
        with engine.connect() as connection:
            row = first_row(connection, _take_statement(), params)
        return None if row is None else Delivery(**row)
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    row = first_row(db.session.connection(), _take_statement(), params)
    db.session.commit()  # in autocommit: no round trip; it hands the connection back
    return None if row is None else Delivery(**row)


class _LateTakes:
    """Takes recorded only for deliveries that outlast ``TAKE_AFTER_SECONDS``, by one thread of
    the worker process, on the autocommit pool, while the delivery goes on (see the module's
    docstring). The thread sleeps until the earliest running delivery is due, or, while none
    runs, until one starts. A take written just after its delivery committed changes nothing
    (the take's UPDATE skips a row that is done); one written after a delivery that failed
    says, as a take before the work would have, that a live worker had it."""

    def __init__(self) -> None:
        self._pid: int | None = None

    def _fresh(self) -> None:
        """State and thread of this process (a forked pool process starts its own)."""
        self._changed = threading.Condition(threading.Lock())
        # key -> (when its take is due, engine, the take's values)
        self._running: dict[int, tuple[float, object, dict]] = {}
        self._keys = itertools.count()
        self._wakes_at = float("inf")  # when the thread looks next (inf: when told)
        threading.Thread(target=self._loop, name="jointdesk-late-takes", daemon=True).start()
        self._pid = os.getpid()

    def started(self, engine, params: dict) -> int:
        if self._pid != os.getpid():
            with _LATE_TAKES_START:  # one thread per process, also under a threads pool
                if self._pid != os.getpid():
                    self._fresh()
        due = time.monotonic() + TAKE_AFTER_SECONDS
        with self._changed:
            key = next(self._keys)
            self._running[key] = (due, engine, params)
            if due < self._wakes_at:  # the thread is idle (or looks later): tell it
                self._changed.notify()
        return key

    def finished(self, key: int) -> None:
        with self._changed:
            self._running.pop(key, None)

    def _due(self) -> list[tuple[float, object, dict]]:
        """Waits until some running delivery's take is due; takes those out."""
        with self._changed:
            while True:
                now = time.monotonic()
                first = min((due for due, _e, _p in self._running.values()), default=None)
                if first is not None and first <= now:
                    break
                self._wakes_at = float("inf") if first is None else first
                self._changed.wait(None if first is None else first - now)
            self._wakes_at = 0.0  # looking now: a delivery starting meanwhile need not tell
            due = [k for k, (at, _e, _p) in self._running.items() if at <= now]
            return [self._running.pop(k) for k in due]

    def _loop(self) -> None:
        while True:
            for _due, engine, params in self._due():
                try:
                    with engine.connect() as connection:
                        first_row(connection, _take_statement(), params)
                except Exception as exc:  # the delivery goes on; only the relay knows less
                    log.warning(
                        "outbox %s: the take was not recorded (%s)", params["message_id"], exc
                    )


_LATE_TAKES_START = threading.Lock()
_late_takes = _LateTakes()


def choose_representative(provider_id: int) -> User | None:
    """Who carries a ticket nobody has taken on: the provider's default representative, else
    the active staff member carrying the fewest open tickets (then the longest-standing);
    None when the provider has no active staff."""
    open_load = (
        db.select(db.func.count(Ticket.id))
        .where(Ticket.representative_id == User.id, Ticket.status.in_(OPEN))
        .correlate(User)
        .scalar_subquery()
    )
    return db.session.execute(
        db.select(User)
        .where(User.provider_id == provider_id, User.role == "staff", User.active)
        .order_by(User.default_representative.desc(), open_load, User.id)
        .limit(1)
    ).scalar_one_or_none()


def _first_representative(ticket_id: int, provider_id: int) -> User | None:
    """客户代表全程负责: a ticket that nobody accepts (one step, 企业主动对接) gets its customer
    representative the moment it reaches the provider: the provider's default representative,
    else the active staff member carrying the fewest open tickets (then the longest-standing).
    A two-step ticket gets the staff member who accepts it. None: the provider has no staff."""
    rep = choose_representative(provider_id)
    if rep is not None:  # beside the version-checked UPDATE above, in the same transaction
        db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.representative_id.is_(None))
            .values(representative_id=rep.id)
            .execution_options(synchronize_session=False)
        )
        _ask_first_contact(rep, ticket_id)
    return rep


def _ask_first_contact(rep: User, ticket_id: int) -> None:
    """企业主动对接: the representative is told at once (one notification, in the delivery's
    transaction) that the applicant waits for the provider's first contact, to be recorded
    with the ``contact`` action; connecting waits for it."""
    from jointdesk.labels import service_label
    from jointdesk.notify import notifier

    ticket = db.session.execute(
        db.select(Ticket).options(joinedload(Ticket.case)).where(Ticket.id == ticket_id)
    ).scalar_one()
    message = _(
        "Case %(reference)s, %(service)s: a project in the approval system, with you as its "
        "customer representative; contact the applicant and record the first contact.",
        reference=ticket.case.reference,
        service=str(service_label(ticket.service_code)),
    )
    notifier().send(rep, FIRST_CONTACT_NOTICE, message, ticket)


def deliver(message_id: int, worker_id: str | None = None) -> str:
    """Hands a ticket to its provider's channel (``routing.channels``: the desk, or the
    provider's own system). Idempotent: safe to run twice or after a crash. ``worker_id`` (a
    worker's heartbeat id) has the worker's take of the row recorded (see the module's
    docstring); then one transaction hands the ticket over and marks the row done."""
    engine = autocommit_engine() if worker_id else None
    if engine is None:
        return _deliver(message_id, worker_id)
    late = _late_takes.started(engine, _take_params(message_id, worker_id))
    try:
        return _deliver(message_id, None)
    finally:
        _late_takes.finished(late)


def _deliver(message_id: int, worker_id: str | None) -> str:
    from jointdesk.routing import channels

    if worker_id:  # the take before the work (no autocommit pool: SQLite)
        taken = take(message_id, worker_id)
        row = None if taken is None else taken._asdict()
    else:
        row = first_row(db.session.connection(), _read_statement(), {"message_id": message_id})
    if row is None:
        db.session.rollback()
        return "already-done"
    delay = current_app.config.get("JOINTDESK_FAULT_DELIVERY_DELAY") or 0
    if delay:
        time.sleep(delay)  # fault injection: the crash tests kill the worker here
    now = utcnow()
    channel = channels.channel_for(row["channel"])
    if channel.hand_over_at_once(row, now):
        db.session.commit()
        return "delivered"
    delivery = Delivery(row["id"], row["ticket_id"], row["queue"], row["channel"])
    result = channel.hand_over(delivery, now)
    first_row(db.session.connection(), _done_statement(), {"message_id": message_id, "now": now})
    db.session.commit()
    return result


def _first_representative_due(representative_id: int | None, has_accept) -> bool:
    """Whether the ticket gets its customer representative the moment it reaches the provider
    (企业主动对接: no 受理 step, nobody carrying it yet)."""
    steps = (STEP_ACCEPT,) if has_accept else ()  # all the rule looks at
    return representative_id is None and proactive_contact(steps)


@functools.cache
def _read_statement():
    """The open row, with what the desk's hand-over in one statement needs
    (``hold_at_once``): the ticket's status, case, representative and whether it has a 受理
    step, the provider's code and channel, and the case's channel. No row when the row is
    done or unknown."""
    o, t = _OUTBOX, _TICKETS
    p, c = Provider.__table__, Case.__table__
    has_accept = (
        select(db.func.count())
        .select_from(Step.__table__)
        .where(Step.__table__.c.ticket_id == t.c.id, Step.__table__.c.name == STEP_ACCEPT)
        .scalar_subquery()
        .label("has_accept")
    )
    return (
        select(
            o.c.id,
            o.c.ticket_id,
            o.c.queue,
            p.c.channel,
            t.c.status,
            t.c.case_id,
            t.c.representative_id,
            p.c.code.label("provider_code"),
            c.c.channel.label("case_channel"),
            has_accept,
        )
        .select_from(
            o.outerjoin(t, t.c.id == o.c.ticket_id)
            .outerjoin(p, p.c.id == t.c.provider_id)
            .outerjoin(c, c.c.id == t.c.case_id)
        )
        .where(o.c.id == bindparam("message_id"), o.c.done_at.is_(None))
    )


@functools.cache
def _hold_statement():
    """The desk's hand-over as one statement (PostgreSQL: data-modifying CTEs): the ticket's
    guarded move ``dispatching`` → ``queued`` (only while its representative is still the one
    read), its ``dispatched`` audit event, and the row done, the last two only if the ticket
    moved. Returns the moved ticket's id; no row when it had changed since it was read."""
    t, o = _TICKETS, _OUTBOX
    now = bindparam("now", type_=t.c.queued_at.type)
    moved = (
        update(t)
        .where(
            t.c.id == bindparam("ticket_id"),
            t.c.status == literal_column(f"'{DISPATCHING}'"),
            t.c.representative_id.is_not_distinct_from(bindparam("representative_id")),
        )
        .values(status=literal_column(f"'{QUEUED}'"), queued_at=now, version=t.c.version + 1)
        .returning(t.c.id, t.c.case_id)
        .cte("moved")
    )
    event = audit.insert_from(
        "dispatched",
        moved.c.case_id,
        moved.c.id,
        cast(bindparam("detail", type_=Event.__table__.c.detail.type), JSON),
        now,
    ).cte("event")
    done = (
        update(o)
        .where(
            o.c.id == bindparam("message_id"), o.c.done_at.is_(None), select(moved.c.id).exists()
        )
        .values(done_at=now)
        .cte("done")
    )
    return select(moved.c.id).add_cte(event, done)


def hold_at_once(row: dict, now) -> bool:
    """The desk holds the ticket (``mark_held``'s work) in one statement, and the outbox row is
    done, for the usual case: PostgreSQL, a ticket on its way with no first representative to
    choose. False, with nothing written, otherwise or when the ticket changed since ``row``
    was read (``deliver``'s read, through the channel): the long way then decides."""
    if row.get("status") != DISPATCHING or _first_representative_due(
        row["representative_id"], row["has_accept"]
    ):
        return False
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return False
    detail = _dispatched_detail(row["provider_code"], row["queue"])
    params = {
        "ticket_id": row["ticket_id"],
        "representative_id": row["representative_id"],
        "message_id": row["id"],
        "detail": detail,
        "now": now,
    }
    if first_row(connection, _hold_statement(), params) is None:
        return False
    _dispatched(row["case_id"], row["ticket_id"], detail, row["case_channel"], now)
    return True


def _dispatched_detail(provider_code: str, queue: str, extra: dict | None = None) -> dict:
    """The ``dispatched`` audit event's detail (and the domain event's)."""
    return {"provider": provider_code, "queue": queue, **(extra or {})}


def _dispatched(case_id: int, ticket_id: int, detail: dict, case_channel, now) -> None:
    """The ``ticket.dispatched`` domain event; subscribers learn the case's channel without
    reading it again."""
    domain_events.emit(
        DomainEvent(
            "ticket.dispatched",
            case_id,
            now,
            ticket_id=ticket_id,
            detail=detail | {"case_channel": case_channel},
        )
    )


def mark_held(ticket_id: int, queue: str, now, extra: dict | None = None) -> bool:
    """The ticket is held by its provider's channel: ``dispatching`` → ``queued``, its first
    representative if it gets one on arrival, the ``dispatched`` audit event and the
    ``ticket.dispatched`` domain event, in the caller's transaction. False when it had been
    moved before (a duplicate delivery changes nothing)."""
    params = {"ticket_id": ticket_id, "now": now}
    moved = first_row(db.session.connection(), _held_statement(), params)
    if moved is None:
        return False
    detail = _dispatched_detail(moved["provider_code"], queue, extra)
    if _first_representative_due(moved["representative_id"], moved["has_accept"]):
        rep = _first_representative(ticket_id, moved["provider_id"])
        if rep is not None:
            detail["representative"] = rep.username
    audit.write("dispatched", case_id=moved["case_id"], ticket_id=ticket_id, detail=detail, at=now)
    _dispatched(moved["case_id"], ticket_id, detail, moved["case_channel"], now)
    return True
