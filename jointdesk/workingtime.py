"""The working-time calendar in force: settings, administrator overrides, confirmed years."""

from __future__ import annotations

from datetime import date

from flask import current_app, g, has_request_context

from jointdesk.extensions import db
from jointdesk.models import CalendarOverride, Meta
from jointdesk.policy.clock import OfficeHours, WorkingCalendar

OFFICE_HOURS_KEY = "office_hours"
CONFIRMED_PREFIX = "calendar_confirmed_"


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


def working_calendar() -> WorkingCalendar:
    """Built from the database once per request (or per call outside one: tasks, commands)."""
    if has_request_context():
        if "working_calendar" not in g:
            g.working_calendar = _build()
        return g.working_calendar
    return _build()


def forget_calendar() -> None:
    """After an edit, so the rest of this request sees it."""
    g.pop("working_calendar", None)


def uncovered_years(today: date) -> list[int]:
    """This year and next, where the official schedule is neither in the library nor entered."""
    calendar = working_calendar()
    return [y for y in (today.year, today.year + 1) if calendar.is_provisional(date(y, 1, 1))]
