"""Loading a county folder or database: readers, row rules, rejects, whole-table errors, summary."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.config import DataConfig
from features.errors import DataContractError
from features.load import load_tables, summarize, tables_from_frames, write_rejects
from tests.features.conftest import DATA, MINIMAL, write_county

ALL = DataConfig(max_reject_share=1.0)


def _rejects(result) -> list[list]:
    return result.rejects.sort_values(["table", "file_row", "column"])[
        ["table", "file_row", "column"]
    ].values.tolist()


def test_minimal_folder_loads_with_contract_dtypes(county):
    res = load_tables(DataConfig(), county)
    t = res.tables
    assert res.rejects.empty
    assert res.rows_read == dict.fromkeys(MINIMAL, 2) | {"exams": 1}
    # every student_id is a category sharing the students' sorted ids
    for name in ("students", "attendance", "exam_results", "registry_events"):
        assert list(getattr(t, name)["student_id"].cat.categories) == ["a", "m"]
    assert str(t.attendance["date"].dtype) == "datetime64[s]"
    assert t.exam_results["score"].tolist() == [88.0, 61.0]
    assert t.left_behind is None and t.present() == (
        "students",
        "attendance",
        "exams",
        "exam_results",
        "registry_events",
    )


def test_bad_student_rows_go_to_rejects_with_spreadsheet_rows(tmp_path):
    folder = write_county(tmp_path, students=(DATA / "bad_students_codes.csv").read_text())
    res = load_tables(ALL, folder)
    st = res.rejects[res.rejects["table"] == "students"]
    # rows a (2) and m (14) are good; each other row has exactly one problem
    got = dict(zip(st["file_row"], zip(st["column"], st["reason"], strict=True), strict=True))
    assert sorted(got) == list(range(3, 14))
    assert got[3][0] == "sex" and got[3][1].startswith("unknown code")
    assert got[4] == ("grade", "value must be <= 9")
    assert got[5] == ("birth_ym", "not a month (YYYY-MM) between 1950 and 2100")
    # optional columns: the value becomes missing, the row (and the child) stays
    assert got[6] == ("is_boarding", "not yes/no (是/否, 1/0, true/false); set to missing, row kept")
    assert got[7] == ("distance_km", "value must be >= 0; set to missing, row kept")
    assert got[8] == ("grade", "not an integer")
    assert got[9] == ("health_status", "value must be <= 50; set to missing, row kept")
    assert got[10] == ("student_id", "missing value")
    assert got[11][0] == "valid_from"
    assert got[12] == ("birth_ym", "birth_ym is fewer than 4 years before valid_from")  # born 2023-02
    assert got[13] == ("birth_ym", "birth_ym is after valid_from")  # born 2025-02
    assert res.tables.students["student_id"].tolist() == ["a", "e", "f", "h", "m"]
    assert res.tables.students["is_boarding"].tolist()[0] is True  # 是 -> True
    kept = res.tables.students.set_index("student_id")
    assert pd.isna(kept.loc["e", "is_boarding"]) and pd.isna(kept.loc["f", "distance_km"])
    assert pd.isna(kept.loc["h", "health_status"]) and kept.loc["h", "distance_km"] == 2
    assert res.rows_rejected()["students"] == 8


def test_exam_result_rules(tmp_path):
    res = load_tables(ALL, write_county(tmp_path, exam_results=(DATA / "bad_exam_results.csv").read_text()))
    er = res.rejects[res.rejects["table"] == "exam_results"].set_index("file_row")
    assert er.loc[3, "reason"] == "neither score nor level, and not marked absent"
    assert er.loc[5, ["column", "value", "reason"]].tolist() == [
        "exam_id",
        "e2",
        "exam_id not in the exams table",
    ]
    assert er.loc[6, ["value", "reason"]].tolist() == ["120.0 > 100.0", "score is above full_marks"]
    assert er.loc[7, "column"] == "subject" and er.loc[8, "column"] == "level"
    assert sorted(er.index) == [3, 5, 6, 7, 8]
    kept = res.tables.exam_results
    assert kept["subject"].tolist() == ["math", "english", "math"]  # rows 2, 4 (absent), 9
    assert kept["absent"].tolist()[1] is True


def test_duplicates_unknown_codes_and_unknown_students(tmp_path):
    res = load_tables(
        ALL, write_county(tmp_path, attendance=(DATA / "bad_duplicates_attendance.csv").read_text())
    )
    att = res.rejects[res.rejects["table"] == "attendance"].sort_values("file_row")
    # row 3, an exact copy of row 2, is repaired (the first kept), not rejected
    assert res.repaired == {"attendance": 1}
    assert att[["file_row", "column", "value"]].values.tolist() == [
        [4, "student_id+date+session", "m|2024-09-02|day"],  # same key, different status:
        [5, "student_id+date+session", "m|2024-09-02|day"],  # both rejected
        [6, "status", "absent?"],
        [7, "student_id", "zz"],
    ]
    assert att["reason"].tolist()[-1] == "student_id not in the students table"
    assert len(res.tables.attendance) == 1


def test_interval_and_leave_rules():
    frames = {name: pd.read_csv(pd.io.common.StringIO(text), dtype=str) for name, text in MINIMAL.items()}
    frames["guardians"] = pd.DataFrame(
        {"student_id": ["a", "m"], "member_no": ["1", "1"], "relation": ["mother", "father"],
         "valid_from": ["2024-09-01", "2024-09-01"], "valid_to": ["2024-10-01", "2024-08-01"]}
    )  # fmt: skip
    frames["leave_requests"] = pd.DataFrame(
        {"leave_id": ["L1", "L2"], "student_id": ["a", "m"], "start_date": ["2024-09-02", "2024-09-05"],
         "end_date": ["2024-09-03", "2024-09-04"]}
    )  # fmt: skip
    frames["attendance"] = pd.DataFrame(
        {"student_id": ["a", "a", "a"], "date": ["2024-09-02", "2024-09-03", "2024-09-09"],
         "status": ["leave_sick", "leave_sick", "leave_sick"], "leave_id": ["L1", "L1", "L1"]}
    )  # fmt: skip
    res = tables_from_frames(frames, max_reject_share=1.0)
    assert _rejects(res) == [
        ["attendance", 4, "date"],  # 2024-09-09 is after L1's end (2024-09-03)
        ["guardians", 3, "valid_to"],
        ["leave_requests", 3, "end_date"],
    ]
    assert set(res.rejects["reason"]) == {
        "a leave status on a date outside its leave request (start_date..end_date)",
        "valid_to is before valid_from",
        "end_date is before start_date",
    }


def test_max_reject_share_stops_the_run(tmp_path):
    folder = write_county(tmp_path, attendance=(DATA / "bad_duplicates_attendance.csv").read_text())
    # rows 4-7 lost (the exact copy in row 3 is repaired, not lost): 4 of 6 = 66.7%
    with pytest.raises(
        DataContractError, match=r"attendance: 4 of 6 rows rejected \(66\.7% > max_reject_share 50%\)"
    ):
        load_tables(DataConfig(max_reject_share=0.5), folder)
    assert len(load_tables(DataConfig(max_reject_share=0.9), folder).tables.attendance) == 1


def test_missing_required_table(tmp_path):
    with pytest.raises(DataContractError, match=r"required table\(s\) registry_events missing"):
        load_tables(DataConfig(), write_county(tmp_path, registry_events=None))


def test_missing_required_column_names_file_and_fix(tmp_path):
    folder = write_county(tmp_path, exams="exam_id,school_id,grade,exam_date\ne1,s1,7,2025-01-10\n")
    with pytest.raises(
        DataContractError,
        match=r"exams \(file exams\.csv\): required column\(s\) exam_type missing.*\[data\.columns\]",
    ):
        load_tables(DataConfig(), folder)


def test_chinese_headers_without_mapping_suggest_the_builtin(tmp_path):
    folder = write_county(tmp_path, students="学籍号,性别\nx,男\n")
    with pytest.raises(DataContractError, match=r'mappings = \["national_registry"\]'):
        load_tables(DataConfig(), folder)


def test_unreadable_file_is_named(tmp_path):
    folder = write_county(tmp_path, exams=None)
    (folder / "exams.xlsx").write_bytes(b"this is not a spreadsheet")
    with pytest.raises(DataContractError, match=r"exams: cannot read exams\.xlsx"):
        load_tables(DataConfig(), folder)


def test_two_files_for_one_table(county):
    shutil.copy(county / "exams.csv", county / "exams.xlsx")
    with pytest.raises(
        DataContractError, match=r"exams: 2 files \(exams\.csv, exams\.xlsx\); keep exactly one"
    ):
        load_tables(DataConfig(), county)


def test_missing_folder(tmp_path):
    with pytest.raises(DataContractError, match=r"data folder .*nowhere does not exist"):
        load_tables(DataConfig(source=str(tmp_path / "nowhere")))


def test_unknown_files_are_ignored_with_a_log_line(county, caplog):
    (county / "notes.txt").write_text("hello")
    (county / "pupils.csv").write_text("a\n1\n")
    with caplog.at_level(logging.INFO, logger="features.load"):
        load_tables(DataConfig(), county)
    assert "ignoring notes.txt" in caplog.text and "ignoring pupils.csv" in caplog.text


def test_gbk_csv(tmp_path):
    text = MINIMAL["students"].replace("s1", "第一小学")
    folder = write_county(
        tmp_path, encoding="gbk", students=text, exams=MINIMAL["exams"].replace("s1", "第一小学")
    )
    res = load_tables(DataConfig(), folder)
    assert res.tables.students["school_id"].tolist() == ["第一小学", "第一小学"]


def test_utf8_bom_csv(tmp_path):
    folder = write_county(tmp_path, encoding="utf-8-sig")
    assert load_tables(DataConfig(), folder).rejects.empty


def test_xlsx(tmp_path, county):
    frame = pd.read_csv(county / "students.csv", dtype=str)
    (county / "students.csv").unlink()
    frame.to_excel(county / "students.xlsx", index=False)
    res = load_tables(DataConfig(), county)
    assert res.tables.students["birth_ym"].tolist() == [
        pd.Timestamp("2011-03-01"),
        pd.Timestamp("2011-04-01"),
    ]


def test_parquet_with_dictionary_encoded_columns(county):
    att = pd.DataFrame(
        {"student_id": pd.Categorical(["a", "m", "m"]), "date": pd.to_datetime(["2024-09-02"] * 3),
         "session": pd.Categorical(["am", "am", "pm"]), "status": pd.Categorical(["present", "late", "旷课"])}
    )  # fmt: skip
    (county / "attendance.csv").unlink()
    att.to_parquet(county / "attendance.parquet")
    res = load_tables(DataConfig(mappings=("national_registry",), max_reject_share=1.0), county)
    assert res.tables.attendance["status"].tolist() == ["present", "late", "unexcused"]
    assert res.rejects.empty


def test_sqlite_url(tmp_path, county):
    url = f"sqlite:///{tmp_path / 'county.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in MINIMAL:
            pd.read_csv(county / f"{name}.csv", dtype=str).to_sql(name, conn, index=False)
        pd.DataFrame({"x": [1]}).to_sql("audit_log", conn, index=False)  # not a contract table
    engine.dispose()
    res = load_tables(DataConfig(source=url))
    assert len(res.tables.students) == 2 and res.rejects.empty
    assert res.tables.exams["exam_date"].tolist() == [pd.Timestamp("2025-01-10")]


def test_write_rejects_and_summary(tmp_path):
    folder = write_county(tmp_path / "c", attendance=(DATA / "bad_duplicates_attendance.csv").read_text())
    res = load_tables(ALL, folder)
    path = write_rejects(res.rejects, tmp_path / "out" / "rejects.csv")
    back = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert list(back.columns) == ["table", "file_row", "column", "value", "reason"]
    assert back[["table", "file_row", "value"]].values.tolist()[-1] == ["attendance", "7", "zz"]
    s = summarize(res)
    assert s.loc[
        "attendance", ["rows_read", "rows_loaded", "rows_rejected", "rows_repaired", "students"]
    ].tolist() == [
        6,
        1,
        4,
        1,
        1,
    ]
    assert s.loc["attendance", "rejected_by_reason"]["student_id not in the students table"] == 1
    assert s.loc["exam_results", "date_column"] == "exam_date"
    assert s.loc["attendance", "first_date"] == pd.Timestamp("2024-09-02")
    assert s.loc["exams", "students"] is pd.NA


def test_empty_rejects_file_has_a_header(tmp_path, county):
    path = write_rejects(load_tables(DataConfig(), county).rejects, tmp_path / "r.csv")
    assert path.read_text(encoding="utf-8-sig").strip() == "table,file_row,column,value,reason"


def test_big_category_frame_is_coerced_without_per_row_python():
    # 60k rows of dictionary-encoded attendance (the fast path) agree with plain pandas
    n = 60_000
    rng = np.random.default_rng(0)
    frames = {name: pd.read_csv(pd.io.common.StringIO(text), dtype=str) for name, text in MINIMAL.items()}
    att = pd.DataFrame(
        {"student_id": pd.Categorical(rng.choice(["a", "m"], n)),
         "date": pd.Timestamp("2024-09-02") + pd.to_timedelta(rng.integers(0, 20_000, n), unit="D"),
         "status": pd.Categorical(rng.choice(["present", "late"], n))}
    )  # fmt: skip
    frames["attendance"] = att
    res = tables_from_frames(frames, max_reject_share=1.0)
    exact = att.duplicated(keep="first")
    clash = att[~exact].duplicated(["student_id", "date"], keep=False).sum()
    assert res.rows_rejected()["attendance"] == clash > 0
    assert res.repaired["attendance"] == exact.sum() > 0
    assert len(res.tables.attendance) == n - exact.sum() - clash
    assert list(res.tables.attendance["status"].cat.categories)[:2] == ["present", "late"]
