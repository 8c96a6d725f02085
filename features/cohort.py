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
from features.time import known_rows, valid_at

__all__ = ["cohort", "cohort_index", "spine_of", "OUT_EVENTS", "IN_EVENTS"]

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


def spine_of(tables: Tables, as_of: dt.date, given: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cohort frame a feature builder works on (its *spine*): ``given`` when there is
    one (:func:`features.build.build_features` computes :func:`cohort` once for every
    family and passes it on), else :func:`cohort` of ``as_of``."""
    return cohort(tables, as_of) if given is None else given
