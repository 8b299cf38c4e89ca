"""Working time on the official 2026 calendar, with properties checked by hypothesis."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import at
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from jointdesk.policy.clock import OfficeHours, WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar.from_settings("Asia/Shanghai", "09:00-12:00,13:00-17:00")
DAY = 7 * 3600


@pytest.mark.parametrize(
    "start,days,due",
    [
        # an ordinary Thursday afternoon: half a day crosses the night
        (at(2026, 11, 26, 14, 0), 0.5, at(2026, 11, 27, 9, 30)),
        # half a day from 10:00 crosses lunch
        (at(2026, 11, 26, 10, 0), 0.5, at(2026, 11, 26, 14, 30)),
        # starts outside office hours: the clock starts at the next opening
        (at(2026, 11, 26, 20, 0), 0.5, at(2026, 11, 27, 13, 30)),
        (at(2026, 11, 26, 7, 0), 0.5, at(2026, 11, 26, 13, 30)),
        (at(2026, 11, 26, 12, 30), 0.5, at(2026, 11, 26, 16, 30)),
        (at(2026, 11, 27, 16, 0), 0.5, at(2026, 11, 30, 11, 30)),  # Friday → Monday
        (at(2026, 11, 28, 10, 0), 1, at(2026, 11, 30, 17, 0)),  # Saturday start
        # exactly at a closing time is still that day
        (at(2026, 11, 26, 9, 0), 1, at(2026, 11, 26, 17, 0)),
        (at(2026, 11, 26, 9, 0), 0, at(2026, 11, 26, 9, 0)),
        # Spring Festival: 15-23 Feb off; Saturday 14 Feb and Saturday 28 Feb are working days
        (at(2026, 2, 13, 16, 0), 1, at(2026, 2, 14, 16, 0)),
        (at(2026, 2, 14, 16, 0), 1, at(2026, 2, 24, 16, 0)),
        (at(2026, 2, 27, 16, 0), 0.5, at(2026, 2, 28, 11, 30)),
        # Labour Day: 1-5 May off, Saturday 9 May working
        (at(2026, 4, 30, 16, 0), 1, at(2026, 5, 6, 16, 0)),
        (at(2026, 5, 8, 16, 0), 0.5, at(2026, 5, 9, 11, 30)),
        # National Day: 1-7 Oct off, Sunday 20 Sep and Saturday 10 Oct working
        (at(2026, 9, 18, 16, 0), 1, at(2026, 9, 20, 16, 0)),
        (at(2026, 9, 30, 10, 0), 2, at(2026, 10, 9, 10, 0)),
        (at(2026, 10, 9, 16, 0), 0.5, at(2026, 10, 10, 11, 30)),
        # New Year: 1-2 Jan off, Sunday 4 Jan working
        (at(2025, 12, 31, 16, 0), 1, at(2026, 1, 4, 16, 0)),
    ],
)
def test_due_times_on_the_2026_schedule(start, days, due):
    assert CAL.add(start, days) == due.astimezone(UTC)


def test_2027_falls_back_to_weekends_and_statutory_holidays_and_is_provisional():
    due = CAL.add(at(2026, 12, 31, 16, 0), 1)  # 1 Jan 2027 (元旦) off, then the weekend
    assert due == at(2027, 1, 4, 16, 0).astimezone(UTC)
    assert CAL.provisional_between(at(2026, 12, 31, 16, 0), due)
    assert not CAL.provisional_between(at(2026, 12, 30, 9, 0), at(2026, 12, 31, 17, 0))
    assert not CAL.is_working_day(date(2027, 1, 2))  # a Saturday


def test_overrides_and_confirmed_years():
    cal = WorkingCalendar.from_settings(
        "Asia/Shanghai", "09:00-12:00,13:00-17:00", {date(2027, 1, 1): False}, {2027}
    )
    assert cal.add(at(2026, 12, 31, 16, 0), 1) == at(2027, 1, 4, 16, 0).astimezone(UTC)
    assert not cal.provisional_between(at(2026, 12, 31, 16, 0), at(2027, 1, 4, 16, 0))
    # an override beats the library, both ways
    cal2 = WorkingCalendar.from_settings(
        "Asia/Shanghai", "09:00-12:00", {date(2026, 10, 1): True, date(2026, 11, 26): False}
    )
    assert cal2.is_working_day(date(2026, 10, 1)) and not cal2.is_working_day(date(2026, 11, 26))


@pytest.mark.parametrize(
    "text", ["9-12", "12:00-09:00", "09:00-12:00,11:00-13:00", "", "09:00-25:00"]
)
def test_bad_office_hours_are_refused(text):
    with pytest.raises(ValueError):
        OfficeHours.parse(text)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        CAL.add(datetime(2026, 11, 26, 9, 0), 1)


moments = st.datetimes(
    min_value=datetime(2025, 11, 1), max_value=datetime(2026, 11, 30), timezones=st.just(TZ)
)
durations = st.integers(min_value=0, max_value=5 * DAY)


def in_office_hours(moment: datetime) -> bool:
    local = moment.astimezone(TZ)
    if not CAL.is_working_day(local.date()):
        return False
    t = local.time()
    return any(s <= t <= e for s, e in CAL.hours.intervals)


@settings(max_examples=300, deadline=None)
@given(moments, durations)
def test_due_times_never_fall_outside_working_time(start, seconds):
    assert in_office_hours(CAL.add_seconds(start, seconds))


@settings(max_examples=300, deadline=None)
@given(moments, durations, durations)
@example(at(2026, 11, 26, 9, 0), 3 * 3600, 0)  # a ends exactly at the lunch closing
@example(at(2026, 11, 26, 9, 0), DAY, 0)  # a ends exactly at the evening closing
def test_adding_is_additive_and_monotonic(start, a, b):
    assume(start < datetime(2026, 11, 1, tzinfo=TZ))  # stay inside the official data
    both = CAL.add_seconds(start, a + b)
    assert CAL.add_seconds(CAL.add_seconds(start, a), b) == both
    if a <= b:
        assert CAL.add_seconds(start, a) <= CAL.add_seconds(start, b)


@settings(max_examples=300, deadline=None)
@given(moments, durations)
@example(datetime(2025, 11, 3, 9, 0, 0, 16260, tzinfo=TZ), 368)  # no rounding down a second
def test_working_seconds_measures_what_add_adds(start, seconds):
    due = CAL.add_seconds(start, seconds)
    assert CAL.working_seconds(start, due) == seconds


@settings(max_examples=200, deadline=None)
@given(moments, durations, st.integers(min_value=0, max_value=3 * DAY), durations)
def test_suspension_shifts_the_due_time_by_exactly_the_working_time_lost(
    start, before, pause_len, limit
):
    """Suspend `before` seconds of working time into the clock, resume after a pause: the
    new due time leaves exactly the same working time as was left at the suspension."""
    suspended = CAL.add_seconds(start, before)
    resumed = suspended + timedelta(seconds=pause_len)
    lost = CAL.working_seconds(suspended, resumed)
    due = CAL.add_seconds(start, limit + lost)
    remaining_then = limit - before
    if remaining_then >= 0:
        assert CAL.working_seconds(resumed, due) == remaining_then
    assert CAL.working_seconds(start, due) == limit + lost


def _window_walk(calendar, start, end) -> int:
    """Working time summed over the office-hour windows one by one (the slow way)."""
    end_local = end.astimezone(calendar.tz)
    total = timedelta(0)  # exact to the microsecond
    for begin, close in calendar._windows(start):
        if begin >= end_local:
            break
        total += min(close, end_local) - begin
    return total // timedelta(seconds=1)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=0, max_value=40 * 24 * 3600))
def test_working_seconds_counts_each_office_window_of_each_working_day(start, span):
    end = start + timedelta(seconds=span, microseconds=start.microsecond % 7)
    assert CAL.working_seconds(start, end) == _window_walk(CAL, start, end)


@settings(max_examples=60, deadline=None)
@given(moments, st.integers(min_value=0, max_value=3 * 366 * 24 * 3600))
def test_working_seconds_across_years_counts_each_office_window(start, span):
    """Years apart (into the years the library does not know): the yearly tables add up to
    the windows walked one by one."""
    end = start + timedelta(seconds=span, microseconds=start.microsecond % 7)
    calendar = WorkingCalendar.from_settings(
        "Asia/Shanghai", "08:30-12:00,13:30-17:30", {date(2027, 6, 5): True}
    )
    assert calendar.working_seconds(start, end) == _window_walk(calendar, start, end)


def test_working_seconds_across_a_clock_going_back_is_never_negative():
    """Within the hour a clock repeats (Berlin, 25 Oct 2026, a working day by override), an end
    whose wall-clock time is before the start's still measures no time, not less than none."""
    calendar = WorkingCalendar.from_settings(
        "Europe/Berlin", "00:00-23:59", {date(2026, 10, 25): True}
    )
    start = datetime(2026, 10, 25, 0, 50, tzinfo=UTC)  # 02:50 summer time
    end = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 winter time, twenty minutes later
    assert calendar.working_seconds(start, end) == 0
    # 02:50 → 03:10 on the wall clock, as office hours are counted
    assert calendar.working_seconds(start, end + timedelta(hours=1)) == 20 * 60


def test_working_seconds_in_the_last_year_of_the_calendar_of_dates():
    calendar = WorkingCalendar.from_settings("UTC", "09:00-17:00", {})
    start = datetime(9999, 12, 30, 9, tzinfo=UTC)
    assert calendar.working_seconds(start, start + timedelta(hours=4)) == 4 * 3600
