"""Keyed hashing of registry numbers and national IDs; names split off; nothing identifying leaks."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.config import DataConfig
from features.errors import ConfigError
from features.identity import hash_ids, keyed_hash, looks_like_identifier, pseudonymize
from features.load import load_tables, write_rejects
from tests.features.conftest import write_county

K = "a-test-salt-of-16+"  # synthetic, long enough (MIN_SALT_CHARS)


def _nid(n: int) -> str:
    """An 18-character national-ID-shaped value, built at run time from pieces."""
    return "5301" + "02" + "2012" + "0315" + f"{n:03d}" + "X"


def _reg(n: int) -> str:
    return "G" + _nid(n)


def test_same_salt_same_hash_across_tables_and_forms():
    frames = {
        "students": pd.DataFrame({"student_id": [_reg(1), _reg(2)]}),
        "attendance": pd.DataFrame({"student_id": [_nid(1).lower()]}),  # bare ID, lower-case x
        "aid": pd.DataFrame({"national_id": [_nid(2)]}),
    }
    out = pseudonymize(frames, "salt-1-long-enough")
    a, b = out["students"]["student_id"].tolist()
    assert out["attendance"]["student_id"].tolist() == [a]
    assert out["aid"]["student_id"].tolist() == [b] and "national_id" not in out["aid"].columns
    assert a != b and a.startswith("s-") and len(a) == 18
    other = pseudonymize(frames, "salt-2-long-enough")["students"]["student_id"].tolist()
    assert other[0] != a and other[1] != b
    assert pseudonymize(frames, "salt-1-long-enough")["students"]["student_id"].tolist() == [
        a,
        b,
    ]  # deterministic


def test_opaque_ids_are_kept():
    ids = pd.Series(["s-0042", "1234", "local-7", _reg(5)])
    assert looks_like_identifier(ids).tolist() == [False, False, False, True]
    assert hash_ids(ids, K).tolist()[:3] == ["s-0042", "1234", "local-7"]
    # no identifier at all: no salt needed
    assert pseudonymize({"students": pd.DataFrame({"student_id": ["a"]})}, None)["students"][
        "student_id"
    ].tolist() == ["a"]


def test_registry_column_fills_student_id_and_is_dropped():
    frame = pd.DataFrame({"student_id": ["", None], "registry_no": [_reg(1), _reg(2)]})
    out = pseudonymize({"attendance": frame}, K)["attendance"]
    assert list(out.columns) == ["student_id"]
    assert out["student_id"].tolist() == keyed_hash([_reg(1), _reg(2)], K)


def test_no_salt_is_a_config_error_saying_how_to_set_it(monkeypatch):
    monkeypatch.delenv("BAOXUE_ID_SALT", raising=False)
    frames = {"students": pd.DataFrame({"student_id": [_reg(1)]})}
    with pytest.raises(
        ConfigError,
        match=r"students hold registry numbers .* Set \[data\] id_salt in baoxue\.toml or the environment variable BAOXUE_ID_SALT",
    ) as exc:
        pseudonymize(frames, None)
    assert _nid(1) not in str(exc.value)


def test_salt_from_the_environment(tmp_path, monkeypatch):
    folder = write_county(
        tmp_path,
        students=f"student_id,valid_from,school_id,grade,sex,birth_ym\n{_reg(1)},2024-09-01,s1,7,M,2011-03\n",
    )
    monkeypatch.setenv("MY_SALT", "from-env-long-enough")
    res = load_tables(DataConfig(id_salt_env="MY_SALT", max_reject_share=1.0), folder)
    assert res.tables.students["student_id"].tolist() == keyed_hash([_reg(1)], "from-env-long-enough")
    monkeypatch.delenv("MY_SALT")
    with pytest.raises(ConfigError, match="environment variable MY_SALT"):
        load_tables(DataConfig(id_salt_env="MY_SALT"), folder)


def test_raw_identifiers_and_names_never_reach_tables_rejects_or_logs(tmp_path, caplog):
    students = (
        "学籍号,身份证号,姓名,性别,出生年月,年级,学校标识码,生效日期\n"
        f"{_reg(1)},{_nid(1)},王芳,女,2012-03,7,s1,2024-09-01\n"
        f"{_reg(2)},{_nid(2)},李雷,X,2012-03,7,s1,2024-09-01\n"  # rejected: sex X
        f"{_reg(3)},{_nid(3)},,男,2012-03,7,s1,2024-09-01\n"
    )
    attendance = (
        f"身份证号,日期,出勤状态\n{_nid(1)},2024-09-02,出勤\n{_nid(9)},2024-09-02,出勤\n"  # 9: unknown
    )
    folder = write_county(tmp_path, students=students, attendance=attendance)
    with caplog.at_level(logging.DEBUG):
        res = load_tables(
            DataConfig(mappings=("national_registry",), id_salt=K, max_reject_share=1.0), folder
        )
    rejects_csv = write_rejects(res.rejects, tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    everything = (
        rejects_csv
        + caplog.text
        + "".join(getattr(res.tables, n).astype(str).to_csv() for n in res.tables.present())
    )
    for raw in (_nid(1), _nid(2), _nid(3), _nid(9), "李雷"):
        assert raw not in everything
    assert "王芳" in res.tables.student_names["name"].tolist()  # names kept, for reports only
    assert "王芳" not in rejects_csv + caplog.text
    assert res.tables.attendance["student_id"].tolist() == keyed_hash([_nid(1)], K)
    unknown = res.rejects[(res.rejects["column"] == "student_id") & (res.rejects["table"] == "attendance")]
    assert unknown["value"].tolist() == keyed_hash([_nid(9)], K)  # the hash, not the ID
    assert set(res.tables.students.columns).isdisjoint({"name", "national_id", "registry_no"})


def test_school_class_and_staff_names_are_kept_in_their_own_tables_only(tmp_path):
    """The contract's optional schools.name, classes.name and staff.name (issue 19): read from the
    registry's headers, kept where they belong; a 姓名 anywhere else still never stays."""
    folder = write_county(
        tmp_path,
        schools="学校标识码,学校名称,学校类型\ns1,东坪村小学,小学\n",
        classes="班级编号,学校标识码,学年,年级,班级名称\nc1,s1,2024,7,七年级(1)班\n",
        staff="staff_id,school_id,role,class_id,教师姓名\nh1,s1,head_teacher,c1,王丽\nk1,s1,counsellor,,\n",
        guardians="student_id,member_no,relation,valid_from,姓名\na,1,mother,2024-09-01,张秀英\n",
    )
    res = load_tables(DataConfig(mappings=("national_registry",), max_reject_share=1.0), folder)
    t = res.tables
    assert t.schools["name"].tolist() == ["东坪村小学"]
    assert t.classes["name"].tolist() == ["七年级(1)班"]
    assert t.staff["name"].tolist()[0] == "王丽" and pd.isna(
        t.staff["name"].iloc[1]
    )  # optional: may be empty
    assert "name" not in t.guardians.columns  # a guardian's name is not the contract's
    assert "张秀英" not in "".join(
        getattr(t, n).astype(str).to_csv() for n in t.present() if n != "student_names"
    )
