"""Working time on the official Chinese calendar.

One working day is the office hours of one working day (default 09:00-12:00 and 13:00-17:00,
seven hours), so half a working day is half of that. Working days follow the official calendar
(statutory holidays off, adjusted weekend working days on) as published in ``chinesecalendar``,
with administrator overrides for any date taking precedence. A year the library does not know
falls back to Monday-Friday less its statutory holidays (``jointdesk.policy.statutory``), and
every date in it is *provisional* until an override covers it or the year is confirmed.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from jointdesk.policy.statutory import AMENDED_FROM, statutory_holidays

_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
MAX_SCAN_DAYS = 3700  # ten years: no real limit goes that far; guards against a calendar of no days
MAX_WORKING_DAYS = 1000  # about four years of working days: far beyond any limit of the policy
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years the calendar answers for (lunar data ends in 2100)


def check_days(days: float) -> float:
    """A number of working days the calendar can count: finite, 0 to MAX_WORKING_DAYS."""
    if not math.isfinite(days):
        raise ValueError("days must be a finite number")
    if days < 0:
        raise ValueError("days must not be negative")
    if days > MAX_WORKING_DAYS:
        raise ValueError(f"days must be at most {MAX_WORKING_DAYS}")
    return days


@dataclass(frozen=True)
class OfficeHours:
    intervals: tuple[tuple[time, time], ...]

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """``"09:00-12:00,13:00-17:00"``: ascending, non-overlapping intervals."""
        intervals: list[tuple[time, time]] = []
        for part in text.split(","):
            m = _HOURS_RE.match(part.strip())
            if not m:
                raise ValueError(f"office hours must look like 09:00-12:00, got {part!r}")
            start = time(int(m[1]), int(m[2]))
            end = time(int(m[3]), int(m[4]))
            if end <= start or (intervals and start < intervals[-1][1]):
                raise ValueError(f"office hours must ascend without overlap: {text!r}")
            intervals.append((start, end))
        if not intervals:
            raise ValueError("office hours are empty")
        return cls(tuple(intervals))

    @functools.cached_property
    def day_seconds(self) -> int:
        return sum(
            (datetime.combine(date.min, e) - datetime.combine(date.min, s)).seconds
            for s, e in self.intervals
        )


def _day_micros(t: time | datetime) -> int:
    """Microseconds since midnight on the wall clock."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def library_knows(day: date) -> bool:
    """Whether the maintained holiday library has the official schedule for this date's year."""
    return _library_knows_year(day.year)


@functools.cache
def _library_knows_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 30))
    except NotImplementedError:
        return False
    return True


def provisional_holiday(day: date) -> str | None:
    """The statutory holiday on this date of a year the library does not know, else None."""
    if library_knows(day) or day.year < AMENDED_FROM:
        return None
    return statutory_holidays(day.year).get(day)


@dataclass
class WorkingCalendar:
    tz: ZoneInfo
    hours: OfficeHours
    overrides: Mapping[date, bool] = field(default_factory=dict)
    # years whose official schedule an administrator has entered in full as overrides
    confirmed_years: frozenset[int] | set[int] = field(default_factory=frozenset)
    # answers of is_working_day, kept for the calendar's life (it is rebuilt after any edit)
    _days: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False)
    # per year: the working time before each day (``_year``), likewise kept
    _years: dict[int, tuple[int, list[int]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(
        cls,
        timezone: str,
        office_hours: str,
        overrides: Mapping[date, bool] | None = None,
        confirmed_years: set[int] | None = None,
    ) -> WorkingCalendar:
        return cls(
            ZoneInfo(timezone),
            OfficeHours.parse(office_hours),
            dict(overrides or {}),
            frozenset(confirmed_years or ()),
        )

    def is_working_day(self, day: date) -> bool:
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._is_working_day(day)
        return known

    def _is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5 and provisional_holiday(day) is None

    def is_provisional(self, day: date) -> bool:
        """True where the answer is a guess (weekends and statutory holidays, without the days in
        lieu and adjusted weekends of the year's notice): the library does not know the year,
        no override covers the date, and no administrator has confirmed the year's schedule."""
        return (
            day not in self.overrides
            and day.year not in self.confirmed_years
            and not library_knows(day)
        )

    def _windows(self, start: datetime):
        """Office-hour windows (local datetimes) from ``start`` on, clipped to it."""
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(MAX_SCAN_DAYS):
            if self.is_working_day(day):
                for s, e in self.hours.intervals:
                    open_ = datetime.combine(day, s, self.tz)
                    close = datetime.combine(day, e, self.tz)
                    begin = max(open_, local)
                    if begin <= close:  # a clock stopped at a closing time may resume there
                        yield begin, close
            day += timedelta(days=1)
        raise RuntimeError("no working time within ten years: check the calendar overrides")

    @property
    def day_seconds(self) -> int:
        """Seconds in one working day (the office hours)."""
        return self.hours.day_seconds

    def add(self, start: datetime, days: float) -> datetime:
        """The moment ``days`` working days after ``start`` (UTC). Starts at the next opening."""
        check_days(days)
        return self.add_seconds(start, round(days * self.hours.day_seconds))

    def add_seconds(self, start: datetime, seconds: int) -> datetime:
        """The moment ``seconds`` of working time after ``start`` (UTC).

        Zero seconds from outside office hours gives the next opening: a clock that starts
        outside office hours starts there.
        """
        if start.tzinfo is None:
            raise ValueError("start must carry its UTC offset")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        remaining = int(seconds)
        for begin, close in self._windows(start):
            available = int((close - begin).total_seconds())
            if remaining <= available:
                return (begin + timedelta(seconds=remaining)).astimezone(UTC)
            remaining -= available
        raise AssertionError("unreachable")  # pragma: no cover

    def working_seconds(self, start: datetime, end: datetime) -> int:
        """Working time between two moments, in seconds (0 when end is not after start)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("moments must carry their UTC offset")
        if end <= start:
            return 0
        # wall-clock time of the day, as the office hours are: the same arithmetic as
        # subtracting two local times of one zone
        first, last = start.astimezone(self.tz), end.astimezone(self.tz)
        day, last_day = first.date(), last.date()
        if (last_day - day).days > MAX_SCAN_DAYS:
            raise RuntimeError("no working time within ten years: check the calendar overrides")
        total = self._since_new_year(last) - self._since_new_year(first)  # microseconds
        for year in range(day.year, last_day.year):
            total += self._year(year)[1][-1]  # every year in between, whole
        # (negative only within one local date whose clock went back: none in between)
        return max(0, total) // 1_000_000

    def _since_new_year(self, local: datetime) -> int:
        """Working time from the local new year to ``local`` (a local moment), in
        microseconds: the days before its date from the year's table, its own day's office
        hours up to its time of day."""
        day = local.date()
        first_ordinal, before = self._year(day.year)
        total = before[day.toordinal() - first_ordinal]
        if self.is_working_day(day):
            now = _day_micros(local)
            for open_, close in self._office_micros:
                if now > open_:
                    total += (now if now < close else close) - open_
        return total

    def _year(self, year: int) -> tuple[int, list[int]]:
        """One year's table, made once per calendar: the ordinal of its 1 January and the
        working time (microseconds) before each of its days, its whole working time last. With
        it, the working time between two moments is a difference, however far apart."""
        made = self._years.get(year)
        if made is None:
            whole_day = sum(close - open_ for open_, close in self._office_micros)
            first = date(year, 1, 1).toordinal()
            before = [0]
            for ordinal in range(first, first + (366 if calendar.isleap(year) else 365)):
                working = self.is_working_day(date.fromordinal(ordinal))
                before.append(before[-1] + (whole_day if working else 0))
            made = self._years[year] = (first, before)
        return made

    @functools.cached_property
    def _office_micros(self) -> tuple[tuple[int, int], ...]:
        return tuple((_day_micros(s), _day_micros(e)) for s, e in self.hours.intervals)

    def provisional_between(self, start: datetime, end: datetime) -> bool:
        """Whether any date from start to end (local) is a provisional guess."""
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            if self.is_provisional(day):
                return True
            day += timedelta(days=1)
        return False
