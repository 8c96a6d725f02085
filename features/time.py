"""Time in one place: what is known on a day, the school year, school days and the streak.

Every feature builder (and the rules, the fairness audit, the labels) reads dates through
this module:

- **Known rows.** A row counts on ``as_of`` only if it was *known* on that day: its
  knowledge date, the contract's ``TableSpec.known_date`` (an event date, ``valid_from``,
  an exam date, a calendar day), is on or before ``as_of``. :func:`known_rows` reads a
  table through the column the contract declares, so no call site picks a date column by
  hand. Interval rows are in force when ``valid_from <= as_of`` and ``valid_to`` is empty
  or later than ``as_of`` (:func:`valid_at`).
- **The school year** a date belongs to starts on 1 August (:func:`school_year_of`,
  :func:`school_years`); its teaching starts on 1 September (:func:`school_year_start`).
- **School days** come from the ``calendar`` table; for a school without calendar rows
  (or on dates outside the range its calendar covers) the default applies
  (:func:`default_calendar`, settings :class:`DefaultCalendar` from ``[data]``): the
  working days of China's official calendar (package ``chinesecalendar``: statutory
  holidays off, 调休 make-up weekend workdays on), minus the winter break around the lunar
  new year (春节, :data:`LUNAR_NEW_YEAR`; default 21 days before to 14 days after) and the
  summer break (default 11 July to 31 August). For years ``chinesecalendar`` does not cover
  (:data:`OFFICIAL_YEARS`) a warning is logged once and the default falls back on Monday to
  Friday with the fixed-date holidays (1 Jan, 1–5 May, 1–7 Oct).
- **Streaks** of unexcused days are counted two ways, under two names, because the rules
  and the labels really do count differently:

  - the **unexcused streak** (:func:`school_day_runs`, used for
    ``att_unexcused_streak_current`` and the 48 h / 3-day / 5-day rules) counts the
    *school days of the student's school calendar*: a day is unexcused when its worst
    session is (one unexcused afternoon makes the day), approved leave known on
    ``as_of`` is not unexcused, and a school day without a record *breaks* the run;
  - the **recorded unexcused run** (:func:`recorded_unexcused_runs`, used for the label's
    ``[train] streak_days`` positive) counts the *student's own recorded days* in date
    order: a day is unexcused only when every session recorded that day is, leave is not
    consulted, and a day without a record neither counts nor breaks the run (the label
    looks at the future, where the calendar and leave approvals are not yet settled).

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"date": pd.to_datetime(["2024-09-02", "2024-09-09"])})
>>> len(known_as_of(f, dt.date(2024, 9, 5), date_col="date"))
1
>>> school_year_of(dt.date(2025, 3, 3))
2024
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import TABLES, Tables

__all__ = [
    "known_date",
    "known_rows",
    "known_as_of",
    "known_mask",
    "valid_at",
    "latest_known",
    "day_numbers",
    "school_year_of",
    "school_years",
    "school_year_start",
    "default_calendar",
    "DefaultCalendar",
    "LUNAR_NEW_YEAR",
    "OFFICIAL_YEARS",
    "current_default_calendar",
    "use_default_calendar",
    "SchoolDays",
    "school_days",
    "school_day_runs",
    "recorded_unexcused_runs",
    "HISTORY_DAYS",
    "SCHOOL_YEAR_MONTH",
]

#: how far back (calendar days) attendance-type history is read: a school year plus the
#: July before it, so that the "last N school days" windows work on 1 September.
HISTORY_DAYS = 400

#: the month that starts a school year: a date from 1 August on belongs to the next year
SCHOOL_YEAR_MONTH = 8

_EPOCH = np.datetime64("1970-01-01", "D")

log = logging.getLogger(__name__)


def _ts(as_of: dt.date) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def day_numbers(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as ``int64`` (NaT becomes a very negative number).

    >>> day_numbers(pd.Series(pd.to_datetime(["1970-01-02"]))).tolist()
    [1]
    """
    values = np.asarray(dates, dtype="datetime64[s]").view("int64")
    # integer floor division is ~7x faster than numpy's datetime64[s] -> [D] cast
    out = values // 86400
    nat = values == np.iinfo("int64").min
    if nat.any():
        out[nat] = np.iinfo("int64").min
    return out


def _day(as_of: dt.date) -> int:
    return int((np.datetime64(_ts(as_of).date(), "D") - _EPOCH).astype("int64"))


def known_mask(
    frame: pd.DataFrame, as_of: dt.date, *, date_col: str, since: dt.date | None = None
) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` known on ``as_of`` (``date_col <= as_of``),
    optionally also dated on or after ``since``. The array form of :func:`known_as_of`.

    >>> f = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01", None])})
    >>> known_mask(f, dt.date(2024, 1, 15), date_col="d").tolist()
    [True, False, False]
    """
    days = day_numbers(frame[date_col].to_numpy())
    valid = ~np.isnat(np.asarray(frame[date_col].to_numpy(), dtype="datetime64[s]"))
    mask = valid & (days <= _day(as_of))
    if since is not None:
        mask &= days >= _day(since)
    return mask


def known_as_of(frame: pd.DataFrame, as_of: dt.date, *, date_col: str) -> pd.DataFrame:
    """Rows whose ``date_col`` is on or before ``as_of`` (rows with no date are never known)."""
    return frame.loc[known_mask(frame, as_of, date_col=date_col)]


def known_date(table: str) -> str:
    """The column of ``table`` that says when a row became known (``TableSpec.known_date``).

    >>> known_date("left_behind"), known_date("calendar")
    ('effective_date', 'date')

    Raises
    ------
    ValueError
        For a table the contract gives no knowledge date (``exam_results`` are known with
        their exam; ``schools``, ``classes``... are reference tables, not dated).
    """
    col = TABLES[table].known_date
    if col is None:
        raise ValueError(f"table {table!r} declares no known_date in features.contract.TABLES")
    return col


def known_rows(tables: Tables, table: str, as_of: dt.date, *, since: dt.date | None = None) -> pd.DataFrame:
    """The rows of ``tables.<table>`` known on ``as_of``: those whose :func:`known_date`
    column is on or before ``as_of`` (and, with ``since``, on or after ``since``).

    Rows with no date are never known. The table must be loaded (optional tables are
    ``None`` when absent: test for that first).

    >>> from features._examples import example_tables
    >>> t = example_tables(registry_events={"student_id": ["a", "b"], "event_date": ["2024-09-01", "2024-10-08"],
    ...                                     "event_type": ["enrol", "dropout_mark"]})
    >>> known_rows(t, "registry_events", dt.date(2024, 10, 1))["event_type"].tolist()
    ['enrol']
    """
    frame = getattr(tables, table)
    if frame is None:
        raise ValueError(f"table {table!r} is not loaded")
    return frame.loc[known_mask(frame, as_of, date_col=known_date(table), since=since)]


def valid_at(
    frame: pd.DataFrame, as_of: dt.date, *, from_col: str = "valid_from", to_col: str = "valid_to"
) -> pd.DataFrame:
    """Interval rows in force on ``as_of``: ``from_col <= as_of`` and ``to_col`` empty or later.

    >>> f = pd.DataFrame({"valid_from": pd.to_datetime(["2024-01-01", "2024-01-01"]),
    ...                   "valid_to": pd.to_datetime([None, "2024-03-01"])})
    >>> len(valid_at(f, dt.date(2024, 3, 1)))
    1
    """
    day = _ts(as_of)
    start = frame[from_col]
    end = frame[to_col]
    return frame.loc[(start <= day) & (end.isna() | (end > day))]


def latest_known(
    frame: pd.DataFrame, as_of: dt.date, *, date_col: str, by: str = "student_id"
) -> pd.DataFrame:
    """The latest row per ``by`` among the rows known on ``as_of``, indexed by ``by``.

    Ties on the date keep the row that comes last in the frame.

    >>> f = pd.DataFrame({"student_id": ["a", "a", "b"], "d": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05"]),
    ...                   "x": [1, 2, 3]})
    >>> latest_known(f, dt.date(2024, 1, 20), date_col="d")["x"].to_dict()
    {'a': 1, 'b': 3}
    """
    known = known_as_of(frame, as_of, date_col=date_col)
    known = known.sort_values(date_col, kind="stable")
    last = known.drop_duplicates(by, keep="last")
    out = last.set_index(by)
    if isinstance(out.index, pd.CategoricalIndex):
        out.index = pd.Index(out.index.astype("str"), name=by)
    return out.sort_index()


def school_year_of(day: dt.date) -> int:
    """The school year (starting year) a date belongs to: 1 August starts the next one."""
    return day.year if day.month >= SCHOOL_YEAR_MONTH else day.year - 1


def school_years(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """:func:`school_year_of` of many dates at once, as ``int64``.

    >>> school_years(pd.to_datetime(["2025-07-31", "2025-08-01"])).tolist()
    [2024, 2025]
    """
    d = pd.DatetimeIndex(dates)
    return np.asarray(np.where(d.month >= SCHOOL_YEAR_MONTH, d.year, d.year - 1), dtype="int64")


def school_year_start(day: dt.date) -> dt.date:
    """1 September of the school year ``day`` belongs to.

    >>> school_year_start(dt.date(2025, 1, 10))
    datetime.date(2024, 9, 1)
    """
    return dt.date(school_year_of(day), 9, 1)


_FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5)} | {(10, d) for d in range(1, 8)}

#: 春节 (lunar new year's day), Gregorian date, by year
LUNAR_NEW_YEAR: dict[int, dt.date] = {
    y: dt.date.fromisoformat(d)
    for y, d in {
        2000: "2000-02-05", 2001: "2001-01-24", 2002: "2002-02-12", 2003: "2003-02-01",
        2004: "2004-01-22", 2005: "2005-02-09", 2006: "2006-01-29", 2007: "2007-02-18",
        2008: "2008-02-07", 2009: "2009-01-26", 2010: "2010-02-14", 2011: "2011-02-03",
        2012: "2012-01-23", 2013: "2013-02-10", 2014: "2014-01-31", 2015: "2015-02-19",
        2016: "2016-02-08", 2017: "2017-01-28", 2018: "2018-02-16", 2019: "2019-02-05",
        2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
        2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
        2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03", 2031: "2031-01-23",
        2032: "2032-02-11", 2033: "2033-01-31", 2034: "2034-02-19", 2035: "2035-02-08",
    }.items()
}  # fmt: skip


def _official() -> tuple[dict[dt.date, object], dict[dt.date, object], range]:
    """chinesecalendar's statutory holidays, make-up workdays and the years it covers."""
    from chinese_calendar import constants

    years = {d.year for d in constants.holidays}
    return constants.holidays, constants.workdays, range(min(years), max(years) + 1)


#: the years whose statutory holidays and 调休 make-up days the default calendar knows
#: (those ``chinesecalendar`` publishes; a newer package release adds the next year)
OFFICIAL_YEARS: range = _official()[2]

_WARNED_YEARS: set[int] = set()


@dataclass(frozen=True)
class DefaultCalendar:
    """The school calendar assumed where the county gives none (``[data]`` settings).

    School days are the official working days (Monday to Friday, statutory holidays off,
    调休 make-up weekend workdays on; ``chinesecalendar``) outside two breaks: winter, from
    ``winter_break_before_days`` before to ``winter_break_after_days`` after the lunar new
    year's day, and summer, ``summer_break_start`` to ``summer_break_end`` (MM-DD). The
    autumn term runs from the end of summer to the winter break, the spring term from the
    winter break to summer.

    >>> DefaultCalendar().describe()[:40]
    'default calendar (chinesecalendar 1.11.0'
    """

    winter_break_before_days: int = 21
    winter_break_after_days: int = 14
    summer_break_start: str = "07-11"
    summer_break_end: str = "08-31"

    @classmethod
    def from_config(cls, data) -> DefaultCalendar:
        """The settings of a :class:`~features.config.DataConfig`."""
        return cls(
            winter_break_before_days=data.winter_break_before_days,
            winter_break_after_days=data.winter_break_after_days,
            summer_break_start=data.summer_break_start,
            summer_break_end=data.summer_break_end,
        )

    def describe(self) -> str:
        """One line for the load report: which calendar and its settings."""
        import chinese_calendar

        return (
            f"default calendar (chinesecalendar {chinese_calendar.__version__}: statutory holidays and "
            f"调休 make-up workdays {OFFICIAL_YEARS.start}-{OFFICIAL_YEARS.stop - 1}, Mon-Fri with fixed-date "
            f"holidays outside those years; winter break {self.winter_break_before_days} days before to "
            f"{self.winter_break_after_days} days after 春节; summer break {self.summer_break_start} to "
            f"{self.summer_break_end})"
        )


_ACTIVE = [DefaultCalendar()]


def current_default_calendar() -> DefaultCalendar:
    """The :class:`DefaultCalendar` in use (set by :func:`use_default_calendar`)."""
    return _ACTIVE[0]


def use_default_calendar(settings: DefaultCalendar) -> DefaultCalendar:
    """Make ``settings`` the default calendar of this process; returns the previous one.

    :func:`features.load.load_tables` calls it with the ``[data]`` settings, so the feature
    builders, the rules and the monitor (which read ``tables.calendar`` only) use the county's
    breaks where it has no calendar table.
    """
    previous = _ACTIVE[0]
    _ACTIVE[0] = settings
    return previous


def _md(text: str) -> int:
    m, d = text.split("-")
    return int(m) * 100 + int(d)


def default_calendar(start: dt.date, end: dt.date, settings: DefaultCalendar | None = None) -> pd.DataFrame:
    """The default school days between ``start`` and ``end`` (inclusive).

    Columns ``date``, ``term_id`` (``"2024-autumn"``, ``"2024-spring"``: the school year's
    starting year) and ``day_type`` (``normal``, or ``makeup`` on a 调休 weekend workday);
    school days only. ``settings``: the breaks (default :func:`current_default_calendar`).

    >>> cal = default_calendar(dt.date(2024, 9, 27), dt.date(2024, 10, 14))
    >>> cal["date"].dt.strftime("%m-%d").tolist()   # National Day 1-7 Oct; 29 Sep and 12 Oct are 调休
    ['09-27', '09-29', '09-30', '10-08', '10-09', '10-10', '10-11', '10-12', '10-14']
    >>> default_calendar(dt.date(2025, 2, 14), dt.date(2025, 2, 17))["date"].dt.day.tolist()   # after 春节
    [14, 17]
    """
    settings = settings or current_default_calendar()
    return _default_calendar(_ts(start).date(), _ts(end).date(), settings).copy()


@functools.lru_cache(maxsize=64)
def _default_calendar(start: dt.date, end: dt.date, settings: DefaultCalendar) -> pd.DataFrame:
    holidays, workdays, years = _official()
    dates = pd.date_range(_ts(start), _ts(end), freq="D")
    m, d, y = dates.month, dates.day, dates.year
    md = m * 100 + d
    summer = (md >= _md(settings.summer_break_start)) & (md <= _md(settings.summer_break_end))
    weekday = dates.day_of_week < 5
    py = dates.date
    official = np.isin(y, np.asarray(years))
    outside = sorted(set(np.unique(y[~official]).tolist()) - _WARNED_YEARS)
    if outside:
        _WARNED_YEARS.update(outside)
        log.warning(
            "the default calendar has no official holidays for %s (chinesecalendar covers %d-%d): "
            "Mon-Fri school days with fixed-date holidays only; give a calendar table, or update chinesecalendar",
            ", ".join(map(str, outside)),
            years.start,
            years.stop - 1,
        )
    holiday = np.array([day in holidays for day in py], dtype=bool)
    makeup = np.array([day in workdays for day in py], dtype=bool)
    fixed = np.array([(a, b) in _FIXED_HOLIDAYS for a, b in zip(m, d, strict=True)], dtype=bool)
    workday = np.where(official, (weekday & ~holiday) | makeup, weekday & ~fixed)
    # winter break around 春节 of the school year's spring (no table: mid-January to February)
    sy = school_years(dates)
    lny = pd.to_datetime([LUNAR_NEW_YEAR.get(int(a) + 1, dt.date(int(a) + 1, 2, 1)) for a in sy])
    day_no = dates.values.astype("datetime64[D]")
    lny_no = lny.values.astype("datetime64[D]")
    w_start = lny_no - np.timedelta64(settings.winter_break_before_days, "D")
    w_end = lny_no + np.timedelta64(settings.winter_break_after_days, "D")
    winter = (day_no >= w_start) & (day_no <= w_end)
    keep = workday & ~summer & ~winter
    kind = np.where(day_no < w_start, "autumn", "spring")[keep]
    term = pd.Series(sy[keep].astype(str), dtype="str") + "-" + pd.Series(kind, dtype="str")
    return pd.DataFrame(
        {
            "date": dates[keep].astype("datetime64[s]"),
            "term_id": term.to_numpy(),
            "day_type": np.where((makeup & ~weekday)[keep], "makeup", "normal"),
        }
    )


@dataclass(frozen=True)
class SchoolDays:
    """School days up to ``as_of`` for a set of schools, as dense ordinals.

    ``ordinal(school, day)`` is the number of the school day within that school's
    calendar window (0 = first school day on or after ``d0``), or -1 on a day without
    school. Weekends and holidays therefore never break a run of consecutive school
    days. Per-school arrays (index = school code, the position in ``schools``):

    ``last``: ordinal of the last school day on or before ``as_of`` (-1: none);
    ``term_start``: ordinal of the first day of that day's term;
    ``autumn_start`` / ``spring_start``: first school day of the autumn / spring term of
    ``as_of``'s school year (-1 when not begun by ``as_of``); the ``*_date`` arrays are
    the same as day numbers (``int64``, -1 when missing).
    """

    as_of: dt.date
    d0: int  # day number of the first day of the window
    schools: pd.Index
    table: np.ndarray  # (n_schools, n_days) int32 ordinals, -1 = no school
    last: np.ndarray
    term_start: np.ndarray
    term_start_date: np.ndarray
    autumn_start: np.ndarray
    autumn_start_date: np.ndarray
    spring_start: np.ndarray
    spring_start_date: np.ndarray

    @property
    def n_days(self) -> int:
        return self.table.shape[1]

    def ordinal(self, school_code: np.ndarray, day: np.ndarray) -> np.ndarray:
        """School-day ordinals of (school code, day number) pairs; -1 outside the window or
        on a day without school. ``school_code`` -1 gives -1."""
        offset = day - self.d0
        ok = (offset >= 0) & (offset < self.n_days) & (school_code >= 0)
        flat = np.where(ok, school_code.astype("int64") * self.n_days + offset, 0)
        out = self.table.reshape(-1)[flat]
        return np.where(ok, out, -1).astype("int32")

    def code_of(self, school_ids: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
        """School codes (positions in ``schools``) of school ids; -1 for unknown ids."""
        return np.asarray(
            self.schools.get_indexer(pd.Index(np.asarray(school_ids, dtype=object))), dtype="int64"
        )


def school_days(
    calendar: pd.DataFrame | None,
    school_ids: pd.Index | np.ndarray | list[str],
    as_of: dt.date,
    *,
    history_days: int = HISTORY_DAYS,
) -> SchoolDays:
    """Build :class:`SchoolDays` for ``school_ids`` from the ``calendar`` table (known rows
    only: dated on or before ``as_of``), falling back on :func:`default_calendar` for
    schools or dates the table does not cover.

    >>> sd = school_days(None, ["s1"], dt.date(2024, 9, 9))
    >>> int(sd.last[0]) - int(sd.term_start[0])   # Sep 2-6 and Sep 9: six school days
    5
    """
    schools = pd.Index(pd.unique(np.asarray(school_ids, dtype=object)), dtype="str").sort_values()
    end = _ts(as_of).date()
    start = end - dt.timedelta(days=history_days)
    d0 = _day(start)
    n_days = _day(end) - d0 + 1
    n_s = len(schools)

    default = default_calendar(start, end)
    parts = []
    covered = pd.DataFrame({"school_id": pd.Series([], dtype="str"), "lo": [], "hi": []})
    if calendar is not None and len(calendar):
        cal = calendar.loc[known_mask(calendar, as_of, date_col=known_date("calendar"), since=start)]
        cal = cal.loc[cal["school_id"].isin(schools)]
        if len(cal):
            grp = cal.groupby("school_id", observed=True)["date"]
            covered = pd.DataFrame({"lo": grp.min(), "hi": grp.max()}).reset_index()
            days = cal.loc[cal["is_school_day"].astype(bool)]
            term = days["term_id"].astype("str") if "term_id" in days else pd.Series(pd.NA, index=days.index)
            fallback = _default_term(days["date"])
            term = term.where(term.notna(), fallback)
            parts.append(
                pd.DataFrame(
                    {
                        "school": schools.get_indexer(days["school_id"].astype("str")),
                        "day": day_numbers(days["date"].to_numpy()),
                        "term_id": term.astype("str").to_numpy(),
                    }
                )
            )
    # default days for every school, outside the range its own calendar covers
    dflt_day = day_numbers(default["date"].to_numpy())
    cov = covered.set_index("school_id").reindex(schools)
    lo = day_numbers(cov["lo"].to_numpy()) if len(cov) else np.array([], dtype="int64")
    hi = day_numbers(cov["hi"].to_numpy()) if len(cov) else np.array([], dtype="int64")
    has = cov["lo"].notna().to_numpy()
    sch = np.repeat(np.arange(n_s), len(dflt_day))
    dd = np.tile(dflt_day, n_s)
    inside = has[sch] & (dd >= lo[sch]) & (dd <= hi[sch]) if n_s else np.zeros(0, bool)
    parts.append(
        pd.DataFrame(
            {
                "school": sch[~inside],
                "day": dd[~inside],
                "term_id": np.tile(default["term_id"].to_numpy(dtype=object), n_s)[~inside],
            }
        )
    )
    allp = pd.concat(parts, ignore_index=True).sort_values(["school", "day"], kind="stable")
    allp = allp.drop_duplicates(["school", "day"], keep="first")
    school = allp["school"].to_numpy()
    day = allp["day"].to_numpy()
    ordinal = allp.groupby("school").cumcount().to_numpy().astype("int32")
    table = np.full((n_s, n_days), -1, dtype="int32")
    table[school, day - d0] = ordinal

    last = np.full(n_s, -1, dtype="int64")
    term_start = np.full(n_s, -1, dtype="int64")
    term_start_date = np.full(n_s, -1, dtype="int64")
    autumn = np.full(n_s, -1, dtype="int64")
    autumn_date = np.full(n_s, -1, dtype="int64")
    spring = np.full(n_s, -1, dtype="int64")
    spring_date = np.full(n_s, -1, dtype="int64")
    if len(allp):
        terms = allp.assign(ordinal=ordinal)
        first = terms.groupby(["school", "term_id"], sort=False).agg(
            start=("ordinal", "min"), start_day=("day", "min")
        )
        first = first.reset_index()
        last_row = terms.groupby("school").tail(1)
        last[last_row["school"].to_numpy()] = last_row["ordinal"].to_numpy()
        cur = last_row.merge(first, on=["school", "term_id"])
        term_start[cur["school"].to_numpy()] = cur["start"].to_numpy()
        term_start_date[cur["school"].to_numpy()] = cur["start_day"].to_numpy()
        # autumn / spring term of as_of's school year, by the month the term starts
        starts = pd.to_datetime(first["start_day"].to_numpy(), unit="D")
        sy = school_years(starts)
        is_autumn = (starts.month >= 8) | (starts.month == 1)
        this_year = sy == school_year_of(end)
        for mask, o_arr, d_arr in ((is_autumn, autumn, autumn_date), (~is_autumn, spring, spring_date)):
            sel = first.loc[this_year & mask].sort_values("start").drop_duplicates("school")
            o_arr[sel["school"].to_numpy()] = sel["start"].to_numpy()
            d_arr[sel["school"].to_numpy()] = sel["start_day"].to_numpy()
    return SchoolDays(
        as_of=end,
        d0=d0,
        schools=schools,
        table=table,
        last=last,
        term_start=term_start,
        term_start_date=term_start_date,
        autumn_start=autumn,
        autumn_start_date=autumn_date,
        spring_start=spring,
        spring_start_date=spring_date,
    )


def _default_term(dates: pd.Series) -> pd.Series:
    d = pd.DatetimeIndex(dates)
    sy = school_years(d)
    kind = np.where((d.month >= 8) | (d.month == 1), "autumn", "spring")
    return pd.Series([f"{a}-{b}" for a, b in zip(sy, kind, strict=True)], index=dates.index, dtype="str")


def school_day_runs(student: np.ndarray, ordinal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive school days: the **unexcused streak** when the rows are a
    student's unexcused school days (see the module docstring for how a day is read).

    ``student`` and ``ordinal`` (school-day ordinals, :class:`SchoolDays`) are sorted by
    (student, ordinal), one row per day. A gap of one school day breaks a run; weekends and
    holidays have no ordinal, so they do not. Returns each run's student, last ordinal and
    length (``float64``).

    >>> s, last, n = school_day_runs(np.array([0, 0, 0, 1]), np.array([3, 4, 6, 2]))
    >>> s.tolist(), last.tolist(), n.tolist()
    ([0, 0, 1], [4, 6, 2], [2.0, 1.0, 1.0])
    """
    if not len(student):
        e = np.zeros(0, dtype="int64")
        return e, e, e
    brk = np.ones(len(student), dtype=bool)
    brk[1:] = (student[1:] != student[:-1]) | (ordinal[1:] != ordinal[:-1] + 1)
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], len(student)) - 1
    return (
        student[ends].astype("int64"),
        ordinal[ends].astype("int64"),
        (ends - starts + 1).astype("float64"),
    )


def recorded_unexcused_runs(attendance: pd.DataFrame, min_days: int) -> pd.DataFrame:
    """Every day of every **recorded unexcused run** at least ``min_days`` long.

    The label's streak (``[train] streak_days``), not the rules' one: the student's own
    recorded days in date order, a day unexcused when every session recorded that day is
    ``unexcused``; days without a row neither count nor break a run; the calendar and leave
    are not read. Returns columns ``sid`` (the ``student_id`` category code), ``date`` and
    ``run`` (a run id), sorted by student and date.

    >>> att = pd.DataFrame({"student_id": pd.Categorical(["a"] * 4),
    ...     "date": pd.to_datetime(["2024-09-02", "2024-09-03", "2024-09-09", "2024-09-10"]),
    ...     "status": ["unexcused", "unexcused", "unexcused", "present"]})
    >>> recorded_unexcused_runs(att, 3)["date"].dt.strftime("%m-%d").tolist()
    ['09-02', '09-03', '09-09']
    """
    sid = attendance["student_id"]
    sid = sid.cat.codes.to_numpy() if isinstance(sid.dtype, pd.CategoricalDtype) else sid.to_numpy()
    unx = attendance["status"].eq("unexcused").to_numpy(bool)
    # a run of min_days unexcused days needs that many unexcused rows: only the students with
    # as many are grouped by day (a few percent of the rows of a county's year)
    counts = pd.Series(sid[unx]).value_counts()
    rows = np.flatnonzero(pd.Series(sid).isin(counts.index[counts >= max(min_days, 1)]).to_numpy())
    frame = pd.DataFrame({"sid": sid[rows], "date": attendance["date"].to_numpy()[rows], "unx": unx[rows]})
    day = frame.groupby(["sid", "date"], sort=True)["unx"].min().reset_index()
    s = day["sid"].to_numpy()
    unx = day["unx"].to_numpy()
    new_run = np.ones(len(s), dtype=bool)
    new_run[1:] = (s[1:] != s[:-1]) | (unx[1:] != unx[:-1])
    run = np.cumsum(new_run)
    size = np.bincount(run)[run]
    long = unx & (size >= min_days)
    return pd.DataFrame({"sid": s[long], "date": day["date"].to_numpy()[long], "run": run[long]})
