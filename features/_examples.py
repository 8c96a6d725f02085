"""The example county of the doctests: one school, one class, two students, a few rows.

School ``s1``, class ``k1``, grade 7: student ``a`` (M) and student ``b`` (F), both born
March 2011, both enrolled from 1 September 2024. Student ``a`` was present on Monday
2 September 2024, sat maths in the final exam ``e1`` (10 January 2025, 88 of 100) and has
an ``enrol`` registry event on 1 September. Nothing else: every optional table is absent.

A doctest changes only what it is about: :func:`example_frames` takes a table name with a
frame (replaces the table), a dict of columns (replaces or adds those columns; a base
column holding one repeated value is repeated to the new length) or ``None`` (drops the
table).

>>> t = example_tables(attendance={"student_id": ["a", "b"], "date": ["2024-09-02"] * 2,
...                                "status": ["present", "unexcused"]})
>>> t.students["student_id"].tolist(), t.attendance["status"].tolist()
(['a', 'b'], ['present', 'unexcused'])
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from features.contract import Tables

__all__ = ["example_frames", "example_tables"]


def _base() -> dict[str, dict[str, list]]:
    return {
        "students": {
            "student_id": ["a", "b"],
            "valid_from": ["2024-09-01"] * 2,
            "school_id": ["s1"] * 2,
            "class_id": ["k1"] * 2,
            "grade": [7, 7],
            "sex": ["M", "F"],
            "birth_ym": ["2011-03"] * 2,
        },
        "attendance": {"student_id": ["a"], "date": ["2024-09-02"], "status": ["present"]},
        "exams": {
            "exam_id": ["e1"],
            "school_id": ["s1"],
            "grade": [7],
            "exam_type": ["final"],
            "exam_date": ["2025-01-10"],
        },
        "exam_results": {
            "student_id": ["a"],
            "exam_id": ["e1"],
            "subject": ["math"],
            "score": [88.0],
            "full_marks": [100.0],
        },
        "registry_events": {"student_id": ["a"], "event_date": ["2024-09-01"], "event_type": ["enrol"]},
    }


def example_frames(**tables: pd.DataFrame | Mapping[str, object] | None) -> dict[str, pd.DataFrame]:
    """The raw frames of the example county, with ``tables`` replaced, changed or added."""
    base = _base()
    out: dict[str, pd.DataFrame] = {}
    for name in {**base, **tables}:
        over = tables.get(name, {})
        if name in tables and over is None:
            continue
        if isinstance(over, pd.DataFrame):
            out[name] = over
            continue
        cols = dict(base.get(name, {}))
        n = max((len(v) for v in over.values() if isinstance(v, list)), default=None)  # type: ignore[union-attr]
        if n is not None:  # another length: base columns of one repeated value are repeated
            cols = {
                k: (v[:1] * n if len(v) != n and len(set(map(str, v))) == 1 else v) for k, v in cols.items()
            }
        cols.update(over)  # type: ignore[arg-type]
        out[name] = pd.DataFrame(cols)
    return out


def example_tables(**tables: pd.DataFrame | Mapping[str, object] | None) -> Tables:
    """:func:`example_frames` loaded and validated (no row of the example is rejected)."""
    from features.load import tables_from_frames

    return tables_from_frames(example_frames(**tables)).tables
