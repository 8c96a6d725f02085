"""Small hand-made county folders for the loader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the smallest valid county: students a and m, one exam, one row in every required table
MINIMAL = {
    "students": "student_id,valid_from,school_id,grade,sex,birth_ym\n"
    "a,2024-09-01,s1,7,M,2011-03\n"
    "m,2024-09-01,s1,7,F,2011-04\n",
    "attendance": "student_id,date,status\na,2024-09-02,present\nm,2024-09-02,present\n",
    "exams": "exam_id,school_id,grade,exam_type,exam_date\ne1,s1,7,final,2025-01-10\n",
    "exam_results": "student_id,exam_id,subject,score,full_marks\na,e1,math,88,100\nm,e1,math,61,100\n",
    "registry_events": "student_id,event_date,event_type\na,2024-09-01,enrol\nm,2024-09-01,enrol\n",
}

DATA = Path(__file__).parents[1] / "data"


def write_county(folder: Path, encoding: str = "utf-8", **tables: str | None) -> Path:
    """Write MINIMAL as CSV files into ``folder``, with some tables replaced (None: left out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**MINIMAL, **tables}.items():
        if text is not None:
            (folder / f"{name}.csv").write_bytes(text.encode(encoding))
    return folder


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return write_county(tmp_path / "county")
