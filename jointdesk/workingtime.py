"""The working-time calendar in force: settings, administrator overrides, confirmed years.

Built once per process and kept while the database's calendar version stays the same: every
administrator change writes a new version in the same transaction, so each process rebuilds on
its next request (one primary-key read per request says whether it must), never serving a
calendar older than the last committed change.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import date

from flask import current_app, g, has_request_context

from jointdesk.extensions import db
from jointdesk.models import CalendarOverride, Meta
from jointdesk.policy.clock import OfficeHours, WorkingCalendar

OFFICE_HOURS_KEY = "office_hours"
CONFIRMED_PREFIX = "calendar_confirmed_"
log = logging.getLogger(__name__)

VERSION_KEY = "calendar_version"
# (app, time zone, office-hours setting) -> (version, calendar); a few entries per process
_BUILT: dict[tuple, tuple[str, WorkingCalendar]] = {}
_BUILT_LOCK = threading.Lock()


def office_hours_text() -> str:
    """Office hours set by an administrator, else the JOINTDESK_OFFICE_HOURS setting."""
    row = db.session.get(Meta, OFFICE_HOURS_KEY)
    return row.value if row else current_app.config["JOINTDESK_OFFICE_HOURS"]


def confirmed_years() -> set[int]:
    keys = db.session.execute(
        db.select(Meta.key).where(Meta.key.like(f"{CONFIRMED_PREFIX}%"))
    ).scalars()
    return {int(k.removeprefix(CONFIRMED_PREFIX)) for k in keys}


def _build() -> WorkingCalendar:
    overrides = {
        row.day: row.working for row in db.session.execute(db.select(CalendarOverride)).scalars()
    }
    from zoneinfo import ZoneInfo

    return WorkingCalendar(
        ZoneInfo(current_app.config["JOINTDESK_TIMEZONE"]),
        OfficeHours.parse(office_hours_text()),
        overrides,
        confirmed_years(),
    )


def calendar_version_column():
    """The version as a scalar subquery, for a read that fetches it with its own data and
    hands it to ``use_calendar_version``."""
    return (
        db.select(Meta.value)
        .where(Meta.key == VERSION_KEY)
        .scalar_subquery()
        .label("calendar_version")
    )


def calendar_version() -> str:
    """The version of the administrators' calendar data; changes with every edit."""
    value = db.session.execute(db.select(Meta.value).where(Meta.key == VERSION_KEY)).scalar()
    return value or "0"


def _current(version: str | None = None) -> WorkingCalendar:
    if version is None:
        version = calendar_version()
    config = current_app.config
    key = (
        id(current_app._get_current_object()),
        config["JOINTDESK_TIMEZONE"],
        config["JOINTDESK_OFFICE_HOURS"],
    )
    built = _BUILT.get(key)
    if built is not None and built[0] == version:
        return built[1]
    calendar = _build()  # may already hold a newer edit: then the next read rebuilds again
    with _BUILT_LOCK:
        _BUILT[key] = (version, calendar)
    return calendar


def working_calendar() -> WorkingCalendar:
    """The calendar in force: checked against the database once per request (or per call
    outside one: tasks, commands), rebuilt only after an administrator changed it."""
    if has_request_context():
        if "working_calendar" not in g:
            g.working_calendar = _current()
        return g.working_calendar
    return _current()


def use_calendar_version(version: str | None) -> None:
    """A read that fetched the calendar's version with its data (``cases.read``) hands it over
    here, so this request's time limits need no statement of their own to check it."""
    if has_request_context() and "working_calendar" not in g:
        g.working_calendar = _current(version or "0")


def forget_calendar() -> None:
    """After an edit, so the rest of this request sees it."""
    g.pop("working_calendar", None)


def _new_version() -> None:
    """Every process's built calendar is out of date once this commits (a random value, so two
    edits at once never write the same version)."""
    row = db.session.get(Meta, VERSION_KEY)
    value = secrets.token_hex(8)
    if row is None:
        db.session.add(Meta(key=VERSION_KEY, value=value))
    else:
        row.value = value


def uncovered_years(today: date) -> list[int]:
    """This year and next, where the official schedule is neither in the library nor entered."""
    from jointdesk.policy.clock import library_knows

    confirmed = confirmed_years()
    return [
        y
        for y in (today.year, today.year + 1)
        if y not in confirmed and not library_knows(date(y, 1, 1))
    ]


EVERY_DAY = "every day"


RESTATE_TASK = "jointdesk.restate_after_calendar_change"
RESTATE_QUEUE = "jointdesk"


def _changed(
    action: str, actor, detail: dict, days: date | str | None = None, *, background: bool = False
) -> None:
    """Records a calendar edit, then restates what it changes: the stored working time of
    closed tickets that ``days`` (one date, or EVERY_DAY) touches, and open tickets' due times.

    In the foreground (commands, tests) the closed tickets are restated in the edit's own
    transaction and the open ones after its commit. With ``background`` (the admin pages) the
    edit commits at once with an outbox row for ``restate_after_change``, which a worker runs
    (on a million cases it takes minutes, far beyond a web request): written in the edit's
    transaction, the job is never lost; run twice, it restates the same values again."""
    from jointdesk import audit
    from jointdesk.sla import recompute_open_due_times, restate_closed

    audit.record(action, actor=actor, detail=detail)
    _new_version()
    if background:
        from datetime import timedelta

        from jointdesk.models import OutboxMessage
        from jointdesk.models.types import utcnow
        from jointdesk.routing import outbox

        now = utcnow()
        untaken = current_app.config["JOINTDESK_OUTBOX_UNTAKEN_SECONDS"]
        job = OutboxMessage(  # written as published, as intake's rows (routing/outbox.py)
            task=RESTATE_TASK,
            queue=RESTATE_QUEUE,
            payload={"days": days.isoformat() if isinstance(days, date) else days},
            created_at=now,
            published_at=now,
            attempts=1,
            next_attempt_at=now + timedelta(seconds=untaken),
        )
        db.session.add(job)
        db.session.commit()
        if has_request_context():
            forget_calendar()
        outbox.publish_fresh([(job.id, RESTATE_QUEUE)], task=RESTATE_TASK)
        return
    if days is not None:
        db.session.flush()
        calendar = _build()  # this transaction's calendar, the edit included
        restate_closed(calendar, None if days == EVERY_DAY else days)
    db.session.commit()
    if has_request_context():
        forget_calendar()
    recompute_open_due_times()


def restate_after_change(message_id: int) -> str:
    """The background half of a calendar edit (outbox row ``message_id``): closed tickets'
    stored working time on the calendar now in force, a batch per transaction, then open
    tickets' due times; the row is done at the end. Each batch also pushes the row's next
    look back, so the relay does not hand a long run to a second worker meanwhile."""
    from datetime import timedelta

    from sqlalchemy import update

    from jointdesk.models import OutboxMessage
    from jointdesk.models.types import utcnow
    from jointdesk.sla import _Batches, recompute_open_due_times, restate_closed

    job = db.session.get(OutboxMessage, message_id)
    if job is None or job.done_at is not None:
        db.session.rollback()
        return "already-done"
    raw = (job.payload or {}).get("days")
    days = None if raw in (None, EVERY_DAY) else date.fromisoformat(raw)
    db.session.rollback()
    wait = timedelta(seconds=current_app.config["JOINTDESK_OUTBOX_REDELIVER_SECONDS"])
    batches = _Batches()

    def batch_done() -> None:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(next_attempt_at=utcnow() + wait)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        batches.release()  # a million tickets never sit in one session

    count = 0
    if raw is not None:
        count = restate_closed(working_calendar(), days, each_batch=batch_done)
        batch_done()
    recompute_open_due_times(each_batch=batch_done)
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
        .values(done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.info("calendar change restated %d closed tickets", count)
    return "restated"


def set_override(day: date, working: bool, note: str, actor, *, background: bool = False) -> None:
    """Declares a date a working day or a day off; open tickets' due times follow."""
    row = db.session.get(CalendarOverride, day)
    label = actor.username if hasattr(actor, "username") else str(actor or "system")
    if row is None:
        db.session.add(
            CalendarOverride(day=day, working=working, note=note[:200], updated_by=label)
        )
    else:
        row.working, row.note, row.updated_by = working, note[:200], label
    _changed(
        "calendar_changed",
        actor,
        {"day": day.isoformat(), "working": working, "note": note[:200]},
        days=day,
        background=background,
    )


def remove_override(day: date, actor, *, background: bool = False) -> bool:
    row = db.session.get(CalendarOverride, day)
    if row is None:
        return False
    db.session.delete(row)
    _changed(
        "calendar_changed",
        actor,
        {"day": day.isoformat(), "removed": True},
        days=day,
        background=background,
    )
    return True


def confirm_year(year: int, actor, confirmed: bool = True, *, background: bool = False) -> None:
    """An administrator says the year's official schedule is entered in full (or takes it back)."""
    key = f"{CONFIRMED_PREFIX}{year}"
    row = db.session.get(Meta, key)
    if confirmed and row is None:
        db.session.add(Meta(key=key, value="1"))
    elif not confirmed and row is not None:
        db.session.delete(row)
    _changed(
        "calendar_changed", actor, {"year": year, "confirmed": confirmed}, background=background
    )


def set_office_hours(text: str, actor, *, background: bool = False) -> None:
    """Validated like the setting; raises ValueError with the reason."""
    hours = OfficeHours.parse(text)
    value = ",".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in hours.intervals)
    row = db.session.get(Meta, OFFICE_HOURS_KEY)
    if row is None:
        db.session.add(Meta(key=OFFICE_HOURS_KEY, value=value))
    else:
        row.value = value
    _changed(
        "office_hours_changed",
        actor,
        {"office_hours": value},
        days=EVERY_DAY,
        background=background,
    )


def year_listing(year: int) -> list[dict]:
    """Every date of the year that is not an ordinary weekday or weekend, with its source."""
    import chinese_calendar

    from jointdesk.policy.clock import library_knows, provisional_holiday

    calendar = working_calendar()
    notes = {
        row.day: row.note
        for row in db.session.execute(
            db.select(CalendarOverride).where(
                CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31)
            )
        ).scalars()
    }
    out = []
    day = date(year, 1, 1)
    from datetime import timedelta

    while day.year == year:
        working = calendar.is_working_day(day)
        ordinary = day.weekday() < 5
        if day in calendar.overrides or working != ordinary:
            name = notes.get(day) or None
            if name is None and library_knows(day):
                _on, name = chinese_calendar.get_holiday_detail(day)
            statutory = provisional_holiday(day)
            if day in calendar.overrides:
                source = "override"
            else:
                source = "statutory" if statutory else "official"
            out.append(
                {"day": day, "working": working, "source": source, "name": name or statutory}
            )
        day += timedelta(days=1)
    return out
