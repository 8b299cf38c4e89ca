"""The working-time calendar in force: settings, administrator overrides, confirmed years.

Built once per process and kept while the database's calendar version stays the same: every
administrator change writes a new version in the same transaction, so each process rebuilds on
its next request (one primary-key read per request says whether it must), never serving a
calendar older than the last committed change.
"""

from __future__ import annotations

import secrets
import threading
from datetime import date

from flask import current_app, g, has_request_context

from jointdesk.extensions import db
from jointdesk.models import CalendarOverride, Meta
from jointdesk.policy.clock import OfficeHours, WorkingCalendar

OFFICE_HOURS_KEY = "office_hours"
CONFIRMED_PREFIX = "calendar_confirmed_"
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


def _changed(action: str, actor, detail: dict, days: date | str | None = None) -> None:
    """Records a calendar edit. The stored working time of closed tickets that ``days`` (one
    date, or EVERY_DAY) touches is restated in the same transaction; open tickets' due times
    follow after the commit."""
    from jointdesk import audit
    from jointdesk.sla import recompute_open_due_times, restate_closed

    audit.record(action, actor=actor, detail=detail)
    _new_version()
    if days is not None:
        db.session.flush()
        calendar = _build()  # this transaction's calendar, the edit included
        restate_closed(calendar, None if days == EVERY_DAY else days)
    db.session.commit()
    if has_request_context():
        forget_calendar()
    recompute_open_due_times()


def set_override(day: date, working: bool, note: str, actor) -> None:
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
    )


def remove_override(day: date, actor) -> bool:
    row = db.session.get(CalendarOverride, day)
    if row is None:
        return False
    db.session.delete(row)
    _changed("calendar_changed", actor, {"day": day.isoformat(), "removed": True}, days=day)
    return True


def confirm_year(year: int, actor, confirmed: bool = True) -> None:
    """An administrator says the year's official schedule is entered in full (or takes it back)."""
    key = f"{CONFIRMED_PREFIX}{year}"
    row = db.session.get(Meta, key)
    if confirmed and row is None:
        db.session.add(Meta(key=key, value="1"))
    elif not confirmed and row is not None:
        db.session.delete(row)
    _changed("calendar_changed", actor, {"year": year, "confirmed": confirmed})


def set_office_hours(text: str, actor) -> None:
    """Validated like the setting; raises ValueError with the reason."""
    hours = OfficeHours.parse(text)
    value = ",".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in hours.intervals)
    row = db.session.get(Meta, OFFICE_HOURS_KEY)
    if row is None:
        db.session.add(Meta(key=OFFICE_HOURS_KEY, value=value))
    else:
        row.value = value
    _changed("office_hours_changed", actor, {"office_hours": value}, days=EVERY_DAY)


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
