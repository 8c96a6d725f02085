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


def _group_ends(keys: np.ndarray) -> np.ndarray:
    """Positions of the last element of each run of equal values in sorted ``keys``."""
    if not len(keys):
        return np.zeros(0, dtype="int64")
    return np.flatnonzero(np.append(keys[1:] != keys[:-1], True))


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
    return stu[ends].astype("int64"), ordn[ends].astype("int64"), (ends - starts + 1).astype("float64")


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
    stu_school32 = stu_school.astype("int32")

    att = tables.attendance
    since = dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + sd.d0)
    keep = known_mask(att, as_of, date_col="date", since=since)
    codes = att["student_id"].cat.codes.to_numpy()
    status = att["status"].cat.codes.to_numpy()
    keep &= status >= 0
    if "session" in att:
        keep &= att["session"].cat.codes.to_numpy() != _EVENING
    if keep.all():
        r_code, r_status, r_sec = codes, status, att["date"].to_numpy()
    else:
        idx = np.flatnonzero(keep)
        r_code, r_status, r_sec = codes[idx], status[idx], att["date"].to_numpy()[idx]
    del keep
    r_school = stu_school32[r_code]
    r_ord = sd.ordinal(r_school, day_numbers(r_sec))
    ok = r_ord >= 0  # cohort student, on a school day of their school
    if not ok.all():
        r_code, r_school, r_ord, r_status = r_code[ok], r_school[ok], r_ord[ok], r_status[ok]
    del ok

    n_ord = int(sd.n_days)
    term_start = sd.term_start  # per school
    last = sd.last
    stu_term_start = np.where(stu_school >= 0, term_start[stu_school], 0).astype("int32")
    stu_last = np.where(stu_school >= 0, last[stu_school], -1).astype("int32")

    # session-level lateness in the term
    lateish = np.flatnonzero((r_status == _LATE) | (r_status == _LEFT_EARLY))
    lc = r_code[lateish].astype("int64")
    in_term_late = r_ord[lateish] >= stu_term_start[lc]
    lk = lc[in_term_late] * 2 + (r_status[lateish][in_term_late] == _LEFT_EARLY)
    lcount = np.bincount(lk, minlength=2 * n_all).reshape(n_all, 2).astype("float64")
    late, left_early = lcount[:, 0], lcount[:, 1]
    del r_school

    # one value per (student, school day): the worst session; one sort of packed keys
    packed = (r_code.astype("int64") * n_ord + r_ord) * 8 + r_status
    was_unsorted = len(packed) > 1 and not bool(np.all(packed[1:] >= packed[:-1]))
    if was_unsorted:
        packed.sort()
    day_key = packed >> 3
    dup = day_key[1:] == day_key[:-1]
    if dup.any() or was_unsorted:
        if dup.any():
            keep_last = np.append(~dup, True)
            packed, day_key = packed[keep_last], day_key[keep_last]
        st = (packed & 7).astype("int8")
        s = (day_key // n_ord).astype("int32")
        o = (day_key - s.astype("int64") * n_ord).astype("int32")
    else:  # the common case: rows already one per school day, in order
        st = r_status.astype("int8", copy=True)
        s = r_code.astype("int32", copy=False)
        o = r_ord.astype("int32", copy=False)
    del packed, dup, r_code, r_ord, r_status, r_sec

    # approved leave known on as_of turns covered unexcused days into leave
    covered = _approved_leave_keys(tables.leave_requests, as_of, sd, stu_school, n_ord)
    if len(covered):
        unex = np.flatnonzero(st == _UNEXCUSED)
        hit = np.isin(day_key[unex], covered)
        st[unex[hit]] = _PERSONAL

    # one bincount over (student, window bucket, in term, status): every count is a sum of it
    wins = sorted(fc.recent_windows)
    nb = len(wins) + 1
    rel = stu_last[s] - o  # 0 = the last school day
    wb = np.zeros(len(s), dtype="int8")
    for w in wins:
        wb += rel >= w
    del rel
    in_term = o >= stu_term_start[s]
    key = ((s.astype("int64") * nb + wb) * 2 + in_term) * 6 + st
    del wb
    cube = np.bincount(key, minlength=n_all * nb * 12).reshape(n_all, nb, 2, 6).astype("float64")
    del key
    absent_c = cube[..., _SICK:].sum(-1)  # (n_all, nb, 2)
    unex_c = cube[..., _UNEXCUSED]
    leave_c = cube[..., _SICK] + cube[..., _PERSONAL]
    rec_c = cube.sum(-1)

    def within(arr: np.ndarray, w_index: int | None = None, term: bool | None = None) -> np.ndarray:
        """Sum over window buckets < w_index (None: all) and the term half (None: both)."""
        a = arr if w_index is None else arr[:, :w_index]
        a = a if term is None else a[:, :, 1 if term else 0]
        return a.reshape(n_all, -1).sum(1)

    absent = st >= _SICK
    unexcused = st == _UNEXCUSED
    leave = absent & ~unexcused
    present = ~absent

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
    before_abs = absent_c[:, len(wins), 1]
    before_rec = rec_c[:, len(wins), 1]
    out[f"att_absence_trend_{w}d"] = out[f"att_absence_rate_{w}d"] - _ratio(before_abs, before_rec)
    leave_term = within(leave_c, term=True)

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
    tail = _group_ends(ps)
    last_present[ps[tail]] = po[tail]
    gap = (last[stu_school] - last_present).astype("float64")
    out["att_days_since_present"] = np.where(last_present >= 0, gap, np.nan)

    out["att_late_count_term"] = np.where(has_term, late, np.nan)
    out["att_left_early_count_term"] = np.where(has_term, left_early, np.nan)
    out["att_leave_days_term"] = np.where(has_term, leave_term, np.nan)
    sel = leave & in_term
    rs, _, rlen = _runs(s[sel], o[sel])
    longest_leave = np.zeros(n_all)
    np.maximum.at(longest_leave, rs, rlen)
    out["att_leave_over5_term"] = np.where(
        has_term, (longest_leave > rules.principal_leave_days).astype("float64"), np.nan
    )

    # return lateness: school days from a term's first day to the first day present
    present_key = day_key[present]
    for name, start in (
        ("att_return_late_spring", sd.spring_start),
        ("att_return_late_autumn", sd.autumn_start),
    ):
        stu_start = np.where(stu_school >= 0, start[np.maximum(stu_school, 0)], -1)
        query = np.arange(n_all, dtype="int64") * n_ord + np.maximum(stu_start, 0)
        limit = np.arange(1, n_all + 1, dtype="int64") * n_ord  # first key of the next student
        any_rec = np.searchsorted(day_key, query) < np.searchsorted(day_key, limit)
        pos = np.searchsorted(present_key, query)
        found = present_key[np.minimum(pos, len(present_key) - 1)] if len(present_key) else query - 1
        back = (pos < len(present_key)) & (found < limit)
        first_present = found - np.arange(n_all, dtype="int64") * n_ord
        lateness = np.where(back, first_present - stu_start, stu_last - stu_start + 1).astype("float64")
        out[name] = np.where(any_rec & (stu_start >= 0), lateness, np.nan)

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
