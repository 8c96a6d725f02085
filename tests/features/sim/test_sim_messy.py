"""Messy mode (features.sim.messy): a registry export with faults, each rejected or repaired."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import load_config
from features.load import load_tables
from features.sim import FAULT_KINDS, TRUTH_DIR, simulate_county, write_county


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
    # exact copies are repaired (dropped, counted), not rejected; a few other faults (a date
    # written another way) also turn a row into an exact copy
    copies = rows[rows["kind"] == "exact_duplicate"].groupby("table").size()
    injected = rows.groupby("table").size()
    assert set(result.repaired) == set(copies.index)
    assert all(copies[t] <= n <= injected[t] for t, n in result.repaired.items()), result.repaired
    rows = rows[rows["kind"] != "exact_duplicate"]
    caught = rows.merge(
        rej[["table", "file_row"]].drop_duplicates(), on=["table", "file_row"], how="left", indicator=True
    )
    missed = caught[caught["_merge"] == "left_only"]
    # only the faults that were also an exact copy of another row are not listed (repaired)
    assert len(missed) == sum(result.repaired.values()) - copies.sum(), missed
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
