"""Hand-made tables for the feature-builder tests: a few students, a few weeks.

``frames(**over)`` returns raw frames with contract column names; pass a table name to
replace or add a table. ``tables(**over)`` validates them (no row may be rejected).
"""

from __future__ import annotations

import pandas as pd

from features.load import tables_from_frames


def students(ids: list[str], **cols) -> pd.DataFrame:
    base = {
        "student_id": ids,
        "valid_from": "2024-09-01",
        "school_id": "s1",
        "class_id": "k1",
        "grade": 7,
        "sex": "M",
        "birth_ym": "2011-03",
    }
    base.update(cols)
    return pd.DataFrame(base)


def frames(ids: list[str] | None = None, **over: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    ids = ids or ["a"]
    out = {
        "students": students(ids),
        "attendance": pd.DataFrame({"student_id": [ids[0]], "date": ["2024-09-02"], "status": ["present"]}),
        "exams": pd.DataFrame(
            {
                "exam_id": ["e0"],
                "school_id": ["s1"],
                "grade": [7],
                "exam_type": ["final"],
                "exam_date": ["2030-01-10"],
            }
        ),
        "exam_results": pd.DataFrame(
            {
                "student_id": [ids[0]],
                "exam_id": ["e0"],
                "subject": ["math"],
                "score": [80.0],
                "full_marks": [100.0],
            }
        ),
        "registry_events": pd.DataFrame(
            {"student_id": ids, "event_date": "2024-09-01", "event_type": "enrol"}
        ),
    }
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def tables(ids: list[str] | None = None, **over: pd.DataFrame | None):
    result = tables_from_frames(frames(ids, **over), max_reject_share=1.0)
    assert result.rejects.empty, result.rejects.to_string()
    return result.tables


def school_days(start: str, end: str, holidays: tuple[str, ...] = ()) -> list[str]:
    """Weekdays from start to end, minus holidays, as ISO strings."""
    days = pd.bdate_range(start, end)
    return [d.strftime("%Y-%m-%d") for d in days if d.strftime("%Y-%m-%d") not in holidays]


def attendance(rows: list[tuple[str, str, str] | tuple[str, str, str, str]]) -> pd.DataFrame:
    """Rows (student, date, status[, session])."""
    recs = [
        {"student_id": r[0], "date": r[1], "status": r[2], "session": r[3] if len(r) > 3 else "day"}
        for r in rows
    ]
    return pd.DataFrame(recs)
