"""Attendance features (考勤): absence, unexcused streaks, leave, lateness and the DOMAIN.md rules.

Everything is counted in *school days* of the student's school (``calendar`` table or
the default calendar, see :mod:`features._time`), never calendar days, so weekends and
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

from features._time import day_numbers, known_mask, school_days
from features.cohort import _settings, _spine
from features.config import BaoxueConfig, FeaturesConfig
from features.contract import Tables

__all__ = ["attendance_features", "attendance_columns"]

# status codes = positions in the contract's category list
_PRESENT, _LATE, _LEFT_EARLY, _SICK, _PERSONAL, _UNEXCUSED = range(6)
_EVENING = 3  # position of "evening" in the session categories


def attendance_columns(config: BaoxueConfig | FeaturesConfig | None = None) -> list[str]:
    """The columns :func:`attendance_features` returns, in order.

    >>> attendance_columns()[:3]
    ['att_recorded_days_term', 'att_absence_rate_term', 'att_unexcused_rate_term']
    """
    fc, _ = _settings(config)
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
        "att_leave_over5_term",
        "att_return_late_spring",
        "att_return_late_autumn",
        "att_rule_48h",
        "att_rule_3day",
        "att_rule_5day",
    ]
    return cols


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _runs(stu: np.ndarray, ordn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive school days in arrays sorted by (student, ordinal).

    Returns each run's student, last ordinal and length.
    """
    if not len(stu):
        e = np.zeros(0, dtype="int64")
        return e, e, e
    brk = np.ones(len(stu), dtype=bool)
    brk[1:] = (stu[1:] != stu[:-1]) | (ordn[1:] != ordn[:-1] + 1)
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], len(stu)) - 1
    return stu[ends], ordn[ends], ends - starts + 1


def attendance_features(
    tables: Tables,
    as_of: dt.date,
    *,
    config: BaoxueConfig | FeaturesConfig | None = None,
    cohort: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Attendance features of the cohort on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Validated tables; reads ``attendance``, ``calendar`` and ``leave_requests``.
    as_of : date
        Only rows dated on or before this day are read.
    config : BaoxueConfig or FeaturesConfig, optional
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
    >>> import pandas as pd
    >>> from features.load import tables_from_frames
    >>> days = ["2024-09-02", "2024-09-03", "2024-09-04"]
    >>> frames = {
    ...     "students": pd.DataFrame({"student_id": ["a"], "valid_from": ["2024-09-01"], "school_id": ["s1"],
    ...                               "grade": [7], "sex": ["M"], "birth_ym": ["2011-03"]}),
    ...     "attendance": pd.DataFrame({"student_id": ["a"] * 3, "date": days,
    ...                                 "status": ["present", "unexcused", "unexcused"]}),
    ...     "exams": pd.DataFrame({"exam_id": ["e1"], "school_id": ["s1"], "grade": [7],
    ...                            "exam_type": ["final"], "exam_date": ["2025-01-10"]}),
    ...     "exam_results": pd.DataFrame({"student_id": ["a"], "exam_id": ["e1"], "subject": ["math"],
    ...                                   "score": [88.0], "full_marks": [100.0]}),
    ...     "registry_events": pd.DataFrame({"student_id": ["a"], "event_date": ["2024-09-01"],
    ...                                      "event_type": ["enrol"]}),
    ... }
    >>> f = attendance_features(tables_from_frames(frames).tables, dt.date(2024, 9, 4))
    >>> f.loc["a", ["att_unexcused_streak_current", "att_rule_48h", "att_rule_3day"]].tolist()
    [2.0, 1.0, 0.0]
    """
    fc, rules = _settings(config)
    spine = _spine(tables, as_of, cohort)
    n_all = len(tables.student_ids)
    cols = attendance_columns(fc)
    if not len(spine):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}, index=spine.index)

    sd = school_days(tables.calendar, spine["school_id"].astype("str").to_numpy(), as_of)
    stu_school = np.full(n_all, -1, dtype="int64")
    spine_codes = spine["code"].to_numpy()
    stu_school[spine_codes] = sd.code_of(spine["school_id"].astype("str").to_numpy())

    att = tables.attendance
    since = dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + sd.d0)
    keep = known_mask(att, as_of, date_col="date", since=since)
    codes = att["student_id"].cat.codes.to_numpy()
    status = att["status"].cat.codes.to_numpy()
    session = att["session"].cat.codes.to_numpy() if "session" in att else None
    keep &= status >= 0
    if session is not None:
        keep &= session != _EVENING
    idx = np.flatnonzero(keep)
    r_code = codes[idx].astype("int64")
    r_school = stu_school[r_code]
    r_ord = sd.ordinal(r_school, day_numbers(att["date"].to_numpy()[idx]))
    ok = r_ord >= 0  # cohort student, on a school day of their school
    r_code, r_school, r_ord = r_code[ok], r_school[ok], r_ord[ok].astype("int64")
    r_status = status[idx][ok].astype("int64")

    n_ord = int(sd.n_days)
    term_start = sd.term_start  # per school
    last = sd.last

    # session-level lateness in the term
    in_term_row = r_ord >= term_start[r_school]
    late = np.bincount(r_code[in_term_row & (r_status == _LATE)], minlength=n_all).astype("float64")
    left_early = np.bincount(r_code[in_term_row & (r_status == _LEFT_EARLY)], minlength=n_all).astype(
        "float64"
    )

    # one value per (student, school day): the worst session; packed key sort
    packed = (r_code * n_ord + r_ord) * 8 + r_status
    if len(packed) > 1 and not bool(np.all(packed[1:] >= packed[:-1])):
        packed = np.sort(packed)
    day_key = packed >> 3
    is_last = np.ones(len(packed), dtype=bool)
    is_last[:-1] = day_key[1:] != day_key[:-1]
    day_key = day_key[is_last]
    st = packed[is_last] & 7
    s = day_key // n_ord
    o = day_key - s * n_ord

    # approved leave known on as_of turns covered unexcused days into leave
    covered = _approved_leave_keys(tables.leave_requests, as_of, sd, stu_school, n_ord)
    if len(covered):
        unex = np.flatnonzero(st == _UNEXCUSED)
        hit = np.isin(day_key[unex], covered)
        st = st.copy()
        st[unex[hit]] = _PERSONAL

    sch = stu_school[s]
    lo = last[sch]
    in_term = o >= term_start[sch]
    absent = st >= _SICK
    unexcused = st == _UNEXCUSED
    leave = absent & ~unexcused
    present = ~absent

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(s[mask], minlength=n_all).astype("float64")

    rec_term = count(in_term)
    out: dict[str, np.ndarray] = {}
    out["att_recorded_days_term"] = rec_term
    out["att_absence_rate_term"] = _ratio(count(in_term & absent), rec_term)
    out["att_unexcused_rate_term"] = _ratio(count(in_term & unexcused), rec_term)
    wins = sorted(fc.recent_windows)
    for w in wins:
        in_w = o > lo - w
        rec = count(in_w)
        unex_w = count(in_w & unexcused)
        out[f"att_absence_rate_{w}d"] = _ratio(count(in_w & absent), rec)
        out[f"att_unexcused_rate_{w}d"] = _ratio(unex_w, rec)
        out[f"att_unexcused_days_{w}d"] = np.where(rec > 0, unex_w, np.nan)
    w = wins[-1]
    before = in_term & (o <= lo - w)
    out[f"att_absence_trend_{w}d"] = out[f"att_absence_rate_{w}d"] - _ratio(
        count(before & absent), count(before)
    )

    # streaks of consecutive unexcused school days
    rs, rend, rlen = _runs(s[unexcused], o[unexcused])
    current = np.zeros(n_all)
    cur = rend == last[stu_school[rs]]
    current[rs[cur]] = rlen[cur]
    sel = unexcused & in_term
    rs, _, rlen = _runs(s[sel], o[sel])
    longest = np.zeros(n_all)
    np.maximum.at(longest, rs, rlen)
    has_term = rec_term > 0
    out["att_unexcused_streak_current"] = np.where(has_term, current, np.nan)
    out["att_unexcused_streak_max_term"] = np.where(has_term, longest, np.nan)

    # school days since the last day present (late and left early count as present)
    last_present = np.full(n_all, -1, dtype="int64")
    ps, po = s[present], o[present]
    np.maximum.at(last_present, ps, po)
    gap = (last[stu_school] - last_present).astype("float64")
    out["att_days_since_present"] = np.where(last_present >= 0, gap, np.nan)

    out["att_late_count_term"] = np.where(has_term, late, np.nan)
    out["att_left_early_count_term"] = np.where(has_term, left_early, np.nan)
    out["att_leave_days_term"] = np.where(has_term, count(in_term & leave), np.nan)
    sel = leave & in_term
    rs, _, rlen = _runs(s[sel], o[sel])
    longest_leave = np.zeros(n_all)
    np.maximum.at(longest_leave, rs, rlen)
    out["att_leave_over5_term"] = np.where(
        has_term, (longest_leave > rules.principal_leave_days).astype("float64"), np.nan
    )

    # return lateness: school days from a term's first day to the first day present
    for name, start in (
        ("att_return_late_spring", sd.spring_start),
        ("att_return_late_autumn", sd.autumn_start),
    ):
        st_ord = start[sch]
        after = (st_ord >= 0) & (o >= st_ord)
        first_present = np.full(n_all, np.iinfo("int64").max, dtype="int64")
        np.minimum.at(first_present, s[after & present], o[after & present])
        any_rec = count(after) > 0
        s_start = start[stu_school]
        back = first_present < np.iinfo("int64").max
        lateness = np.where(back, first_present - s_start, last[stu_school] - s_start + 1).astype("float64")
        out[name] = np.where(any_rec & (s_start >= 0), lateness, np.nan)

    streak = out["att_unexcused_streak_current"]
    flag = lambda m: np.where(np.isnan(streak), np.nan, m.astype("float64"))  # noqa: E731
    out["att_rule_48h"] = flag(streak >= rules.report_48h_days)
    out["att_rule_3day"] = flag(streak > rules.suspected_dropout_days)
    out["att_rule_5day"] = flag(streak >= rules.registry_update_days)

    frame = pd.DataFrame({c: out[c][spine_codes] for c in cols}, index=spine.index)
    return frame


def _approved_leave_keys(
    leave: pd.DataFrame | None, as_of: dt.date, sd, stu_school: np.ndarray, n_ord: int
) -> np.ndarray:
    """Sorted packed (student, school day) keys covered by approved leave known on ``as_of``."""
    if leave is None or not len(leave):
        return np.zeros(0, dtype="int64")
    lv = leave.loc[known_mask(leave, as_of, date_col="start_date")]
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
