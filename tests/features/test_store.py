"""The validated store (features.store): a night through the store loads exactly what a full
load of the same export gives (tables, dtypes, row order, rejects file, counts), over a replay of
nights whose export grows day by day and is corrected midway; killed at any step of the store,
the next night still gives the full load's result."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features.store as store_mod
from features.config import DataConfig
from features.contract import TABLES
from features.load import load_tables, write_rejects
from features.sim import simulate_county
from features.store import ValidatedStore, load_with_store, row_hashes

SALT = "a-long-county-secret-for-tests"
CFG = DataConfig(id_salt=SALT)


@pytest.fixture(scope="module")
def county():
    # 300 students, one school year (2022-09 .. 2023-07); attendance ordered by student, so a
    # new day's rows land all over the file, not at its end
    return simulate_county(students=300, years=1, seed=5).frames


def export(frames: dict[str, pd.DataFrame], day: dt.date, folder: Path, edit=None) -> Path:
    """The county's export as of ``day``: each table's rows known by then (tables without a
    known date: all), written as Parquet in the simulator's row order; ``edit(frames)``
    changes the frames first (corrections)."""
    folder.mkdir(parents=True, exist_ok=True)
    cut = {}
    for name, f in frames.items():
        known = TABLES[name].known_date
        cut[name] = f.loc[f[known] <= pd.Timestamp(day)] if known and name != "calendar" else f
    # results arrive with their exam
    cut["exam_results"] = cut["exam_results"].loc[
        cut["exam_results"]["exam_id"].isin(cut["exams"]["exam_id"])
    ]
    if edit is not None:
        cut = edit({k: v.copy() for k, v in cut.items()})
    for name, f in cut.items():
        f.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def assert_same(a, b, tmp: Path) -> None:
    """Two loads are the same: every table (values, dtypes, order), the rejects file's bytes,
    the counts and the load report."""
    assert a.tables.present() == b.tables.present()
    for name in a.tables.present():
        pd.testing.assert_frame_equal(getattr(a.tables, name), getattr(b.tables, name), obj=name)
    ra, rb = write_rejects(a.rejects, tmp / "a.csv"), write_rejects(b.rejects, tmp / "b.csv")
    assert ra.read_bytes() == rb.read_bytes()
    assert a.rows_read == b.rows_read
    assert a.repaired == b.repaired
    assert a.rows_rejected() == b.rows_rejected()
    assert a.report() == b.report()


def _corrections(frames):
    """A corrected attendance sheet for September and other faults injected midway."""
    att = frames["attendance"]
    sept = np.flatnonzero((att["date"] < "2022-10-01").to_numpy())
    # five September days recorded again as unexcused, two rows deleted
    att.loc[att.index[sept[:5]], "status"] = "unexcused"
    att = att.drop(index=att.index[sept[10:12]])
    # three exact copies (repaired), one row that clashes with a stored one (both rejected),
    # one row of a student nobody enrolled, one with an unreadable status
    clash = att.iloc[[20]].assign(status="late")
    stranger = att.iloc[[30]].assign(student_id="S9999999")
    bad = att.iloc[[40]].assign(status="absent?")
    att = pd.concat([att.iloc[:100], att.iloc[[50, 60, 70]], clash, att.iloc[100:], stranger, bad])
    frames["attendance"] = att.reset_index(drop=True)
    # a roster row corrected to an impossible sex: the student's other rows follow it out
    st = frames["students"]
    st.loc[st.index[3], "sex"] = "X"
    return frames


NIGHTS = [
    (dt.date(2022, 9, 15), None),
    (dt.date(2022, 10, 10), None),
    (dt.date(2022, 10, 11), None),
    (dt.date(2022, 10, 11), None),  # the same export again: nothing is read
    (dt.date(2022, 11, 21), _corrections),
    (dt.date(2022, 11, 22), _corrections),
    (dt.date(2022, 12, 5), None),  # corrections withdrawn
    (dt.date(2023, 3, 1), None),
]


def test_a_replay_of_nights_loads_what_a_full_load_gives(county, tmp_path):
    store = ValidatedStore(tmp_path / "store")
    generation = None
    seen = []
    for day, edit in NIGHTS:
        data = export(county, day, tmp_path / "data", edit)
        full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
        inc, night = load_with_store(CFG, data, store, base=generation, rejects_path=tmp_path / "r.csv")
        assert_same(full, inc, tmp_path)
        generation = night.generation
        seen.append(night)
    first, _, next_day, again, corrected, day_after, withdrawn, _ = seen
    assert first.rebuilt and first.reused_rows == 0
    assert again.validated_rows == 0 and not again.rebuilt  # same files: taken from the store
    # the corrected September sheet rebuilds September's partition, and the night says so
    line = next(x for x in corrected.lines if x.startswith("store: attendance:"))
    assert "changed and rebuilt (2022-09" in line, corrected.lines
    assert "changed and rebuilt (2022-09" in next(x for x in withdrawn.lines if "attendance" in x)
    # a night after another validates about one day's rows; a rebuilt partition takes its
    # unchanged rows from the store
    att = county["attendance"]
    for night, day in ((next_day, "2022-10-11"), (day_after, "2022-11-22")):
        one_day = int((att["date"] == day).sum())
        assert one_day <= night.validated_rows < one_day + 30, night.lines


def test_a_night_validates_only_the_new_rows(county, tmp_path):
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)
    data = export(county, dt.date(2022, 10, 11), tmp_path / "data")
    _, n2 = load_with_store(CFG, data, store, base=n1.generation)
    att = county["attendance"]
    new_att = int((att["date"] == "2022-10-11").sum())
    assert new_att > 0
    # the day's attendance rows (and the few other rows dated that day), not the year's
    assert new_att <= n2.validated_rows < new_att + 200, n2.lines
    # September's partition is untouched: the same file in both manifests
    m1, m2 = store.manifest(n1.generation), store.manifest(n2.generation)
    sept = [
        [p["files"] for p in m["sources"]["attendance"]["parts"] if p["key"] == "2022-09"] for m in (m1, m2)
    ]
    assert sept[0] == sept[1]


def test_deleting_the_store_or_full_rebuilds_it(county, tmp_path):
    import shutil

    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
    _, n1 = load_with_store(CFG, data, store, base=None)
    shutil.rmtree(tmp_path / "store")
    inc, n2 = load_with_store(CFG, data, store, base=n1.generation, rejects_path=tmp_path / "r.csv")
    assert n2.rebuilt and "is gone" in n2.lines[0]
    assert_same(full, inc, tmp_path)
    inc, n3 = load_with_store(
        CFG, data, store, base=n2.generation, full=True, rejects_path=tmp_path / "r.csv"
    )
    assert n3.rebuilt and n3.reused_rows == 0 and "--full" in n3.lines[0]
    assert_same(full, inc, tmp_path)


def test_another_salt_or_mapping_rebuilds_the_store(county, tmp_path):
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)
    other = DataConfig(id_salt="another-long-county-secret")
    _, n2 = load_with_store(other, data, store, base=n1.generation)
    assert n2.rebuilt and "salt" in n2.lines[0]
    mapped = DataConfig(id_salt=SALT, values={"attendance.status": {"absent?": "unexcused"}})
    _, n3 = load_with_store(mapped, data, store, base=n2.generation)
    assert n3.rebuilt


def test_an_identifier_appearing_rehashes_every_id(county, tmp_path):
    """One registry number in tonight's rows makes the full load hash every student_id: the
    stored (unhashed) rows are no longer valid and the store is rebuilt."""
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)

    def registry_number(frames):
        att = frames["attendance"]
        row = att.iloc[[0]].assign(student_id="G" + "530102" + "20120315" + "0042")
        frames["attendance"] = pd.concat([att, row], ignore_index=True)
        return frames

    data = export(county, dt.date(2022, 10, 11), tmp_path / "data", registry_number)
    full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
    inc, n2 = load_with_store(CFG, data, store, base=n1.generation, rejects_path=tmp_path / "r.csv")
    assert n2.rebuilt and any("hashing" in x for x in n2.lines)
    assert inc.tables.students["student_id"].astype("str").str.startswith("s-").all()
    assert_same(full, inc, tmp_path)


def test_row_hashes_see_every_column_and_ignore_position():
    f = pd.DataFrame(
        {
            "a": ["x", "y", "x"],
            "d": pd.to_datetime(["2024-09-02", "2024-09-03", "2024-09-02"]),
            "n": [1.0, np.nan, 1.0],
        }
    )
    h = row_hashes(f)
    assert h[0] == h[2] and h[0] != h[1]
    g = f.copy()
    g.loc[2, "n"] = 2.0
    assert row_hashes(g)[2] != h[2]
    # the same rows as text (a CSV) or categories hash the same way within one column type
    assert (row_hashes(f.astype({"a": "category"})) == h).all()


# --- killed at any step -----------------------------------------------------------------------------

STEPS = ["planned", "validated", "part", "manifest"]


class _Killed(RuntimeError):
    pass


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("nth", [1, 3])
def test_a_load_killed_at_any_step_leaves_a_usable_store(county, tmp_path, monkeypatch, step, nth):
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)
    data = export(county, dt.date(2022, 11, 21), tmp_path / "data", _corrections)
    calls = {"n": 0}

    def die(name):
        if name == step:
            calls["n"] += 1
            if calls["n"] == nth or step != "part":
                raise _Killed(name)

    monkeypatch.setattr(store_mod, "store_step", die)
    with pytest.raises(_Killed):
        load_with_store(CFG, data, store, base=n1.generation)
    monkeypatch.undo()
    full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
    # the ledger still names the first night's generation: the next night starts from it
    inc, n2 = load_with_store(CFG, data, store, base=n1.generation, rejects_path=tmp_path / "r.csv")
    assert_same(full, inc, tmp_path)
    store.publish(n2.generation, keep=(n1.generation,))
    left = {p.name for p in (tmp_path / "store" / "parts").iterdir()}
    used = {
        f
        for g in (n1.generation, n2.generation)
        for e in store.manifest(g)["sources"].values()
        for f in [e["keys_file"], *(x for p in e["parts"] for x in p["files"].values())]
    }
    assert left == used  # what the killed night wrote is gone


KILL = r"""
import datetime as dt, os, sys
import features.store as s
from features.config import DataConfig
step, data, root, base = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def die(name):
    if name == step:
        os._exit(70)
s.store_step = die
s.load_with_store(DataConfig(id_salt=SALT), data, s.ValidatedStore(root), base=base)
""".replace("SALT", repr(SALT))


@pytest.mark.parametrize("step", STEPS)
def test_a_process_that_dies_mid_write_leaves_a_usable_store(county, tmp_path, step):
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)
    data = export(county, dt.date(2022, 11, 21), tmp_path / "data", _corrections)
    proc = subprocess.run(
        [sys.executable, "-c", KILL, step, str(data), str(tmp_path / "store"), n1.generation],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 70, proc.stderr[-2000:]
    full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
    inc, _ = load_with_store(CFG, data, store, base=n1.generation, rejects_path=tmp_path / "r.csv")
    assert_same(full, inc, tmp_path)
    # the manifest of the first night is intact
    assert json.loads((tmp_path / "store" / "manifests" / f"{n1.generation}.json").read_text())["format"] == 1


def test_an_unreadable_partition_file_rebuilds_the_store(county, tmp_path):
    store = ValidatedStore(tmp_path / "store")
    data = export(county, dt.date(2022, 10, 10), tmp_path / "data")
    _, n1 = load_with_store(CFG, data, store, base=None)
    victim = next(p for p in (tmp_path / "store" / "parts").iterdir() if ".rows.attendance" in p.name)
    victim.write_bytes(victim.read_bytes()[:100])  # a power cut's half-written file
    data = export(county, dt.date(2022, 10, 11), tmp_path / "data")
    full = load_tables(CFG, data, rejects_path=tmp_path / "r.csv")
    inc, n2 = load_with_store(CFG, data, store, base=n1.generation, rejects_path=tmp_path / "r.csv")
    assert n2.rebuilt and "unreadable" in n2.lines[0]
    assert_same(full, inc, tmp_path)
