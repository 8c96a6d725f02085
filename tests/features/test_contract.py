"""Every schema rule of the contract, one bad value at a time (features.contract via coerce_table)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import REQUIRED_TABLES, SCHEMAS, TABLES, Tables, spec
from features.load import coerce_table

#: one valid row per table (as text, the way a CSV arrives)
VALID = {
    "schools": {"school_id": "s1", "school_type": "primary", "urban_rural": "rural", "has_boarding": "是"},
    "classes": {"class_id": "c1", "school_id": "s1", "academic_year": "2024", "grade": "7"},
    "calendar": {"school_id": "s1", "date": "2024-09-02", "is_school_day": "1", "day_type": "normal"},
    "students": {
        "student_id": "a",
        "valid_from": "2024-09-01",
        "school_id": "s1",
        "grade": "7",
        "sex": "M",
        "birth_ym": "2011-03",
        "health_status": "10",
        "distance_km": "2.5",
        "inclusive_ed": "none",
    },
    "guardians": {"student_id": "a", "member_no": "1", "relation": "mother", "valid_from": "2024-09-01"},
    "left_behind": {"student_id": "a", "effective_date": "2024-09-01", "status": "2", "caregiver": "grandparent"},
    "attendance": {"student_id": "a", "date": "2024-09-02", "session": "day", "status": "present"},
    "exam_results": {"student_id": "a", "exam_id": "e1", "subject": "math", "score": "88", "full_marks": "100"},
    "interventions": {"intervention_id": "i1", "student_id": "a", "type": "tutoring", "start_date": "2024-10-01",
                      "score_at_assign": "0.3"},
}  # fmt: skip

# (table, column, bad value, reason the rejects file gives)
RULES = [
    (
        "students",
        "sex",
        "X",
        r"unknown code; must be one of \['M', 'F'\] \(map county codes in \[data.values\]\)",
    ),
    ("students", "grade", "10", r"value must be <= 9"),
    ("students", "grade", "0", r"value must be >= 1"),
    ("students", "grade", "7.5", r"not an integer"),
    ("students", "grade", "seven", r"not an integer"),
    ("students", "student_id", "", r"missing value"),
    ("students", "school_id", "  ", r"missing value"),
    ("students", "valid_from", "2024-13-45", r"not a date"),
    ("students", "valid_from", "0224-09-01", r"not a date \(YYYY-MM-DD\) between 1950 and 2100"),
    ("students", "birth_ym", "2011-13", r"not a month"),
    ("students", "health_status", "60", r"value must be <= 50"),
    ("students", "distance_km", "-1", r"value must be >= 0"),
    ("students", "distance_km", "far", r"not a number"),
    ("students", "inclusive_ed", "blind", r"unknown code"),
    ("schools", "has_boarding", "maybe", r"not yes/no"),
    ("schools", "school_type", "high", r"unknown code"),
    ("classes", "academic_year", "1890", r"value must be >= 1990"),
    ("calendar", "is_school_day", "", r"missing value"),
    ("guardians", "member_no", "0", r"value must be >= 1"),
    ("left_behind", "status", "3", r"value must be <= 2"),
    ("left_behind", "caregiver", "dog", r"unknown code"),
    ("attendance", "status", "absent?", r"unknown code"),
    ("attendance", "session", "night", r"unknown code"),
    ("exam_results", "score", "-5", r"value must be >= 0"),
    ("exam_results", "full_marks", "0", r"value must be >= 1"),
    ("interventions", "score_at_assign", "1.5", r"value must be <= 1"),
]


@pytest.mark.parametrize("table", sorted(VALID))
def test_a_valid_row_passes(table):
    clean, rejects = coerce_table(table, pd.DataFrame([VALID[table]]))
    assert rejects.empty
    assert len(clean) == 1


#: optional columns (not keys): an impossible value there becomes missing and the row stays
SOFT = {
    ("students", "health_status"),
    ("students", "distance_km"),
    ("students", "inclusive_ed"),
    ("schools", "has_boarding"),
    ("left_behind", "caregiver"),
    ("interventions", "score_at_assign"),
}


@pytest.mark.parametrize(("table", "column", "value", "reason"), RULES)
def test_each_rule_rejects_the_row_with_its_reason(table, column, value, reason):
    frame = pd.DataFrame([VALID[table], {**VALID[table], column: value}])
    clean, rejects = coerce_table(table, frame)
    assert rejects[["table", "file_row", "column"]].values.tolist() == [[table, 3, column]]
    assert pd.Series(rejects["reason"]).str.contains(reason).all(), rejects["reason"].tolist()
    if (table, column) in SOFT:  # the value, not the row: set to missing, the row stays
        assert len(clean) == 2 and pd.isna(clean[column].iloc[1]) and pd.notna(clean[column].iloc[0])
        assert rejects["reason"].str.endswith("set to missing, row kept").all()
    else:
        assert len(clean) == 1  # the good row stays
        assert not rejects["reason"].str.contains("set to missing").any()


def test_dtypes_after_coercion():
    frame = pd.DataFrame(
        [
            {**VALID["students"], "birth_ym": "2011年3月", "valid_from": "2024/09/01"},
            {**VALID["students"], "student_id": "b", "birth_ym": "2011-05-17", "health_status": ""},
        ]
    )
    clean, rejects = coerce_table("students", frame)
    assert rejects.empty
    assert clean["birth_ym"].tolist() == [
        pd.Timestamp("2011-03-01"),
        pd.Timestamp("2011-05-01"),
    ]  # month only
    assert str(clean["valid_from"].dtype) == "datetime64[s]"
    assert clean["grade"].dtype == "int64"  # required int
    assert str(clean["health_status"].dtype) == "Int64"  # nullable int
    assert clean["health_status"].isna().tolist() == [False, True]
    assert list(clean["sex"].cat.categories) == ["M", "F"]  # contract order, stable codes
    assert clean["distance_km"].dtype == "float64"
    assert clean["_file_row"].tolist() == [2, 3]


def test_category_input_is_coerced_through_its_categories():
    frame = pd.DataFrame([VALID["attendance"]] * 3)
    frame["status"] = pd.Categorical([" present", "late", "bad"])
    frame["date"] = pd.Categorical(["2024-09-02", "2024-09-03", "2024-09-04"])
    frame["session"] = ["day", "am", "pm"]
    clean, rejects = coerce_table("attendance", frame)
    assert clean["status"].tolist() == ["present", "late"]
    assert list(clean["status"].cat.categories) == list(spec("attendance").column("status").values)
    assert rejects[["file_row", "column", "value"]].values.tolist() == [[4, "status", "bad"]]


def test_missing_required_column_raises_naming_table_and_column():
    from features.errors import DataContractError

    with pytest.raises(
        DataContractError, match=r"^students \(file st\.csv\): required column\(s\) sex missing"
    ):
        coerce_table("students", pd.DataFrame([VALID["students"]]).drop(columns="sex"), origin="st.csv")


def test_every_table_has_a_schema_and_a_field():
    assert set(SCHEMAS) == set(TABLES) == set(Tables.__dataclass_fields__)
    assert set(REQUIRED_TABLES) == {"students", "attendance", "exams", "exam_results", "registry_events"}
    with pytest.raises(KeyError, match="Did you mean 'students'"):
        spec("studnets")
