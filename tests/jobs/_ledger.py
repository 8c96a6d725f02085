"""Hand-made snapshots, staff and attendance for the ledger tests (no simulator, no model)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from risk.snapshot import SNAPSHOT_COLUMNS

_DEFAULTS = {
    "str": "",
    "datetime64[s]": pd.Timestamp("2025-03-10"),
    "int64": 1,
    "float64": 0.01,
    "bool": False,
    "category": "none",
}


def snapshot(rows: list[dict], as_of: dt.date = dt.date(2025, 3, 10)) -> pd.DataFrame:
    """A snapshot with exactly SNAPSHOT_COLUMNS; unspecified cells get harmless defaults."""
    frame = pd.DataFrame(rows)
    for name, (dtype, _) in SNAPSHOT_COLUMNS.items():
        if name not in frame.columns:
            frame[name] = _DEFAULTS[dtype]
        elif frame[name].isna().any():
            frame[name] = frame[name].astype("object").where(frame[name].notna(), _DEFAULTS[dtype])
    frame["as_of"] = pd.Timestamp(as_of)
    frame["rule_evidence"] = frame["rule_evidence"].replace("", "[]")
    frame["model_version"] = "test-model"
    if "listed" not in rows[0]:
        frame["listed"] = frame["selected"] | (frame["rules"] != "")
    return frame[list(SNAPSHOT_COLUMNS)].astype({"as_of": "datetime64[s]"})


def staff() -> pd.DataFrame:
    """School s1: head teachers of c1 and c2, a principal, two counsellors (capacity 2 and 3).
    School s2: only a principal."""
    return pd.DataFrame(
        {
            "staff_id": ["h1", "h2", "p1", "k1", "k2", "p2"],
            "school_id": ["s1", "s1", "s1", "s1", "s1", "s2"],
            "role": ["head_teacher", "head_teacher", "principal", "counsellor", "counsellor", "principal"],
            "class_id": ["c1", "c2", None, None, None, None],
            "max_open_cases": pd.array([5, 5, 0, 2, 3, 0], dtype="Int64"),
        }
    )


def attendance(student: str, days: list[str], status: str = "present") -> pd.DataFrame:
    return pd.DataFrame(
        {"student_id": student, "date": pd.to_datetime(days), "session": "day", "status": status}
    )
