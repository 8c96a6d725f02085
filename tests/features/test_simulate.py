"""The simulated county: reproducibility, calibration to SIMULATOR.md, the truth, messy mode."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from features.load import load_tables
from features.sim import FAULT_KINDS, TRUTH_DIR, get_preset, simulate_county, write_county

PACKAGE = Path(__file__).resolve().parents[2]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_give_byte_identical_files(tmp_path):
    for run in ("a", "b"):
        county = simulate_county(students=300, years=3, seed=11, preset="current", attendance=False)
        write_county(county, tmp_path / run)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert "attendance.parquet" in a and "truth/risk_monthly.parquet" in a


def test_another_seed_gives_another_county():
    a = simulate_county(students=300, years=1, seed=1, attendance=False)
    b = simulate_county(students=300, years=1, seed=2, attendance=False)
    assert not a.frames["students"]["sex"].equals(b.frames["students"]["sex"])


def test_every_contract_table_is_written_and_loads_without_rejects(tmp_path):
    county = simulate_county(students=400, years=3, seed=5, preset="reap_2010", attendance=False)
    write_county(county, tmp_path)
    result = load_tables(load_config(None).data, tmp_path)
    assert result.rejects.empty, result.rejects.head()
    for name in ("schools", "calendar", "classes", "students", "student_names", "guardians", "left_behind",
                 "hardship", "aid", "family_events", "attendance", "leave_requests", "exams", "exam_results",
                 "registry_events", "staff"):  # fmt: skip
        assert getattr(result.tables, name) is not None, name
    t = result.tables
    # at least 3 school years, a new grade-1 intake each year, grades 1-9 all present
    years = t.classes["academic_year"].unique()
    assert len(years) == 3
    assert set(t.students["grade"].unique()) == set(range(1, 10))
    enrol = t.registry_events[t.registry_events["event_type"] == "enrol"]
    assert enrol["event_date"].dt.year.nunique() >= 3
    events = set(t.registry_events["event_type"].astype(str))
    assert {"suspected_mark", "dropout_mark", "return_mark", "promote", "graduate", "transfer_out"} <= events
    # levels-only schools report levels and no scores
    assert t.exam_results["level"].notna().any() and t.exam_results["score"].notna().any()
    # the students table carries no names: they are in student_names only
    assert "name" not in t.students.columns


@pytest.fixture(scope="module")
def big_reap():
    return simulate_county(students=30_000, years=3, seed=3, preset="reap_2010", attendance=False)


def test_dropout_rate_by_grade_band_matches_the_preset(big_reap):
    p = get_preset("reap_2010")
    rates = big_reap.meta["dropout_rate"]
    assert rates["primary_1_5"] == pytest.approx(p.annual_dropout[3], rel=0.35)
    junior = np.mean(p.annual_dropout[7:10])
    assert rates["junior_7_9"] == pytest.approx(junior, rel=0.15)
    assert rates["grade_8"] > rates["grade_7"]
    assert big_reap.meta["noshow_rate_g7"] == pytest.approx(p.noshow_g7, rel=0.35)


def test_dropouts_start_in_the_september_and_spring_windows(big_reap):
    ep = big_reap.truth["episodes"]
    fatal = ep[ep["fatal"] & ~ep["noshow"]]
    # SIMULATOR.md: 35% in autumn weeks 1-3 (plus the 小升初 no-shows), 30% after Spring
    # Festival, 10% of grade 9 in the month before 中考
    meta = big_reap.meta
    assert 0.35 <= meta["share_fatal_autumn_start"] <= 0.55  # no-shows included
    assert 0.20 <= meta["share_fatal_after_festival"] <= 0.38
    assert 0.05 <= meta["share_fatal_pre_zhongkao_g9"] <= 0.20
    assert len(fatal) > 500


def test_left_behind_and_poverty_shares(big_reap):
    p = get_preset("reap_2010")
    assert big_reap.meta["left_behind_share_junior"] == pytest.approx(
        p.left_behind_both + p.left_behind_one, abs=0.04
    )
    assert big_reap.meta["left_behind_both_share_junior"] == pytest.approx(p.left_behind_both, abs=0.03)
    assert big_reap.meta["poverty_share"] == pytest.approx(p.poverty, abs=0.05)


def test_bottom_fifth_of_class_carries_about_three_times_the_risk(big_reap):
    sy = big_reap.truth["student_years"]
    ep = big_reap.truth["episodes"]
    fatal = ep[ep["fatal"] & ~ep["noshow"]][["student_id", "academic_year"]].drop_duplicates()
    sy = sy.merge(fatal.assign(dropped=1), on=["student_id", "academic_year"], how="left").fillna(
        {"dropped": 0}
    )
    junior = sy[sy["grade"] >= 7]
    rr = junior.loc[junior["bottom20"], "dropped"].mean() / junior.loc[~junior["bottom20"], "dropped"].mean()
    assert 2.2 <= rr <= 4.0, rr


def test_unobserved_share_is_reported_and_small(big_reap):
    share = big_reap.meta["unobserved_share"]
    assert 0.05 <= share <= 0.20
    assert big_reap.meta["unobserved_sd"] == pytest.approx(0.5, abs=0.05)


def test_truth_probabilities_match_realised_labels(big_reap):
    """The oracle is calibrated: its mean per as-of date tracks the realised 90-day labels."""
    rm = big_reap.truth["risk_monthly"].copy()
    ep = big_reap.truth["episodes"]
    f = ep[ep["fatal"]][["student_id", "academic_year", "mark_date", "dropout_date"]].copy()
    rm["academic_year"] = rm["as_of"].dt.year - (rm["as_of"].dt.month < 9)
    rm = rm.merge(f, on=["student_id", "academic_year"], how="left")
    mark, drop = pd.to_datetime(rm["mark_date"]), pd.to_datetime(rm["dropout_date"])
    end = rm["as_of"] + pd.Timedelta(days=90)
    rm["y"] = (((mark > rm["as_of"]) & (mark <= end)) | ((drop > rm["as_of"]) & (mark <= end))).astype(float)
    by = rm.groupby("as_of").agg(p=("p_true", "mean"), y=("y", "mean"))
    assert abs(by["p"].sum() - by["y"].sum()) / by["y"].sum() < 0.15
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(rm["y"], rm["p_true"]) > 0.9


def test_dropouts_show_absence_before_they_go(tmp_path):
    county = simulate_county(students=3000, years=2, seed=4, preset="reap_2010")
    att = county.frames["attendance"]
    ep = county.truth["episodes"]
    rest = ep[ep["fatal"] & ~ep["noshow"]]
    rest = rest[pd.to_datetime(rest["start_date"]).dt.month.isin([11, 12, 4, 5, 6])]
    assert len(rest) > 10
    unexc = att["status"].eq("unexcused")
    rates = []
    for row in rest.itertuples():
        start = pd.Timestamp(row.start_date)
        mine = att[
            (att["student_id"] == row.student_id)
            & (att["date"] < start)
            & (att["date"] >= start - pd.Timedelta(days=35))
        ]
        rates.append(unexc[mine.index].mean())
    base = unexc.mean()
    assert np.nanmean(rates) > 5 * base


def test_no_builder_reads_the_truth(tmp_path):
    """Static: no module outside the simulator names the truth folder; runtime: loading reads no file in it."""
    offenders = []
    for path in (PACKAGE / "features").glob("*.py"):
        if path.name.startswith(("simulate", "sim_")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (node.value.strip("/") == "truth" or "truth/" in node.value)
            ):
                offenders.append(f"{path.name}: {node.value!r}")
            if isinstance(node, ast.Name | ast.Attribute) and "TRUTH_DIR" in ast.dump(node):
                offenders.append(f"{path.name}: TRUTH_DIR")
    assert not offenders, offenders
    county = simulate_county(students=200, years=1, seed=1, attendance=False)
    write_county(county, tmp_path)
    import features.load as load_mod

    seen: list[Path] = []
    real = load_mod._read_file

    def spy(table, path):
        seen.append(Path(path))
        return real(table, path)

    load_mod._read_file = spy
    try:
        load_tables(load_config(None).data, tmp_path)
    finally:
        load_mod._read_file = real
    assert seen and not any(TRUTH_DIR in p.parts for p in seen)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy")
    county = simulate_county(students=600, years=2, seed=9, preset="current", messy=True)
    write_county(county, out)
    return out, county


def test_messy_county_writes_a_registry_export_and_its_mapping(messy):
    out, _ = messy
    header = (out / "students.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "学籍号" in header and "性别" in header and "姓名" in header
    assert (out / "baoxue.toml").is_file()
    assert (out / TRUTH_DIR / "faults.csv").is_file()


def test_every_injected_fault_is_rejected_or_repaired_with_a_reason(messy):
    out, county = messy
    faults = county.faults
    assert set(faults["kind"]) == set(FAULT_KINDS)
    result = load_tables(load_config(out / "baoxue.toml").data, out)
    rej = result.rejects
    assert rej["reason"].str.len().gt(0).all()
    rows = faults[faults["file_row"].notna()].astype({"file_row": "int64"})
    caught = rows.merge(
        rej[["table", "file_row"]].drop_duplicates(), on=["table", "file_row"], how="left", indicator=True
    )
    missed = caught[caught["_merge"] == "left_only"]
    assert missed.empty, missed
    # nothing clean was rejected: every rejected row is an injected one
    extra = rej.merge(rows[["table", "file_row"]], on=["table", "file_row"], how="left", indicator=True)
    assert (extra["_merge"] == "both").all(), extra[extra["_merge"] == "left_only"].head()
    # the names in the roster went to student_names, not into students
    assert result.tables.student_names is not None and "name" not in result.tables.students.columns


def test_missing_days_are_unknown_not_present(messy):
    out, county = messy
    result = load_tables(load_config(out / "baoxue.toml").data, out)
    att, st = result.tables.attendance, result.tables.students
    first_school = st.drop_duplicates("student_id").set_index("student_id")["school_id"]
    for fault in county.faults[county.faults["kind"] == "missing_day"].itertuples():
        school, day = fault.column.split("@")
        rows = att[
            (att["date"] == pd.Timestamp(day)) & (att["student_id"].astype(str).map(first_school) == school)
        ]
        assert rows.empty
