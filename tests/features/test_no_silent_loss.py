"""Issue 20, no silent loss in loading: every XLSX sheet, China's holidays in the default
calendar, local school dates from UTC timestamps, the value (not the child) rejected, the
rejects file written at the threshold, exact copies repaired."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

from features.config import BaoxueConfig, DataConfig, parse_config
from features.errors import ConfigError, DataContractError
from features.load import load_tables, tables_from_frames, write_rejects
from tests.features.conftest import MINIMAL, write_county


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(pd.io.common.StringIO(text), dtype=str)


# --- Excel like a clerk makes it -----------------------------------------------------------------


def _registry_workbook(path, *, title_rows: int = 0) -> None:
    """registry_events.xlsx: events to 2023-11 on one sheet, from 2023-12 on a second, a notes sheet."""
    autumn = pd.DataFrame(
        {
            "student_id": ["a", "m"],
            "event_date": ["2023-09-01", "2023-11-20"],
            "event_type": ["enrol", "enrol"],
        }
    )
    winter = pd.DataFrame(
        {
            "student_id": ["a", "m", "m"],
            "event_date": ["2023-12-04", "2024-03-01", "2024-03-18"],
            "event_type": ["transfer_in", "suspected_mark", "dropout_mark"],
        }
    )
    notes = pd.DataFrame({"说明": ["本表由学籍系统导出", "2023年12月起另表"]})
    with pd.ExcelWriter(path) as xl:
        autumn.to_excel(xl, sheet_name="2023秋", index=False, startrow=title_rows)
        winter.to_excel(xl, sheet_name="2023-12起", index=False, startrow=title_rows)
        notes.to_excel(xl, sheet_name="说明", index=False)


def test_every_sheet_whose_header_matches_is_read_and_reported(county):
    (county / "registry_events.csv").unlink()
    _registry_workbook(county / "registry_events.xlsx")
    res = load_tables(DataConfig(), county)
    ev = res.tables.registry_events
    # the second sheet (everything from 2023-12 on) is no longer lost
    assert ev["event_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-09-01",
        "2023-11-20",
        "2023-12-04",
        "2024-03-01",
        "2024-03-18",
    ]
    assert "dropout_mark" in set(ev["event_type"])
    sheets = {s["sheet"]: s for s in res.sheets}
    assert sheets["2023秋"]["read"] and sheets["2023-12起"]["read"] and sheets["2023-12起"]["rows"] == 3
    assert not sheets["说明"]["read"] and "header does not match" in sheets["说明"]["note"]
    report = "\n".join(res.report())
    assert "registry_events: read sheet '2023-12起' of registry_events.xlsx (3 rows)" in report
    assert "registry_events: skipped sheet '说明'" in report


def test_sheets_are_matched_after_the_column_mappings_and_rejects_name_the_sheet(county):
    (county / "registry_events.csv").unlink()
    a = pd.DataFrame({"学籍号": ["a"], "异动日期": ["2023-09-01"], "异动类型": ["enrol"]})
    b = pd.DataFrame(
        {"学籍号": ["m", "m"], "异动日期": ["2023-12-04", "2023-12-05"], "异动类型": ["enrol", "??"]}
    )
    with pd.ExcelWriter(county / "registry_events.xlsx") as xl:
        a.to_excel(xl, sheet_name="上学期", index=False)
        b.to_excel(xl, sheet_name="下学期", index=False)
    cfg = DataConfig(
        max_reject_share=1.0,
        columns={
            "registry_events": {"学籍号": "student_id", "异动日期": "event_date", "异动类型": "event_type"}
        },
    )
    res = load_tables(cfg, county)
    assert len(res.tables.registry_events) == 2
    bad = res.rejects[res.rejects["table"] == "registry_events"]
    # row 3 of the second sheet, not row 4 of a stacked frame
    assert bad[["sheet", "file_row", "column", "value"]].values.tolist() == [
        ["下学期", 3, "event_type", "??"]
    ]


def test_header_row_skips_title_rows_and_rows_stay_spreadsheet_rows(county):
    (county / "registry_events.csv").unlink()
    _registry_workbook(county / "registry_events.xlsx", title_rows=2)  # header on row 3
    st = _csv(MINIMAL["students"])
    st.loc[1, "sex"] = "X"  # spreadsheet row 5 of a file with two title rows
    (county / "students.csv").unlink()
    (county / "students.csv").write_text(
        "某县学生名册\n2024年9月\n" + st.to_csv(index=False), encoding="utf-8"
    )
    cfg = DataConfig(header_row={"registry_events": 3, "students": 3}, max_reject_share=1.0)
    res = load_tables(cfg, county)
    assert res.tables.students["student_id"].tolist() == ["a"]
    bad = res.rejects[res.rejects["table"] == "students"]
    assert bad[["file_row", "column"]].values.tolist() == [[5, "sex"]]
    # a's events are read from both sheets; m's point at m's roster row as a person sees it
    assert len(res.tables.registry_events) == 2
    ev = res.rejects[res.rejects["table"] == "registry_events"]
    assert ev[["sheet", "file_row"]].values.tolist() == [["2023秋", 5], ["2023-12起", 5], ["2023-12起", 6]]
    assert set(ev["reason"]) == {"student's roster row was rejected: see students row 5"}
    # one number for every table works too, and the reader refuses nonsense
    assert DataConfig(header_row=3).header_row_of("exams") == 3
    with pytest.raises(ConfigError, match="header_row"):
        DataConfig(header_row=0)


def test_data_sheets_names_the_sheets_to_read(county):
    (county / "registry_events.csv").unlink()
    _registry_workbook(county / "registry_events.xlsx")
    cfg = parse_config({"data": {"sheets": {"registry_events": ["2023-12起"]}, "max_reject_share": 1.0}}).data
    res = load_tables(cfg, county)
    assert len(res.tables.registry_events) == 3
    assert [s["sheet"] for s in res.sheets if s["read"]] == ["2023-12起"]
    assert next(s for s in res.sheets if s["sheet"] == "2023秋")["note"] == "not named in [data.sheets]"
    with pytest.raises(
        ConfigError, match=r"\[data.sheets\] unknown table 'registry_event'; did you mean 'registry_events'"
    ):
        load_tables(DataConfig(sheets={"registry_event": "2023秋"}), county)
    wrong = DataConfig(sheets={"registry_events": "2024春"})
    with pytest.raises(DataContractError, match=r"\[data.sheets\] names sheet\(s\) '2024春'.*'2023-12起'"):
        load_tables(wrong, county)


# --- a default calendar with China's holidays ----------------------------------------------------


def _streak_frames(unexcused: list[str], present: list[str]) -> dict[str, pd.DataFrame]:
    frames = {name: _csv(text) for name, text in MINIMAL.items()}
    days = [(d, "unexcused") for d in unexcused] + [(d, "present") for d in present]
    frames["attendance"] = pd.DataFrame(
        {"student_id": "a", "date": [d for d, _ in days], "status": [s for _, s in days]}
    )
    return frames


def _county_calendar(start_year: int) -> pd.DataFrame:
    """The simulated county's calendar (春节, Qingming and Labour Day off), as a calendar table."""
    from features.sim import school_year

    sy = school_year(start_year)
    dates = pd.DatetimeIndex(sy.dates)
    return pd.DataFrame(
        {
            "school_id": "s1",
            "date": dates.strftime("%Y-%m-%d"),
            "is_school_day": sy.is_school_day,
            "day_type": sy.day_type,
        }
    )


def _rules(frames: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, list]:
    from features.build import build_features
    from features.cohort import cohort
    from risk.rules import evaluate_rules

    tables = tables_from_frames(frames).tables
    cfg = BaoxueConfig()
    feats = build_features(tables, as_of, cfg)
    alerts = evaluate_rules(tables, as_of, feats, cohort=cohort(tables, as_of), config=cfg)
    a = alerts[alerts["student_id"].astype(str) == "a"]
    return {r.rule: [r.first_day, r.days] for r in a.itertuples()}


def test_five_unexcused_days_after_spring_festival_fire_the_rules_without_a_calendar_table():
    # 春节 2025 is 29 Jan; the county's spring term starts Mon 17 Feb: 17-21 Feb are school days
    week = ["2025-02-17", "2025-02-18", "2025-02-19", "2025-02-20", "2025-02-21"]
    frames = _streak_frames(week, ["2025-01-06", "2025-01-07"])
    as_of = dt.date(2025, 2, 21)
    with_table = _rules({**frames, "calendar": _county_calendar(2024)}, as_of)
    without = _rules(frames, as_of)
    assert with_table == {
        "rule_48h": ["2025-02-17", 5],
        "rule_3day": ["2025-02-17", 5],
        "rule_5day": ["2025-02-17", 5],
    }
    assert without == with_table


def test_qingming_is_a_holiday_without_a_calendar_table():
    # Qingming 2025: Fri 4 Apr to Sun 6 Apr off; Tue 1 - Thu 3 and Mon 7 unexcused = 4 school days
    frames = _streak_frames(["2025-04-01", "2025-04-02", "2025-04-03", "2025-04-07"], ["2025-03-31"])
    as_of = dt.date(2025, 4, 7)
    with_table = _rules({**frames, "calendar": _county_calendar(2024)}, as_of)
    without = _rules(frames, as_of)
    assert with_table == {"rule_48h": ["2025-04-01", 4], "rule_3day": ["2025-04-01", 4]}
    assert without == with_table


def test_make_up_workdays_count_and_the_load_report_names_the_calendar(county, caplog):
    from features.time import OFFICIAL_YEARS, default_calendar

    # 调休: Sunday 27 Apr 2025 is a workday (for Labour Day, 1-5 May off)
    days = set(default_calendar(dt.date(2025, 4, 25), dt.date(2025, 5, 6))["date"].dt.strftime("%m-%d"))
    assert days == {"04-25", "04-27", "04-28", "04-29", "04-30", "05-06"}
    res = load_tables(DataConfig(), county)
    assert res.calendar.startswith("no calendar table: default calendar (chinesecalendar")
    assert any(line.startswith("calendar: no calendar table") for line in res.report())
    with_table = write_county(
        county.parent / "c2", calendar="school_id,date,is_school_day\ns1,2024-09-02,1\n"
    )
    assert load_tables(DataConfig(), with_table).calendar.startswith("county calendar table (1 schools")
    # outside the years chinesecalendar covers: a warning, and Mon-Fri with the fixed-date holidays
    year = OFFICIAL_YEARS.stop + 1
    with caplog.at_level(logging.WARNING, logger="features.time"):
        later = default_calendar(dt.date(year, 9, 28), dt.date(year, 10, 9))
    assert f"no official holidays for {year}" in caplog.text
    assert all(d.weekday() < 5 and not (d.month == 10 and d.day <= 7) for d in later["date"].dt.date)


def test_the_breaks_are_configurable(county):
    from features.time import current_default_calendar, default_calendar

    cfg = DataConfig(winter_break_before_days=7, winter_break_after_days=19, summer_break_start="07-01")
    load_tables(cfg, county)  # the county's settings become the default calendar
    try:
        days = set(default_calendar(dt.date(2025, 1, 15), dt.date(2025, 2, 21))["date"].dt.strftime("%m-%d"))
        assert "01-21" in days and "01-22" not in days  # 29 Jan - 7
        assert "02-17" not in days and "02-18" in days  # 29 Jan + 19 = 17 Feb
        assert current_default_calendar().summer_break_start == "07-01"
    finally:
        load_tables(DataConfig(), county)
    with pytest.raises(ConfigError, match="summer_break_start"):
        DataConfig(summer_break_start="7/1")


# --- dates mean local school dates ----------------------------------------------------------------


def test_utc_timestamps_keep_the_local_school_date(county, tmp_path):
    # Monday 2 Sep 2024, 00:30 in Beijing = Sunday 1 Sep, 16:30 UTC
    (county / "attendance.csv").write_text(
        "student_id,date,status\na,2024-09-01T16:30:00Z,unexcused\nm,2024-09-02 08:00:00+08:00,present\n"
    )
    res = load_tables(DataConfig(), county)
    assert res.tables.attendance["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-09-02", "2024-09-02"]
    # a tz-aware Parquet column too
    (county / "attendance.csv").unlink()
    pd.DataFrame(
        {
            "student_id": ["a", "m"],
            "date": pd.to_datetime(["2024-09-01 16:30", "2024-09-02 01:00"]).tz_localize("UTC"),
            "status": ["present", "present"],
        }
    ).to_parquet(county / "attendance.parquet")
    res = load_tables(DataConfig(), county)
    assert res.tables.attendance["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-09-02", "2024-09-02"]
    # the county's zone is a setting
    utc = load_tables(DataConfig(timezone="UTC"), county).tables.attendance
    assert utc["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-09-01", "2024-09-02"]
    with pytest.raises(ConfigError, match="timezone"):
        DataConfig(timezone="Beijing")


# --- reject the value, not the child --------------------------------------------------------------


def test_absurd_optional_values_keep_the_child_scored_and_ruled():
    from features.build import build_features

    ids = ["a", "b", "c", "d"]
    frames = _streak_frames([], [])
    frames["students"] = pd.DataFrame(
        {
            "student_id": ids,
            "valid_from": "2024-09-01",
            "school_id": "s1",
            "grade": "7",
            "sex": "F",
            "birth_ym": "2011-03",
            "distance_km": ["2", "-5", "99999", "3"],
            "health_status": ["10", "10", "20", "很好"],
        }
    )
    days = ["2025-03-03", "2025-03-04", "2025-03-05"]
    frames["attendance"] = pd.DataFrame(
        {"student_id": np.repeat(ids, 3), "date": days * 4, "status": "unexcused"}
    )
    frames["registry_events"] = pd.DataFrame(
        {"student_id": ids, "event_date": "2024-09-01", "event_type": "enrol"}
    )
    frames["exam_results"] = pd.DataFrame(
        {"student_id": ids, "exam_id": "e1", "subject": "math", "score": "70", "full_marks": "100"}
    )
    res = tables_from_frames(frames)  # the default max_reject_share: nothing is lost
    assert res.rows_rejected() == {}
    st = res.tables.students.set_index("student_id")
    assert st.index.tolist() == ids
    assert st["distance_km"].isna().tolist() == [False, True, True, False]
    assert st["health_status"].isna().tolist() == [False, False, False, True]
    rej = res.rejects.sort_values("file_row")
    assert rej[["table", "column", "file_row", "value"]].values.tolist() == [
        ["students", "distance_km", 3, "-5"],
        ["students", "distance_km", 4, "99999"],
        ["students", "health_status", 5, "很好"],
    ]
    assert rej["reason"].tolist() == [
        "value must be >= 0; set to missing, row kept",
        "value must be <= 200; set to missing, row kept",
        "not an integer; set to missing, row kept",
    ]
    as_of = dt.date(2025, 3, 5)
    feats = build_features(res.tables, as_of, BaoxueConfig())
    assert sorted(feats.index.astype(str)) == ids  # every child is in the cohort, scored
    from features.cohort import cohort
    from risk.rules import evaluate_rules

    alerts = evaluate_rules(res.tables, as_of, feats, cohort=cohort(res.tables, as_of), config=BaoxueConfig())
    assert sorted(alerts.loc[alerts["rule"] == "rule_48h", "student_id"].astype(str)) == ids


def test_rows_of_a_rejected_roster_row_name_the_root_cause():
    frames = {name: _csv(text) for name, text in MINIMAL.items()}
    frames["students"].loc[1, "sex"] = "X"  # m's only roster row (spreadsheet row 3)
    frames["attendance"] = _csv(
        "student_id,date,status\na,2024-09-02,present\nm,2024-09-02,present\nzz,2024-09-02,present\n"
    )
    res = tables_from_frames(frames, max_reject_share=1.0)
    att = res.rejects[res.rejects["table"] == "attendance"].set_index("value")["reason"]
    assert att["m"] == "student's roster row was rejected: see students row 3"
    assert att["zz"] == "student_id not in the students table"
    er = res.rejects[res.rejects["table"] == "exam_results"]
    assert er["reason"].tolist() == ["student's roster row was rejected: see students row 3"]


# --- the rejects file -----------------------------------------------------------------------------


def test_the_rejects_file_is_written_when_the_threshold_stops_the_load(county):
    att = "student_id,date,status\n" + "".join(f"a,2024-09-{d:02d},absent?\n" for d in range(2, 12))
    (county / "attendance.csv").write_text(att + "m,2024-09-02,present\n")
    with pytest.raises(DataContractError, match=r"attendance: 10 of 11 rows rejected.*rejects file") as err:
        load_tables(DataConfig(), county)
    path = county / "rejects.csv"
    assert str(path) in str(err.value)
    back = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert len(back) == 10 and set(back["column"]) == {"status"}
    # a path given by the caller (the nightly's out/rejects_<date>.csv)
    other = county.parent / "out" / "rejects_2024-09-12.csv"
    with pytest.raises(DataContractError, match="rejects_2024-09-12.csv"):
        load_tables(DataConfig(), county, rejects_path=other)
    assert other.is_file()


def test_beyond_the_csv_limit_rejects_are_parquet_with_a_csv_summary(tmp_path, monkeypatch):
    import features.load as load

    rejects = pd.DataFrame(
        {
            "table": ["attendance"] * 4 + ["students"],
            "file_row": [2, 3, 4, 5, 9],
            "column": ["status"] * 4 + ["sex"],
            "value": ["x", "x", "y", "x", "X"],
            "reason": ["unknown code"] * 4 + ["unknown code"],
        }
    )
    monkeypatch.setattr(load, "REJECTS_CSV_MAX_ROWS", 3)
    path = write_rejects(rejects, tmp_path / "rejects.csv")
    assert path == tmp_path / "rejects.parquet" and not (tmp_path / "rejects.csv").exists()
    assert len(pd.read_parquet(path)) == 5
    summary = pd.read_csv(tmp_path / "rejects_summary.csv", encoding="utf-8-sig")
    assert summary.values.tolist() == [
        ["attendance", "status", "unknown code", 4, 4, 2, 5],
        ["students", "sex", "unknown code", 1, 1, 9, 9],
    ]
    monkeypatch.setattr(load, "REJECTS_CSV_MAX_ROWS", 1_000_000)
    assert write_rejects(rejects, tmp_path / "rejects.csv") == tmp_path / "rejects.csv"
    assert not (tmp_path / "rejects.parquet").exists()  # no stale file of the other format


def test_a_table_of_exact_copies_is_repaired_and_the_load_goes_on(county):
    rows = [f"a,2024-09-{d:02d},present\n" for d in range(2, 12)]
    # 10 distinct rows, each copied 9 more times: 90% of the 100 rows are exact copies
    (county / "attendance.csv").write_text("student_id,date,status\n" + "".join(rows * 10))
    res = load_tables(DataConfig(), county)  # max_reject_share 5%: it does not stop
    assert len(res.tables.attendance) == 10
    assert res.repaired == {"attendance": 90}
    assert res.rejects.empty and res.rows_rejected() == {}
    assert "attendance: 90 exact duplicate rows repaired (dropped, the first copy kept)" in res.report()
