"""Statutory public holidays of a year whose official schedule is not published yet.

《全国年节及纪念日放假办法》 (as amended by the State Council in 2024, in force from 2025) gives
every citizen these days off: 元旦 1 day (1 January), 春节 4 days (农历除夕, 正月初一至初三),
清明节 1 day (农历清明当日), 劳动节 2 days (5月1日、2日), 端午节 1 day (农历端午当日),
中秋节 1 day (农历中秋当日), 国庆节 3 days (10月1日至3日).

The fixed dates are written here; the lunar and solar-term ones come from the ``holidays``
package's China calendar, which computes the Chinese lunisolar calendar (1901-2100) and is
released monthly. Which weekday is given in lieu of a holiday falling on a weekend (补假), and the
weekend working days that come with longer breaks (调休), are set each year by the State Council's
notice and cannot be derived: a year known only from this module stays provisional.
"""

from __future__ import annotations

import functools
from datetime import date

AMENDED_FROM = 2025  # the 2024 amendment: 除夕 and 5月2日 became holidays from 2025 on

FIXED_DATE_HOLIDAYS = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (5, 2): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}


@functools.cache
def statutory_holidays(year: int) -> dict[date, str]:
    """Every statutory holiday of ``year`` (from 2025 on) with its Chinese name; no days in
    lieu and no adjusted weekends, which only the year's official notice sets."""
    if year < AMENDED_FROM:
        raise ValueError(f"the amended holiday rules apply from {AMENDED_FROM}, not {year}")
    import holidays  # only needed once a year is past chinesecalendar's data

    days = {date(year, m, d): name for (m, d), name in FIXED_DATE_HOLIDAYS.items()}
    lunar = holidays.China(years=year, observed=False, language="zh_CN")
    for day, name in lunar.items():
        days.setdefault(day, name)
    return dict(sorted(days.items()))
