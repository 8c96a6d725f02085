"""Messy mode: inject the faults real county exports have, and record each one.

Every injected fault is listed in ``truth/faults.csv`` (``table, file_row, column, kind``)
so a test can check that loading rejects or repairs each of them with a reason. The
roster (``students``) is exported the way the national registry does it: Chinese
headers, 男/女 and 是/否 codes, names in the same sheet; the county's ``baoxue.toml``
maps it with the built-in ``national_registry`` mapping.

Fault kinds: ``exact_duplicate`` (repaired: the copy is dropped), ``conflicting_duplicate``
(both rows rejected), ``unknown_code``, ``impossible_date``, ``birth_after_enrolment``,
``unknown_student``, ``score_above_full_marks``, ``no_score_no_level``, and
``missing_day`` (a school day a class never submitted: no rows, so the day is unknown,
not present; it has no file row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_messy", "FAULT_KINDS", "MESSY_CONFIG"]

FAULT_KINDS = (
    "exact_duplicate", "conflicting_duplicate", "unknown_code", "impossible_date",
    "birth_after_enrolment", "unknown_student", "score_above_full_marks", "no_score_no_level",
    "missing_day",
)  # fmt: skip

MESSY_CONFIG = """# Written by `baoxue simulate --messy`: the roster is a national-registry export.
[data]
source = "."
mappings = ["national_registry"]
max_reject_share = 0.05
"""

_ROSTER_HEADERS = {
    "student_id": "学籍号", "name": "姓名", "valid_from": "生效日期", "valid_to": "失效日期",
    "school_id": "学校标识码", "class_id": "班级", "grade": "年级", "sex": "性别", "birth_ym": "出生年月",
    "ethnicity_code": "民族", "hukou_type": "户口性质", "enrol_ym": "入学年月", "is_boarding": "是否住校",
    "is_migrant_child": "是否随迁子女", "only_child": "是否独生子女", "orphan": "是否孤儿",
    "inclusive_ed": "随班就读", "disability_type": "残疾类型", "health_status": "健康状况",
    "distance_km": "上下学距离", "commute_mode": "上下学方式",
}  # fmt: skip
_INCLUSIVE_ZH = {"none": "非随班就读", "visual": "视力残疾随班就读", "hearing": "听力残疾随班就读",
                 "intellectual": "智力残疾随班就读", "other": "其他残疾随班就读"}  # fmt: skip


class _Faults:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, table: str, positions, column: str, kind: str) -> None:
        for pos in np.atleast_1d(positions):
            self.rows.append({"table": table, "file_row": int(pos) + 2, "column": column, "kind": kind})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["table", "file_row", "column", "kind"])


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = s.dt.strftime("%Y-%m-%d").astype("object")
        else:
            out[col] = s.astype("object")
    return pd.DataFrame(out)


def _pick(rng: np.random.Generator, n: int, k: int, taken: set[int]) -> np.ndarray:
    free = np.setdiff1d(np.arange(n), np.fromiter(taken, dtype=np.int64, count=len(taken)))
    pick = rng.choice(free, size=min(k, len(free)), replace=False)
    taken.update(pick.tolist())
    return np.sort(pick)


def _inject_duplicates(frame: pd.DataFrame, rng, faults: _Faults, table: str, n_exact: int, n_conflict: int,
                       change: dict[str, object], taken: set[int]) -> pd.DataFrame:  # fmt: skip
    """Append exact copies (repairable) and conflicting copies (both sides rejected)."""
    n = len(frame)
    exact = _pick(rng, n, n_exact, taken)
    conflict = _pick(rng, n, n_conflict, taken)
    copies = frame.iloc[exact]
    clash = frame.iloc[conflict].copy()
    for col, value in change.items():
        clash[col] = value
    out = pd.concat([frame, copies, clash], ignore_index=True)
    faults.add(table, np.arange(n, n + len(exact)), "*", "exact_duplicate")
    faults.add(table, conflict, "+key", "conflicting_duplicate")
    faults.add(table, np.arange(n + len(exact), n + len(exact) + len(clash)), "+key", "conflicting_duplicate")
    return out


def make_messy(county, *, seed: int = 0, rate: float = 0.0005):
    """Return a copy of ``county`` with faults injected and recorded in ``county.faults``."""
    rng = np.random.default_rng([seed, 7])
    frames = dict(county.frames)
    faults = _Faults()
    scale = lambda n: max(2, int(n * rate))  # noqa: E731

    # ---- students: the registry roster with Chinese headers and codes
    st = frames["students"].copy()
    versions = st.groupby("student_id", observed=True)["student_id"].transform("size").to_numpy()
    many = np.flatnonzero(versions >= 2)  # faults only where the student keeps another row
    taken: set[int] = set(range(len(st))) - set(many.tolist())
    names = frames.pop("student_names").set_index("student_id")["name"]
    st.insert(1, "name", st["student_id"].map(names))
    txt = _as_text(st)
    bad_sex = _pick(rng, len(st), 3, taken)
    txt.loc[bad_sex, "sex"] = "9"
    faults.add("students", bad_sex, "sex", "unknown_code")
    bad_birth = _pick(rng, len(st), 3, taken)
    txt.loc[bad_birth, "birth_ym"] = "2009-13"
    faults.add("students", bad_birth, "birth_ym", "impossible_date")
    after = _pick(rng, len(st), 3, taken)
    vf_year = pd.to_datetime(st.loc[after, "valid_from"]).dt.year
    txt.loc[after, "birth_ym"] = [f"{y + 1}-03" for y in vf_year]
    faults.add("students", after, "birth_ym", "birth_after_enrolment")
    txt["sex"] = txt["sex"].map({"M": "男", "F": "女"}).fillna(txt["sex"])
    for col in ("is_boarding", "is_migrant_child", "only_child", "orphan"):
        txt[col] = txt[col].map({True: "是", False: "否"})
    txt["hukou_type"] = txt["hukou_type"].map({"agri": "农业", "non_agri": "非农业"})
    txt["inclusive_ed"] = txt["inclusive_ed"].map(_INCLUSIVE_ZH)
    txt = _inject_duplicates(txt, rng, faults, "students", 2, 0, {}, taken)
    frames["students"] = txt.rename(columns=_ROSTER_HEADERS)

    # ---- attendance: CSV export with dates as text
    att = frames["attendance"]
    a_txt = _as_text(att)
    n = len(a_txt)
    taken = set()
    k = scale(n)
    codes = _pick(rng, n, k, taken)
    a_txt.loc[codes, "status"] = "absent?"
    faults.add("attendance", codes, "status", "unknown_code")
    dates = _pick(rng, n, k, taken)
    a_txt.loc[dates, "date"] = [d[:8] + "31" if d[5:7] in ("02", "04", "06", "09", "11") else d[:4] + "-13-01"
                                for d in a_txt.loc[dates, "date"]]  # fmt: skip
    faults.add("attendance", dates, "date", "impossible_date")
    ghost = _pick(rng, n, max(1, k // 2), taken)
    a_txt.loc[ghost, "student_id"] = "S9999999"
    faults.add("attendance", ghost, "student_id", "unknown_student")
    # missing days: every row of one school's students on a few dates is never submitted
    first_school = st.drop_duplicates("student_id").set_index("student_id")["school_id"]
    att_school = att["student_id"].astype("str").map(first_school).to_numpy()
    drop = np.zeros(n, bool)
    school_days = att["date"].drop_duplicates().sort_values().to_numpy()
    for _ in range(2):
        sch = rng.choice(pd.unique(att_school))
        day = rng.choice(school_days)
        hit = (att_school == sch) & (att["date"].to_numpy() == day)
        drop |= hit
        faults.rows.append({"table": "attendance", "file_row": None, "column": f"{sch}@{pd.Timestamp(day).date()}",
                            "kind": "missing_day"})  # fmt: skip
    # re-number the recorded rows after dropping the missing days
    keep_pos = np.flatnonzero(~drop)
    new_pos = np.full(n, -1)
    new_pos[keep_pos] = np.arange(len(keep_pos))
    for row in faults.rows:
        if row["table"] == "attendance" and row["file_row"] is not None:
            row["file_row"] = (
                int(new_pos[row["file_row"] - 2]) + 2 if new_pos[row["file_row"] - 2] >= 0 else None
            )
    faults.rows = [
        r
        for r in faults.rows
        if not (r["table"] == "attendance" and r["file_row"] is None and r["kind"] != "missing_day")
    ]
    a_txt = a_txt.loc[~drop].reset_index(drop=True)
    taken = {r["file_row"] - 2 for r in faults.rows if r["table"] == "attendance" and r["file_row"]}
    a_txt = _inject_duplicates(a_txt, rng, faults, "attendance", k, max(1, k // 2), {"status": "late"}, taken)
    frames["attendance"] = a_txt

    # ---- exam results: impossible scores and rows with neither score nor level
    er = frames["exam_results"].copy()
    taken = set(np.flatnonzero(er["absent"].to_numpy() | er["score"].isna().to_numpy()).tolist())
    over = _pick(rng, len(er), 3, taken)
    er.loc[over, "score"] = er.loc[over, "full_marks"] + 15
    faults.add("exam_results", over, "score", "score_above_full_marks")
    lv = np.flatnonzero(er["level"].notna().to_numpy() & ~er["absent"].to_numpy())
    taken = set(range(len(er))) - set(lv.tolist())
    empty = _pick(rng, len(er), 3, taken)
    er.loc[empty, "level"] = None
    faults.add("exam_results", empty, "level", "no_score_no_level")
    frames["exam_results"] = er

    # ---- registry events: a code the contract does not know
    reg = frames["registry_events"].copy()
    reg["event_type"] = reg["event_type"].astype("object")
    bad = _pick(rng, len(reg), 2, set())
    reg.loc[bad, "event_type"] = "辍学?"
    faults.add("registry_events", bad, "event_type", "unknown_code")
    frames["registry_events"] = reg

    county.frames = frames
    county.faults = faults.frame()
    county.meta = {
        **county.meta,
        "messy": True,
        "csv_tables": ["students", "attendance"],
        "config_toml": MESSY_CONFIG,
    }
    return county
