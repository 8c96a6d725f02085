"""Header and value mappings: config entries, the built-in national registry mapping, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import DataConfig, parse_config
from features.errors import ConfigError
from features.load import load_tables
from features.mapping import (
    apply_mapping,
    build_mapping,
    mapping_from_config,
    read_mapping_file,
    split_derived,
)
from tests.features.conftest import write_county

SALT = DataConfig(mappings=("national_registry",), id_salt="test-salt-long-enough")


def _reg(n: int) -> str:
    """A registry number built from pieces (never an ID-shaped literal in the repo)."""
    return "G" + "5301" + "02" + "2012" + "0315" + f"{n:04d}"


def test_chinese_registry_export_loads_through_the_builtin_mapping(tmp_path):
    # header row 1; rows 2-4: 是/否 flags, 男/女, 出生日期 as a full date, 是否留守儿童
    students = (
        "学籍号,姓名,性别,出生日期,年级,班级,学校标识码,户口性质,是否住校,是否独生子女,是否孤儿,随班就读,健康状况,上下学方式,是否留守儿童,生效日期\n"
        f"{_reg(1)},王芳,女,2012-03-15,7,c1,s1,农业,是,否,否,非随班就读,健康或良好,步行,是,2024-09-01\n"
        f"{_reg(2)},李雷,男,2012-05-02,7,c1,s1,非农业,否,是,否,非随班就读,有慢性病,校车,否,2024-09-01\n"
        f"{_reg(3)},张伟,1,2012-07-09,7,c1,s1,居民户口,否,否,否,听力残疾随班就读,健康或良好,家长接送,,2024-09-01\n"
    )
    attendance = f"学籍号,日期,出勤状态\n{_reg(1)},2024-09-02,出勤\n{_reg(2)},2024-09-02,旷课\n{_reg(3)},2024-09-02,病假\n"
    exams = "考试编号,学校标识码,年级,考试类型,考试日期\ne1,s1,7,期末考试,2025-01-10\n"
    results = (
        "学籍号,考试编号,科目,分数,满分,等级,缺考\n"
        f"{_reg(1)},e1,数学,88,100,,否\n{_reg(2)},e1,语文,,,良好,否\n{_reg(3)},e1,道德与法治,,,,是\n"
    )
    registry = f"学籍号,异动日期,异动类型\n{_reg(1)},2024-09-01,入学\n{_reg(2)},2024-09-01,入学\n{_reg(3)},2024-09-01,入学\n"
    folder = write_county(
        tmp_path,
        students=students,
        attendance=attendance,
        exams=exams,
        exam_results=results,
        registry_events=registry,
    )
    res = load_tables(SALT, folder)
    assert res.rejects.empty, res.rejects
    st = res.tables.students.set_index(res.tables.students["student_id"].astype(str))
    assert len(st) == 3 and all(i.startswith("s-") for i in st.index)
    assert st["sex"].tolist() == ["F", "M", "M"] or sorted(st["sex"].tolist()) == ["F", "M", "M"]
    by_name = res.tables.student_names.set_index("name")["student_id"].astype(str)
    wang, li, zhang = by_name["王芳"], by_name["李雷"], by_name["张伟"]
    assert st.loc[wang, ["sex", "hukou_type", "is_boarding", "only_child", "inclusive_ed", "health_status", "commute_mode"]].tolist() == [
        "F", "agri", True, False, "none", 10, "walk"
    ]  # fmt: skip
    assert st.loc[li, ["hukou_type", "health_status", "commute_mode"]].tolist() == [
        "non_agri",
        30,
        "school_bus",
    ]
    assert pd.isna(st.loc[zhang, "hukou_type"])  # 居民户口 -> missing, not rejected
    assert st.loc[zhang, "inclusive_ed"] == "hearing"
    assert st.loc[wang, "birth_ym"] == pd.Timestamp("2012-03-01")
    assert "name" not in res.tables.students.columns
    # 是否留守儿童: 是 -> status 2, 否 -> 0, empty -> no event; dated at the roster row's valid_from
    lb = res.tables.left_behind.set_index(res.tables.left_behind["student_id"].astype(str))
    assert lb["status"].to_dict() == {wang: 2, li: 0}
    assert set(lb["effective_date"]) == {pd.Timestamp("2024-09-01")}
    att = res.tables.attendance.set_index(res.tables.attendance["student_id"].astype(str))["status"]
    assert att.to_dict() == {wang: "present", li: "unexcused", zhang: "leave_sick"}
    er = res.tables.exam_results.set_index(res.tables.exam_results["student_id"].astype(str))
    assert er.loc[li, ["subject", "level"]].tolist() == ["chinese", "B"]
    assert er.loc[zhang, ["subject", "absent"]].tolist() == ["morality_law", True]
    assert res.tables.exams["exam_type"].tolist() == ["final"]
    assert res.tables.registry_events["event_type"].unique().tolist() == ["enrol"]


def test_config_columns_and_values_win_over_the_builtin(tmp_path):
    cfg = parse_config(
        {
            "data": {
                "mappings": ["national_registry"],
                "columns": {"students": {"编号": "student_id"}, "状态": "status"},
                "values": {
                    "attendance.status": {"到": "present", "出勤": "late"},
                    "sex": {"M": "M", "F": "F"},
                },
            }
        }
    ).data
    m = mapping_from_config(cfg.mappings, cfg.columns, cfg.values)
    assert m.headers_for("students")["编号"] == "student_id"
    assert "编号" not in m.headers_for("attendance")  # a nested table maps that table only
    frame = pd.DataFrame({"学籍号": ["x", "y", "z"], "状态": ["到", "出勤", "迟到"]})
    out = apply_mapping("attendance", frame, m)
    assert list(out.columns) == ["student_id", "status"]
    assert out["status"].tolist() == ["present", "late", "late"]  # the config's 出勤 wins


def test_table_column_values_apply_to_that_table_only():
    m = build_mapping(values={"exam_results.level": {"优秀": "A"}})
    assert apply_mapping("exam_results", pd.DataFrame({"level": ["优秀"]}), m)["level"].tolist() == ["A"]
    assert apply_mapping("hardship", pd.DataFrame({"level": ["优秀"]}), m)["level"].tolist() == ["优秀"]


def test_unmapped_codes_stay_visible_and_are_rejected(tmp_path):
    folder = write_county(
        tmp_path, attendance="student_id,date,status\na,2024-09-02,出勤\nm,2024-09-02,请假中\n"
    )
    res = load_tables(DataConfig(mappings=("national_registry",), max_reject_share=1.0), folder)
    assert res.rejects[["table", "file_row", "column", "value"]].values.tolist() == [
        ["attendance", 3, "status", "请假中"]
    ]
    assert "map county codes in [data.values]" in res.rejects["reason"].iloc[0]


def test_two_headers_for_one_column_fill_each_other():
    m = read_mapping_file("national_registry")
    frame = pd.DataFrame({"学籍号": ["x", None], "全国学籍号": ["x", "y"]})
    assert apply_mapping("students", frame, m)["student_id"].tolist() == ["x", "y"]


@pytest.mark.parametrize(
    ("columns", "values", "message"),
    [
        ({"性别": "sexe"}, None, r"\[data\.columns\] '性别' maps to 'sexe', which is not a column of any table; did you mean 'sex'\?"),
        ({"students": {"年级": "grad"}}, None, r"not a column of table 'students'; did you mean 'grade'\?"),
        ({"studnets": {"年级": "grade"}}, None, r"'studnets' is a table of mappings but not a contract table; did you mean 'students'\?"),
        (None, {"attendance.stauts": {"到": "present"}}, r"\[data\.values\] 'attendance\.stauts': table 'attendance' has no column 'stauts'; did you mean 'status'\?"),
        (None, {"sexx": {"男": "M"}}, r"'sexx' is not a column of any table; did you mean 'sex'\?"),
        (None, {"sex": "M"}, r"'sex' must be a table of codes"),
    ],
)  # fmt: skip
def test_mapping_to_a_column_that_does_not_exist_names_the_nearest(columns, values, message):
    with pytest.raises(ConfigError, match=message):
        build_mapping(columns, values)


def test_unknown_mapping_name(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"'national_registy' is neither a built-in mapping .* did you mean 'national_registry'\?",
    ):
        load_tables(DataConfig(mappings=("national_registy",)), tmp_path)


def test_mapping_file_by_path(tmp_path):
    path = tmp_path / "county.toml"
    path.write_text(
        '[columns]\n"学生编号" = "student_id"\n[values]\nsex = { "男" = "M" }\n', encoding="utf-8"
    )
    m = mapping_from_config([str(path)])
    assert apply_mapping("students", pd.DataFrame({"学生编号": ["a"], "sex": ["男"]}), m).to_dict("list") == {
        "student_id": ["a"],
        "sex": ["M"],
    }
    path.write_text('[colums]\n"a" = "b"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['colums'\]"):
        mapping_from_config([str(path)])


def test_left_behind_table_wins_over_the_roster_flag():
    st = pd.DataFrame({"student_id": ["a"], "valid_from": ["2024-09-01"], "left_behind.status": ["2"]})
    survey = pd.DataFrame({"student_id": ["a"], "effective_date": ["2024-10-01"], "status": ["1"]})
    out = split_derived({"students": st, "left_behind": survey})
    assert out["left_behind"] is survey and "left_behind.status" not in out["students"].columns
