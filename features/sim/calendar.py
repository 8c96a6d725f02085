"""The school calendar of the simulated county: terms, holidays, Spring Festival, 中考.

One calendar serves every school of the county (as a county education bureau sets it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from features.time import LUNAR_NEW_YEAR

__all__ = ["SPRING_FESTIVAL", "SchoolYear", "school_year"]

#: 春节 (lunar new year's day), Gregorian date (the table of :mod:`features.time`)
SPRING_FESTIVAL: dict[int, dt.date] = LUNAR_NEW_YEAR


def _next_weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


def _prev_weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d -= dt.timedelta(days=1)
    return d


@dataclass(frozen=True)
class SchoolYear:
    """The calendar of school year ``year`` (September ``year`` to July ``year + 1``).

    ``dates`` covers Sep 1 to Jul 31; ``school_days`` are the dates with lessons; ``term``
    is 0 (autumn) or 1 (spring) for each school day.
    """

    year: int
    dates: np.ndarray  # datetime64[D], every day Sep 1 .. Jul 31
    is_school_day: np.ndarray  # bool per date
    day_type: np.ndarray  # str per date: normal / holiday / exam
    school_days: np.ndarray  # datetime64[D]
    term: np.ndarray  # int8 per school day
    autumn_start: dt.date
    autumn_end: dt.date
    spring_start: dt.date
    spring_end: dt.date
    spring_festival: dt.date
    zhongkao: dt.date

    def term_id(self, term: int) -> str:
        return f"{self.year}-{self.year + 1}-{term + 1}"

    def snap(self, d: dt.date) -> int:
        """Index of the first school day on or after ``d`` (clipped to the last)."""
        i = int(np.searchsorted(self.school_days, np.datetime64(d, "D")))
        return min(i, len(self.school_days) - 1)


def school_year(year: int) -> SchoolYear:
    """Build the calendar of one school year.

    >>> sy = school_year(2023)
    >>> sy.autumn_start, sy.spring_start.isoformat()
    (datetime.date(2023, 9, 1), '2024-02-26')
    >>> 150 < len(sy.school_days) < 200
    True
    """
    if year + 1 not in SPRING_FESTIVAL:
        raise ValueError(f"the simulated calendar covers school years 2000-2034, got {year}")
    festival = SPRING_FESTIVAL[year + 1]
    autumn_start = _next_weekday(dt.date(year, 9, 1))
    autumn_end = _prev_weekday(min(dt.date(year + 1, 1, 15), festival - dt.timedelta(days=10)))
    spring_start = festival + dt.timedelta(days=15)
    while spring_start.weekday() != 0:  # the Monday after the Lantern Festival week
        spring_start += dt.timedelta(days=1)
    spring_start = max(spring_start, dt.date(year + 1, 2, 17))
    spring_end = _prev_weekday(dt.date(year + 1, 7, 10))
    zhongkao = _next_weekday(dt.date(year + 1, 6, 18))

    holidays = set()
    for m, d, n in ((10, 1, 7),):  # National Day golden week
        holidays |= {dt.date(year, m, d) + dt.timedelta(days=k) for k in range(n)}
    holidays.add(dt.date(year + 1, 1, 1))
    for m, d, n in ((4, 4, 3), (5, 1, 5), (6, 10, 1)):  # Qingming, Labour Day, Dragon Boat (approx.)
        holidays |= {dt.date(year + 1, m, d) + dt.timedelta(days=k) for k in range(n)}

    dates = np.arange(np.datetime64(dt.date(year, 9, 1)), np.datetime64(dt.date(year + 1, 8, 1)))
    py = dates.astype("datetime64[D]").astype(object)
    in_term = np.array([(autumn_start <= d <= autumn_end) or (spring_start <= d <= spring_end) for d in py])
    weekday = np.array([d.weekday() < 5 for d in py])
    is_holiday = np.array([d in holidays for d in py])
    is_school = in_term & weekday & ~is_holiday
    day_type = np.where(is_school, "normal", "holiday").astype(object)
    school_days = dates[is_school]
    term = (school_days >= np.datetime64(spring_start)).astype(np.int8)
    return SchoolYear(
        year=year,
        dates=dates,
        is_school_day=is_school,
        day_type=day_type,
        school_days=school_days,
        term=term,
        autumn_start=autumn_start,
        autumn_end=autumn_end,
        spring_start=spring_start,
        spring_end=spring_end,
        spring_festival=festival,
        zhongkao=zhongkao,
    )
