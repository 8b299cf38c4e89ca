"""Issue 7 items 9 and 10: a year the library does not know still has its statutory holidays, and
the calendar commands answer bad input with a clear error instead of a traceback."""

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import application_body

from jointdesk.policy import clock
from jointdesk.policy.statutory import statutory_holidays

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")


def jointdesk(*args):
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "jointdesk.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_2027_statutory_holidays():
    """《全国年节及纪念日放假办法》 as amended in 2024, article 2: "新年，放假1天（1月1日）",
    "春节，放假4天（农历除夕、正月初一至初三）", "清明节，放假1天（农历清明当日）",
    "劳动节，放假2天（5月1日、2日）", "端午节，放假1天（农历端午当日）",
    "中秋节，放假1天（农历中秋当日）", "国庆节，放假3天（10月1日至3日）".

    In 2027 农历正月初一 is 6 February, so 除夕 is 5 February and 初一至初三 6-8 February; 清明 is
    5 April; 五月初五 is 9 June; 八月十五 is 15 September: 13 days in all.
    """
    expected = {
        date(2027, 1, 1),
        date(2027, 2, 5),
        date(2027, 2, 6),
        date(2027, 2, 7),
        date(2027, 2, 8),
        date(2027, 4, 5),
        date(2027, 5, 1),
        date(2027, 5, 2),
        date(2027, 6, 9),
        date(2027, 9, 15),
        date(2027, 10, 1),
        date(2027, 10, 2),
        date(2027, 10, 3),
    }
    assert set(statutory_holidays(2027)) == expected
    # the fixed dates are the module's own and hold for any year
    assert {date(2100, 1, 1), date(2100, 5, 2), date(2100, 10, 3)} <= set(statutory_holidays(2100))


@pytest.mark.parametrize(
    "start,days,due",
    [
        # 1 Jan 2027 (Fri) 元旦 off, 2-3 Jan weekend: Thursday 16:00 + 7 h → Monday 4 Jan 16:00
        ("2026-12-31T16:00+08:00", "1", "2027-01-04T16:00:00+08:00"),
        # 除夕 5 Feb (Fri) off, 6-7 Feb weekend, 初三 8 Feb (Mon) off → Tuesday 9 Feb
        ("2027-02-04T16:00+08:00", "1", "2027-02-09T16:00:00+08:00"),
        # 清明 5 Apr (Mon) off: Fri 16:00-17:00 is 1 h; 2.5 h more on Tue 6 Apr → 11:30
        ("2027-04-02T16:00+08:00", "0.5", "2027-04-06T11:30:00+08:00"),
        # 劳动节 1-2 May fall on the weekend; the day in lieu is the notice's to set → Mon 3 May
        ("2027-04-30T16:00+08:00", "1", "2027-05-03T16:00:00+08:00"),
        # 端午 9 Jun (Wed) off → Thursday 10 Jun
        ("2027-06-08T16:00+08:00", "1", "2027-06-10T16:00:00+08:00"),
        # 中秋 15 Sep (Wed) off → Thursday 16 Sep
        ("2027-09-14T16:00+08:00", "1", "2027-09-16T16:00:00+08:00"),
        # 国庆 1 Oct (Fri) off, 2-3 Oct weekend → Monday 4 Oct
        ("2027-09-30T16:00+08:00", "1", "2027-10-04T16:00:00+08:00"),
    ],
)
def test_calendar_due_in_a_year_the_library_does_not_know(db, start, days, due):
    """Due times in 2027 skip its statutory holidays and stay flagged provisional."""
    done = jointdesk("calendar", "due", "--start", start, "--days", days)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == due
    assert "provisional" in done.stderr


def test_a_known_year_is_not_provisional_and_confirming_2027_clears_the_flag(db):
    """2026 is in the library: Thursday 14:00 + half a day (3.5 h) = Friday 09:30, firm.
    Once an administrator enters the notice's days in lieu (3-4 May 2027, say) and confirms the
    year, the answer follows the entries and is no longer provisional: Fri 30 Apr 16:00 + 7 h
    skips 1-2 May (statutory), 3-4 May (entered) → Wednesday 5 May 16:00."""
    known = jointdesk("calendar", "due", "--start", "2026-11-26T14:00+08:00", "--days", "0.5")
    assert (known.stdout.strip(), known.stderr) == ("2026-11-27T09:30:00+08:00", "")
    for day in ("2027-05-03", "2027-05-04"):
        assert jointdesk("calendar", "set", day, "--off", "--note", "劳动节").returncode == 0
    assert jointdesk("calendar", "confirm", "2027").returncode == 0
    done = jointdesk("calendar", "due", "--start", "2027-04-30T16:00+08:00", "--days", "1")
    assert (done.stdout.strip(), done.stderr) == ("2027-05-05T16:00:00+08:00", "")
    shown = jointdesk("calendar", "show", "--year", "2027")
    assert shown.returncode == 0, shown.stderr
    assert "confirmed" in shown.stdout
    assert "2027-02-05 Fri off      statutory 农历除夕" in shown.stdout


def test_a_ticket_opened_on_new_years_eve_skips_new_years_day(client, users, clock, deliver_all):
    """A water ticket without external works has "总时限不超过1个工作日"; opened Thursday
    31 Dec 2026 16:00 it is due after 7 working hours: 1 h that day, 1 Jan (元旦) off, the
    weekend off, 6 h on Monday 4 Jan → 16:00, provisional."""
    clock.set(datetime(2026, 12, 31, 16, 0, tzinfo=TZ))
    body = application_body(services=["water"])
    body["project"].update({"external_works": False, "pipeline_length_m": None})
    res = client.post("/api/v1/cases", json=body, headers=users["clerk"][1])
    assert res.status_code == 201, res.get_json()
    t = res.get_json()["tickets"][0]
    assert t["due_at"] == datetime(2027, 1, 4, 16, 0, tzinfo=TZ).isoformat()
    assert t["due_provisional"] is True


@pytest.mark.parametrize(
    "args,says",
    [
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "nan"], "finite"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "inf"], "finite"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "-inf"], "finite"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "1e9"], "at most 1000"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "1001"], "at most 1000"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "-1"], "negative"),
        (["due", "--start", "2026-11-26T14:00+08:00", "--days", "abc"], "not a valid float"),
        (["due", "--start", "junk", "--days", "1"], "ISO 8601"),
        (["due", "--start", "", "--days", "1"], "ISO 8601"),
        (["due", "--start", "9999-12-31T16:00+08:00", "--days", "1"], "2000-2100"),
        (["due", "--start", "0001-01-01T00:00", "--days", "1"], "2000-2100"),
        (["due", "--start", "2026-13-01T00:00", "--days", "1"], "ISO 8601"),
        (["show", "--year", "0"], "2000<=x<=2100"),
        (["show", "--year", "99999"], "2000<=x<=2100"),
        (["confirm", "1"], "2000<=x<=2100"),
        (["set", "9999-01-01", "--off"], "2000-2100"),
        (["set", "2027-02-30", "--off"], "not a date"),
        (["unset", "junk"], "not a date"),
    ],
)
def test_calendar_commands_refuse_bad_input_with_a_usage_error(db, args, says):
    """Each is a usage error: exit code 2, the reason on stderr, never a traceback (on the code
    before, nan ended in ValueError, inf in OverflowError, 1e9 in "no working time within ten
    years", years out of range in ValueError/OverflowError tracebacks)."""
    from click.testing import CliRunner

    from jointdesk.cli import main

    done = CliRunner().invoke(main, ["calendar", *args])
    assert done.exit_code == 2, (done.output, done.exception)
    assert says in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_cli_years_agree_with_the_calendar():
    from jointdesk.cli import _YEARS

    assert (_YEARS.min, _YEARS.max) == (clock.FIRST_YEAR, clock.LAST_YEAR)
    with pytest.raises(ValueError):
        clock.check_days(float("nan"))
