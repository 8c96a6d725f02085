"""The cohort on a date: students enrolled and in school on ``as_of``.

A student is in the cohort when a ``students`` row is in force on ``as_of``
(``valid_from <= as_of`` and ``valid_to`` empty or later) and the registry events
known on ``as_of`` do not leave them out of school. The last of these events
decides: ``dropout_mark``, ``transfer_out``, ``graduate``, ``abroad``,
``other_left`` and ``suspend`` take a student out; ``return_mark``, ``resume``,
``enrol`` and ``transfer_in`` bring them back (a return on the same day as a
mark wins). ``deceased`` is final. ``suspected_mark`` and ``promote`` change
nothing: a suspected dropout is still enrolled, and is exactly who the list is for.

Examples
--------
>>> from features._examples import example_tables
>>> tables = example_tables(
...     students={"student_id": ["a", "b", "c"], "sex": ["M", "F", "M"]},
...     registry_events={"student_id": ["b", "c", "c"], "event_date": ["2024-10-08", "2024-10-08", "2024-11-04"],
...                      "event_type": ["dropout_mark", "dropout_mark", "return_mark"]})
>>> cohort_index(tables, dt.date(2024, 10, 20)).tolist()
['a']
>>> cohort_index(tables, dt.date(2024, 11, 4)).tolist()
['a', 'c']
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.contract import Tables
from features.time import day_numbers, known_rows, valid_at

__all__ = ["cohort", "cohort_index", "cohort_panel", "spine_of", "OUT_EVENTS", "IN_EVENTS"]

#: registry events that take a student out of school (until an ``IN_EVENTS`` event)
OUT_EVENTS = ("dropout_mark", "transfer_out", "graduate", "abroad", "other_left", "suspend", "deceased")
#: registry events that bring a student back
IN_EVENTS = ("return_mark", "resume", "enrol", "transfer_in")


def cohort(tables: Tables, as_of: dt.date) -> pd.DataFrame:
    """The students in school on ``as_of`` with their ``students`` row in force that day.

    Returns
    -------
    DataFrame
        Indexed by ``student_id`` (``str``, sorted), the columns of the ``students`` table
        (``student_id`` excluded) plus ``code``: the student's position in
        ``tables.student_ids`` (the ``student_id`` category code shared by every table).
    """
    st = tables.students
    rows = valid_at(st, as_of)
    # one row per student: the latest valid_from wins if intervals overlap
    rows = rows.sort_values("valid_from", kind="stable").drop_duplicates("student_id", keep="last")
    codes = rows["student_id"].cat.codes.to_numpy().astype("int64")
    out_now = _out_of_school(known_rows(tables, "registry_events", as_of), len(tables.student_ids))
    keep = ~out_now[codes]
    rows = rows.loc[keep]
    codes = codes[keep]
    order = np.argsort(codes, kind="stable")
    rows = rows.iloc[order]
    codes = codes[order]
    frame = rows.drop(columns=["student_id"]).copy()
    frame.index = pd.Index(tables.student_ids[codes], dtype="str", name="student_id")
    frame["code"] = codes
    return frame


def cohort_index(tables: Tables, as_of: dt.date) -> pd.Index:
    """The ``student_id`` index of :func:`cohort`."""
    return cohort(tables, as_of).index


_RANK = {e: i for i, e in enumerate(OUT_EVENTS)} | {e: 10 + i for i, e in enumerate(IN_EVENTS)}


def _out_of_school(ev: pd.DataFrame, n_students: int) -> np.ndarray:
    """Boolean per student code: out of school according to the registry events ``ev``
    (those known on the day)."""
    types = ev["event_type"].astype("str")
    state = types.isin(OUT_EVENTS + IN_EVENTS).to_numpy()
    ev = ev.loc[state]
    types = types.loc[state]
    out = np.zeros(n_students, dtype=bool)
    if not len(ev):
        return out
    frame = pd.DataFrame(
        {
            "code": ev["student_id"].cat.codes.to_numpy().astype("int64"),
            "date": ev["event_date"].to_numpy(),
            "rank": types.map(_RANK).to_numpy(),  # same day: in-events after out-events
            "out": types.isin(OUT_EVENTS).to_numpy(),
        }
    )
    last = frame.sort_values(["code", "date", "rank"], kind="stable").drop_duplicates("code", keep="last")
    out[last["code"].to_numpy()] = last["out"].to_numpy()
    dead = frame.loc[types.eq("deceased").to_numpy(), "code"].to_numpy()
    out[dead] = True
    return out


def _seconds(values) -> np.ndarray:
    """``values`` as int64 seconds since the epoch (NaT: the int64 minimum)."""
    return np.asarray(values, dtype="datetime64[s]").view("int64")


_NAT = np.iinfo("int64").min


def nights_in_force(start: np.ndarray, end: np.ndarray, nights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, night) pairs of interval rows in force on each night, as :func:`features.time.valid_at`
    says (``start <= night`` and ``end`` empty or later), for many nights at once.

    ``start``, ``end`` and ``nights`` are int64 seconds (:func:`_seconds`; NaT the int64
    minimum), ``nights`` sorted. Returns ``(row, night)`` position arrays, row by row.

    >>> s = _seconds(pd.to_datetime(["2024-01-01", "2024-01-03"]))
    >>> e = _seconds(pd.to_datetime(["2024-01-03", None]))
    >>> n = _seconds(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]))
    >>> [a.tolist() for a in nights_in_force(s, e, n)]
    [[0, 0, 1], [0, 1, 2]]
    """
    lo = np.searchsorted(nights, start, side="left")
    hi = np.searchsorted(nights, end, side="left")
    hi = np.where(end == _NAT, len(nights), hi)
    lo = np.where(start == _NAT, len(nights), lo)
    size = np.maximum(hi - lo, 0)
    row = np.repeat(np.arange(len(start)), size)
    # each row's nights: lo, lo + 1, ... (an arange per row, without a loop)
    first = np.repeat(lo - np.r_[0, np.cumsum(size)[:-1]], size)
    night = first + np.arange(len(row))
    return row, night


def out_of_school_panel(tables: Tables, codes: np.ndarray, nights: np.ndarray) -> np.ndarray:
    """:func:`_out_of_school` of the registry events known on each night, for the pairs
    (``codes[i]``, ``nights[i]``) at once (``nights``: int64 day numbers).

    The last state event known on the night decides (a search over the events sorted by
    student, date, same-day rank and frame order, which is the order :func:`_out_of_school`
    keeps the last of); a death known by then is final.
    """
    ev = tables.registry_events
    out = np.zeros(len(codes), dtype=bool)
    types = ev["event_type"].astype("str")
    state = types.isin(OUT_EVENTS + IN_EVENTS).to_numpy()
    ev, types = ev.loc[state], types.loc[state]
    if not len(ev) or not len(codes):
        return out
    code = ev["student_id"].cat.codes.to_numpy().astype("int64")
    sec = _seconds(ev["event_date"].to_numpy())
    day = day_numbers(ev["event_date"].to_numpy())
    keep = sec != _NAT  # an undated event is never known
    code, sec, day = code[keep], sec[keep], day[keep]
    rank = types.map(_RANK).to_numpy()[keep]
    is_out = types.isin(OUT_EVENTS).to_numpy()[keep]
    dead = types.eq("deceased").to_numpy()[keep]
    order = np.lexsort((np.arange(len(code)), rank, sec, code))
    code, day, is_out, dead = code[order], day[order], is_out[order], dead[order]
    lo_day = min(int(day.min()), int(nights.min()))
    span = max(int(day.max()), int(nights.max())) - lo_day + 2
    key = code * span + (day - lo_day)
    q = codes.astype("int64") * span + (nights.astype("int64") - lo_day)
    last = np.searchsorted(key, q, side="right") - 1
    hit = last >= 0
    hit[hit] = code[last[hit]] == codes[hit]
    out[hit] = is_out[last[hit]]
    if dead.any():  # the first death of each student, known by the night
        first_dead = pd.Series(day[dead]).groupby(code[dead]).min()
        when = first_dead.reindex(codes).to_numpy()
        out |= ~np.isnan(when) & (when <= nights)
    return out


def cohort_panel(tables: Tables, as_of_dates) -> pd.DataFrame:
    """:func:`cohort` of many dates at once: who is in school on each date, and the
    ``students`` row in force.

    One pass over the ``students`` intervals and the registry events for every date, not one
    per date (a year of nightly lists has two hundred dates). The same members and rows as
    :func:`cohort` date by date (``tests/features/test_cohort.py`` holds it to that).

    Returns
    -------
    DataFrame
        Columns ``as_of`` (datetime64[s], the dates normalised, sorted, unique), ``code``
        (the ``student_id`` category code) and ``row`` (the position in ``tables.students`` of
        the row :func:`cohort` takes), sorted by ``as_of`` then ``code``.

    >>> from features._examples import example_tables
    >>> tables = example_tables(
    ...     students={"student_id": ["a", "b", "c"], "sex": ["M", "F", "M"]},
    ...     registry_events={"student_id": ["b", "c", "c"], "event_date": ["2024-10-08", "2024-10-08", "2024-11-04"],
    ...                      "event_type": ["dropout_mark", "dropout_mark", "return_mark"]})
    >>> p = cohort_panel(tables, [dt.date(2024, 10, 20), dt.date(2024, 11, 4)])
    >>> [(str(d.date()), tables.student_ids[c]) for d, c in zip(p["as_of"], p["code"])]
    [('2024-10-20', 'a'), ('2024-11-04', 'a'), ('2024-11-04', 'c')]
    """
    days = np.array(sorted({pd.Timestamp(d).normalize() for d in as_of_dates}), dtype="datetime64[s]")
    st = tables.students
    nights = _seconds(days)
    # cohort(): the latest valid_from wins among a student's rows in force (ties: the later row)
    prio = np.empty(len(st), dtype="int64")
    prio[np.argsort(_seconds(st["valid_from"].to_numpy()), kind="stable")] = np.arange(len(st))
    row, night = nights_in_force(
        _seconds(st["valid_from"].to_numpy()), _seconds(st["valid_to"].to_numpy()), nights
    )
    code = st["student_id"].cat.codes.to_numpy().astype("int64")[row]
    # by night, student and priority: one int64 key (nights x students x rows stays far below 2**63)
    n_codes, n_rows = len(tables.student_ids) + 1, max(len(st), 1)
    order = np.argsort((night * n_codes + code) * n_rows + prio[row])
    row, night, code = row[order], night[order], code[order]
    last = np.ones(len(row), dtype=bool)
    last[:-1] = (night[1:] != night[:-1]) | (code[1:] != code[:-1])
    row, night, code = row[last], night[last], code[last]
    out = out_of_school_panel(tables, code, nights[night] // 86400)
    keep = ~out
    return pd.DataFrame({"as_of": days[night[keep]], "code": code[keep], "row": row[keep]})


def spine_of(tables: Tables, as_of: dt.date, given: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cohort frame a feature builder works on (its *spine*): ``given`` when there is
    one (:func:`features.build.build_features` computes :func:`cohort` once for every
    family and passes it on), else :func:`cohort` of ``as_of``."""
    return cohort(tables, as_of) if given is None else given
