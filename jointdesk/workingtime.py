"""The working-time calendar of this deployment, built from settings."""

from __future__ import annotations

from flask import current_app

from jointdesk.policy.clock import WorkingCalendar


def working_calendar() -> WorkingCalendar:
    """The calendar in force: office hours and time zone from settings, official holidays."""
    cfg = current_app.config
    key = (cfg["JOINTDESK_TIMEZONE"], cfg["JOINTDESK_OFFICE_HOURS"])
    cached = current_app.extensions.get("jointdesk.calendar")
    if cached is None or cached[0] != key:
        cached = (key, WorkingCalendar.from_settings(*key))
        current_app.extensions["jointdesk.calendar"] = cached
    return cached[1]
