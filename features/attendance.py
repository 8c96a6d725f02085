"""Attendance features (考勤): absence, unexcused streaks, leave, lateness and the DOMAIN.md rules.

Everything is counted in *school days* of the student's school (``calendar`` table or
the default calendar, see :mod:`features.time`), never calendar days, so weekends and
holidays neither count as absence nor break a streak.

How a day is read:

- A school day's status is the worst of its ``day``/``am``/``pm`` sessions, in the
  contract's order present < late < left_early < leave_sick < leave_personal <
  unexcused (an unexcused afternoon makes an unexcused day). ``evening`` sessions
  (boarders' self-study) do not make a day absent.
- An unexcused day covered by an *approved* leave request known on ``as_of``
  (``start_date <= day <= end_date``) counts as leave, not unexcused.
- A school day without a row is *unknown*: it is neither present nor absent, it is
  left out of every denominator, and it breaks a streak. Rates are therefore
  "share of recorded school days". A window with no recorded day gives NaN.
- "Term" is the term of the last school day on or before ``as_of`` (during a break,
  the term just ended). "Last N days" are the school's last N school days on or before
  ``as_of``, across a term boundary if need be.
- The school is the one in the student's ``students`` row in force on ``as_of``; a
  student who moved school mid-term is counted on the new school's calendar.

The hot path is vectorised numpy on integer keys: one sort of packed
``(student, school day, status)`` keys, then ``bincount`` per window.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.cohort import spine_of
from features.config import BaoxueConfig, feature_settings
from features.contract import Tables
from features.names import feature_names
from features.rulebook import STREAK_RULES
from features.time import day_numbers, known_date, known_rows, school_day_runs, school_days

__all__ = ["attendance_features", "attendance_columns"]

# status codes = positions in the contract's category list
_PRESENT, _LATE, _LEFT_EARLY, _SICK, _PERSONAL, _UNEXCUSED = range(6)
_EVENING = 3  # position of "evening" in the session categories
#: the features of change read the last this many school weeks of 5 school days each
CHANGE_WEEKS = 8
_WEEK_DAYS = 5


def attendance_columns(config: BaoxueConfig | None = None) -> list[str]:
    """The columns :func:`attendance_features` returns, in order.

    >>> attendance_columns()[:3]
    ['att_recorded_days_term', 'att_absence_rate_term', 'att_unexcused_rate_term']
    """
    fc, _ = feature_settings(config)
    names = feature_names(config)
    wins = sorted(fc.recent_windows)
    cols = ["att_recorded_days_term", "att_absence_rate_term", "att_unexcused_rate_term"]
    for w in wins:
        cols += [f"att_absence_rate_{w}d", f"att_unexcused_rate_{w}d", f"att_unexcused_days_{w}d"]
    cols += [
        f"att_absence_trend_{wins[-1]}d",
        "att_unexcused_streak_current",
        "att_unexcused_streak_max_term",
        "att_days_since_present",
        "att_late_count_term",
        "att_left_early_count_term",
        "att_leave_days_term",
        names.long_leave,
        "att_return_late_spring",
        "att_return_late_autumn",
        "att_rule_48h",
        "att_rule_3day",
        "att_rule_5day",
        f"att_unexcused_days_{CHANGE_WEEKS}w",
        f"att_unexcused_slope_{CHANGE_WEEKS}w",
        f"att_unexcused_onset_{CHANGE_WEEKS}w",
    ]
    return cols


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _group_ends(keys: np.ndarray) -> np.ndarray:
    """Positions of the last element of each run of equal values in sorted ``keys``."""
    if not len(keys):
        return np.zeros(0, dtype="int64")
    return np.flatnonzero(np.append(keys[1:] != keys[:-1], True))


def attendance_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Attendance features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Validated tables; reads ``attendance``, ``calendar`` and ``leave_requests``.
    as_of : date
        Only rows dated on or before this day are read.
    config : BaoxueConfig, optional
        Windows (``features.recent_windows``) and rule thresholds (``rules``).
    cohort : DataFrame, optional
        The output of :func:`features.cohort.cohort` for ``as_of`` (computed if omitted).

    Returns
    -------
    DataFrame
        Indexed by ``student_id``; columns :func:`attendance_columns`, all ``float64``
        (counts and 0/1 flags carry NaN when nothing was recorded).

    Examples
    --------
    >>> days = ["2024-09-02", "2024-09-03", "2024-09-04"]
    >>> from features._examples import example_tables
    >>> tables = example_tables(attendance={"student_id": ["a"] * 3, "date": days,
    ...                                     "status": ["present", "unexcused", "unexcused"]})
    >>> f = attendance_features(tables, dt.date(2024, 9, 4))
    >>> f.loc["a", ["att_unexcused_streak_current", "att_rule_48h", "att_rule_3day"]].tolist()
    [2.0, 1.0, 0.0]
    """
    fc, rules = feature_settings(config)
    spine = spine_of(tables, as_of, cohort)
    n_all = len(tables.student_ids)
    cols = attendance_columns(config)
    if not len(spine):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}, index=spine.index)

    sd = school_days(tables.calendar, spine["school_id"].astype("str").to_numpy(), as_of)
    stu_school = np.full(n_all, -1, dtype="int64")
    spine_codes = spine["code"].to_numpy()
    stu_school[spine_codes] = sd.code_of(spine["school_id"].astype("str").to_numpy())
    n_ord = int(sd.n_days)
    last = sd.last
    wins = sorted(fc.recent_windows)
    acc = _Scan(
        n_all=n_all,
        n_ord=n_ord,
        wins=wins,
        sd=sd,
        stu_school=stu_school,
        covered=_approved_leave_keys(tables, as_of, sd, stu_school, n_ord),
    )
    att = tables.attendance
    codes = att["student_id"].cat.codes.to_numpy()
    # the scan keeps the rows known on as_of itself (dated up to as_of, in the window)
    sec = np.asarray(att[known_date("attendance")].to_numpy(), dtype="datetime64[s]").view("int64")
    status = att["status"].cat.codes.to_numpy()
    session = att["session"].cat.codes.to_numpy() if "session" in att else None
    for rows in _student_chunks(codes, _CHUNK_ROWS):
        acc.scan(codes[rows], sec[rows], status[rows], None if session is None else session[rows])
    late, left_early = acc.late[:, 0], acc.late[:, 1]

    # every count is a sum of the (student, window bucket, in term, status) cube
    nb = len(wins) + 1
    cube = acc.cube.astype("float64")
    absent_c = cube[..., _SICK:].sum(-1)  # (n_all, nb, 2)
    unex_c = cube[..., _UNEXCUSED]
    leave_c = cube[..., _SICK] + cube[..., _PERSONAL]
    rec_c = cube.sum(-1)

    def within(arr: np.ndarray, w_index: int | None = None, term: bool | None = None) -> np.ndarray:
        """Sum over window buckets < w_index (None: all) and the term half (None: both)."""
        a = arr if w_index is None else arr[:, :w_index]
        a = a if term is None else a[:, :, 1 if term else 0]
        return a.reshape(n_all, -1).sum(1)

    rec_term = within(rec_c, term=True)
    out: dict[str, np.ndarray] = {}
    out["att_recorded_days_term"] = rec_term
    out["att_absence_rate_term"] = _ratio(within(absent_c, term=True), rec_term)
    out["att_unexcused_rate_term"] = _ratio(within(unex_c, term=True), rec_term)
    for i, w in enumerate(wins):
        rec = within(rec_c, i + 1)
        unex_w = within(unex_c, i + 1)
        out[f"att_absence_rate_{w}d"] = _ratio(within(absent_c, i + 1), rec)
        out[f"att_unexcused_rate_{w}d"] = _ratio(unex_w, rec)
        out[f"att_unexcused_days_{w}d"] = np.where(rec > 0, unex_w, np.nan)
    w = wins[-1]
    before_abs = absent_c[:, nb - 1, 1]
    before_rec = rec_c[:, nb - 1, 1]
    out[f"att_absence_trend_{w}d"] = out[f"att_absence_rate_{w}d"] - _ratio(before_abs, before_rec)
    leave_term = within(leave_c, term=True)

    has_term = rec_term > 0
    out["att_unexcused_streak_current"] = np.where(has_term, acc.current, np.nan)
    out["att_unexcused_streak_max_term"] = np.where(has_term, acc.longest, np.nan)
    gap = (last[stu_school] - acc.last_present).astype("float64")
    out["att_days_since_present"] = np.where(acc.last_present >= 0, gap, np.nan)
    out["att_late_count_term"] = np.where(has_term, late, np.nan)
    out["att_left_early_count_term"] = np.where(has_term, left_early, np.nan)
    out["att_leave_days_term"] = np.where(has_term, leave_term, np.nan)
    out[feature_names(config).long_leave] = np.where(
        has_term, (acc.longest_leave > rules.principal_leave_days).astype("float64"), np.nan
    )
    for name, (stu_start, any_rec, first_present) in acc.returns.items():
        back = first_present >= 0
        lateness = np.where(back, first_present - stu_start, acc.stu_last - stu_start + 1).astype("float64")
        out[name] = np.where(any_rec & (stu_start >= 0), lateness, np.nan)

    # features of change (a precursor ramp: unexcused absence rising over weeks)
    weeks = acc.weekly.astype("float64")  # (n_all, CHANGE_WEEKS, [recorded, unexcused])
    rec_w, unex_w = weeks[..., 0], weeks[..., 1]
    any_rec = rec_w.sum(1) > 0
    out[f"att_unexcused_days_{CHANGE_WEEKS}w"] = np.where(any_rec, unex_w.sum(1), np.nan)
    out[f"att_unexcused_slope_{CHANGE_WEEKS}w"] = _weekly_slope(unex_w, rec_w)
    out[f"att_unexcused_onset_{CHANGE_WEEKS}w"] = np.where(
        acc.first_unexcused >= 0, acc.first_unexcused, np.nan
    )

    streak = out["att_unexcused_streak_current"]
    flag = lambda m: np.where(np.isnan(streak), np.nan, m.astype("float64"))  # noqa: E731
    for rule in STREAK_RULES:  # the registry's comparisons, the same that risk.rules evaluates
        out[rule.flag] = flag(rule.fires(streak, rules))

    frame = pd.DataFrame({c: out[c][spine_codes] for c in cols}, index=spine.index)
    return frame


def _weekly_slope(unexcused: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """Least-squares slope of the weekly unexcused share, per school week (newest week last).

    Column ``k`` of the ``(students, weeks)`` counts is the ``k``-th week before the latest
    (0 = the latest); weeks without a recorded day are left out, and fewer than two recorded
    weeks give NaN.

    >>> _weekly_slope(np.array([[2.0, 0.0, 0.0]]), np.array([[5.0, 5.0, 0.0]])).round(3).tolist()
    [0.4]
    """
    has = recorded > 0
    y = np.where(has, unexcused / np.maximum(recorded, 1), 0.0)
    x = -np.arange(unexcused.shape[1], dtype="float64")[None, :] * has
    n = has.sum(1).astype("float64")
    sx, sy = x.sum(1), y.sum(1)
    sxx, sxy = (x * x).sum(1), (x * y).sum(1)
    den = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (den > 0), (n * sxy - sx * sy) / den, np.nan)


#: attendance rows scanned at a time: every temporary is a few MiB and stays in cache, and
#: memory does not grow with the county
_CHUNK_ROWS = 1 << 20


def _student_chunks(codes: np.ndarray, chunk_rows: int) -> list[np.ndarray | slice]:
    """Row selections of about ``chunk_rows`` rows that hold every row of their students.

    Rows sorted by student (the usual export order) give contiguous slices; otherwise the
    rows are ordered by student once, by sorting ``student << 32 | row`` packed into one
    int64 (much faster than ``argsort``).
    """
    n = len(codes)
    if n <= 1 or bool(np.all(codes[1:] >= codes[:-1])):
        order, sorted_codes = None, codes
    else:
        order = codes.astype("int64") << 32
        order |= np.arange(n, dtype="int64")
        order.sort()
        sorted_codes = (order >> 32).astype(codes.dtype)
        order &= 0xFFFFFFFF
    # cut before the first row of the student at every chunk_rows-th row
    cuts = np.searchsorted(sorted_codes, sorted_codes[np.arange(0, n, chunk_rows)], side="left")
    bounds = np.unique(np.append(cuts, n))
    pieces = zip(bounds[:-1], bounds[1:], strict=True)
    return [slice(a, b) if order is None else order[a:b] for a, b in pieces]


class _Scan:
    """Per-student accumulators of the attendance features, filled one chunk of students at
    a time (:meth:`scan`); a student's rows are all in one chunk."""

    def __init__(
        self, *, n_all: int, n_ord: int, wins: list[int], sd, stu_school: np.ndarray, covered: np.ndarray
    ) -> None:
        self.n_ord = n_ord
        self.nb = len(wins) + 1
        self.covered = covered
        has = stu_school >= 0
        self.stu_term_start = np.where(has, sd.term_start[stu_school], 0).astype("int32")
        self.stu_last = np.where(has, sd.last[stu_school], -1).astype("int32")
        # the school-day table with one extra row of -1 for students outside the cohort
        self.table = np.vstack([sd.table, np.full((1, sd.n_days), -1, dtype="int32")]).reshape(-1)
        self.row_base = np.where(has, stu_school, len(sd.table)).astype("int64") * sd.n_days
        self.lo_sec = int(sd.d0) * 86400
        self.hi_sec = (int(sd.d0) + sd.n_days) * 86400  # the day after as_of
        # window bucket of "school days before the last one" (0 = within the shortest window)
        self.bucket_of = (np.arange(n_ord + 1)[:, None] >= np.array(wins)[None, :]).sum(1).astype("int64")
        self.cube = np.zeros((n_all, self.nb, 2, 6), dtype="int32")
        self.late = np.zeros((n_all, 2))
        self.current = np.zeros(n_all)
        self.longest = np.zeros(n_all)
        self.longest_leave = np.zeros(n_all)
        self.last_present = np.full(n_all, -1, dtype="int64")
        # recorded and unexcused school days per school week before the last school day, and
        # the age in school days of the first unexcused day in those weeks (-1: none)
        self.weekly = np.zeros((n_all, CHANGE_WEEKS, 2), dtype="int32")
        self.first_unexcused = np.full(n_all, -1, dtype="int64")
        self.returns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, start in (
            ("att_return_late_spring", sd.spring_start),
            ("att_return_late_autumn", sd.autumn_start),
        ):
            stu_start = np.where(has, start[np.maximum(stu_school, 0)], -1)
            self.returns[name] = (stu_start, np.zeros(n_all, bool), np.full(n_all, -1, dtype="int64"))

    def scan(self, code: np.ndarray, sec: np.ndarray, status: np.ndarray, session: np.ndarray | None) -> None:
        """Add the attendance rows of one chunk of students (all of their rows)."""
        if not len(code):
            return
        n_ord = self.n_ord
        # rows known on as_of, inside the window, with a status, not an evening session
        keep = (sec >= self.lo_sec) & (sec < self.hi_sec) & (status >= 0)
        if session is not None:
            keep &= session != _EVENING
        if not keep.all():
            idx = np.flatnonzero(keep)
            code, sec, status = code[idx], sec[idx], status[idx]
        del keep
        # school-day ordinal of each row on its student's school calendar (-1: no school)
        o = self.table[self.row_base[code] + (sec - self.lo_sec) // 86400]
        ok = o >= 0
        if not ok.all():
            code, o, status = code[ok], o[ok], status[ok]
        if not len(code):
            return
        lo, hi = int(code[0]), int(code[-1]) + 1  # chunks come in student order
        n_c = hi - lo
        s = (code - lo).astype("int64")

        # one value per (student, school day): the worst session; one sort of packed keys
        packed = (s * n_ord + o) * 8 + status
        was_unsorted = len(packed) > 1 and not bool(np.all(packed[1:] >= packed[:-1]))
        if was_unsorted:
            packed.sort()
        day_key = packed >> 3
        dup = day_key[1:] == day_key[:-1]
        has_dup = bool(dup.any())
        if has_dup:
            # session-level lateness is counted on the rows, before days are merged
            self._add_late(s, o, status, lo, hi)
            keep_last = np.append(~dup, True)
            packed, day_key = packed[keep_last], day_key[keep_last]
        if has_dup or was_unsorted:
            st = (packed & 7).astype("int8")
            s = day_key // n_ord
            o = (day_key - s * n_ord).astype("int32")
        else:  # the common case: rows already one per school day, in order
            st = status.astype("int8", copy=True)
        del packed, dup, code, sec, status

        # approved leave known on as_of turns covered unexcused days into leave
        cov = self.covered
        if len(cov):
            a, b = np.searchsorted(cov, [lo * n_ord, hi * n_ord])
            if b > a:
                unex = np.flatnonzero(st == _UNEXCUSED)
                hit = np.isin(day_key[unex], cov[a:b] - lo * n_ord)
                st[unex[hit]] = _PERSONAL

        last_c = self.stu_last[lo:hi]
        term_c = self.stu_term_start[lo:hi]
        in_term = o >= term_c[s]
        key = ((s * self.nb + self.bucket_of[last_c[s] - o]) * 2 + in_term) * 6 + st
        cube = np.bincount(key, minlength=n_c * self.nb * 12).reshape(n_c, self.nb, 2, 6)
        del key
        self.cube[lo:hi] += cube
        if not has_dup:  # one row per day: lateness counts are cells of the cube
            self.late[lo:hi] += cube[:, :, 1, _LATE : _LEFT_EARLY + 1].sum(1)

        # weekly counts of the last CHANGE_WEEKS school weeks, and the first unexcused day there
        unexcused = st == _UNEXCUSED
        age = last_c[s] - o
        week = age // _WEEK_DAYS
        inside = week < CHANGE_WEEKS
        wkey = (s[inside] * CHANGE_WEEKS + week[inside]) * 2 + unexcused[inside]
        counts = np.bincount(wkey, minlength=n_c * CHANGE_WEEKS * 2).reshape(n_c, CHANGE_WEEKS, 2)
        self.weekly[lo:hi, :, 0] += counts.sum(-1)
        self.weekly[lo:hi, :, 1] += counts[..., 1]
        first = inside & unexcused
        np.maximum.at(self.first_unexcused, lo + s[first], age[first].astype("int64"))

        # the unexcused streak (features.time): runs of consecutive unexcused school days
        rs, rend, rlen = school_day_runs(s[unexcused], o[unexcused])
        cur = rend == last_c[rs]
        self.current[lo + rs[cur]] = rlen[cur]
        sel = unexcused & in_term
        rs, _, rlen = school_day_runs(s[sel], o[sel])
        np.maximum.at(self.longest, lo + rs, rlen)
        sel = (st >= _SICK) & ~unexcused & in_term
        rs, _, rlen = school_day_runs(s[sel], o[sel])
        np.maximum.at(self.longest_leave, lo + rs, rlen)

        # the last day present (late and left early count as present)
        present = st < _SICK
        present_key = day_key[present]
        tail = _group_ends(present_key // n_ord)
        self.last_present[lo + present_key[tail] // n_ord] = present_key[tail] % n_ord

        # return lateness: the first day present on or after a term's first day
        first_of = np.arange(n_c, dtype="int64") * n_ord
        limit = first_of + n_ord  # first key of the next student
        for stu_start, any_rec, first_present in self.returns.values():
            start_c = stu_start[lo:hi]
            query = first_of + np.maximum(start_c, 0)
            any_rec[lo:hi] = np.searchsorted(day_key, query) < np.searchsorted(day_key, limit)
            pos = np.searchsorted(present_key, query)
            found = present_key[np.minimum(pos, len(present_key) - 1)] if len(present_key) else query - 1
            back = (pos < len(present_key)) & (found < limit)
            first_present[lo:hi] = np.where(back, found - first_of, -1)

    def _add_late(self, s: np.ndarray, o: np.ndarray, status: np.ndarray, lo: int, hi: int) -> None:
        """Late and left-early sessions in the term, counted per row."""
        lateish = np.flatnonzero((status == _LATE) | (status == _LEFT_EARLY))
        ls = s[lateish]
        in_term = o[lateish] >= self.stu_term_start[lo + ls]
        lk = ls[in_term] * 2 + (status[lateish][in_term] == _LEFT_EARLY)
        self.late[lo:hi] += np.bincount(lk, minlength=2 * (hi - lo)).reshape(hi - lo, 2)


def _approved_leave_keys(
    tables: Tables, as_of: dt.date, sd, stu_school: np.ndarray, n_ord: int
) -> np.ndarray:
    """Sorted packed (student, school day) keys covered by approved leave known on ``as_of``."""
    if tables.leave_requests is None or not len(tables.leave_requests):
        return np.zeros(0, dtype="int64")
    lv = known_rows(tables, "leave_requests", as_of)
    lv = lv.loc[lv["approved"].fillna(False).astype(bool).to_numpy()] if "approved" in lv else lv.iloc[:0]
    if not len(lv):
        return np.zeros(0, dtype="int64")
    code = lv["student_id"].cat.codes.to_numpy().astype("int64")
    start = day_numbers(lv["start_date"].to_numpy())
    end = day_numbers(lv["end_date"].to_numpy())
    end = np.minimum(end, sd.d0 + sd.n_days - 1)
    start = np.maximum(start, sd.d0)
    length = np.maximum(end - start + 1, 0)
    rep = np.repeat(np.arange(len(code)), length)
    offs = np.arange(len(rep)) - np.repeat(np.cumsum(length) - length, length)
    day = start[rep] + offs
    c = code[rep]
    o = sd.ordinal(stu_school[c], day).astype("int64")
    ok = o >= 0
    return np.unique(c[ok] * n_ord + o[ok])
