"""The nightly job through the validated store (issue 21): a replay of nights whose export grows
day by day, corrected midway, writes the same ledger (snapshots, cases, events, run counts) and the
same rejects files as the same nights with ``[job] store = false``; a night killed at any stage,
or at any step of the store, then run again, gives that ledger too."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import BaoxueConfig
from features.contract import TABLES
from jobs.nightly import night_store, open_database, run_nightly
from jobs.stages import STAGES, InjectedFault, inject_fault
from jobs.storage import dump

NIGHTS = ["2024-04-15", "2024-04-16", "2024-04-17", "2024-04-22"]
CORRECTED = "2024-04-17"  # a corrected March sheet arrives with this night's export
#: columns that hold times, or the store's generation (its manifest records file times)
VOLATILE = ["started_at", "finished_at", "seconds", "stage_seconds", "store_generation"]


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> dict:
    from tests.jobs.conftest import small_county

    root = tmp_path_factory.mktemp("store_nights")
    _, model = small_county(root)
    frames = {p.stem: pd.read_parquet(p) for p in sorted((root / "county").glob("*.parquet"))}
    return {"root": root, "model": str(model), "frames": frames}


def _export(county, day: str, folder: Path) -> Path:
    """The export as of ``day`` (rows known by then; results with their exam); from
    :data:`CORRECTED` on, March's attendance sheet is corrected (a few days re-recorded, one row
    deleted, one exact copy, one clashing row)."""
    folder.mkdir(parents=True, exist_ok=True)
    cut = {}
    for name, f in county["frames"].items():
        known = TABLES[name].known_date
        cut[name] = f.loc[f[known] <= pd.Timestamp(day)] if known and name != "calendar" else f
    cut["exam_results"] = cut["exam_results"].loc[
        cut["exam_results"]["exam_id"].isin(cut["exams"]["exam_id"])
    ]
    if day >= CORRECTED:
        att = cut["attendance"].copy()
        march = np.flatnonzero(((att["date"] >= "2024-03-01") & (att["date"] < "2024-04-01")).to_numpy())
        att.loc[att.index[march[:8]], "status"] = "unexcused"
        clash = att.iloc[[march[20]]].assign(status="late")
        att = pd.concat([att.drop(index=att.index[march[30]]), att.iloc[[march[40]]], clash])
        cut["attendance"] = att
    for name, f in cut.items():
        f.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _cfg(county, db: Path, *, store: bool = True) -> BaoxueConfig:
    cfg = BaoxueConfig()
    return replace(
        cfg,
        job=replace(
            cfg.job,
            db_url=f"sqlite:///{db}",
            model_uri=county["model"],
            out_dir=str(db.parent / "out"),
            store=store,
        ),
    )


def _night(county, db: Path, day: str, *, store: bool = True, full: bool = False):
    cfg = _cfg(county, db, store=store)
    data = _export(county, day, db.parent / f"export_{day}")
    return run_nightly(
        cfg, dt.date.fromisoformat(day), engine=open_database(cfg.job.db_url), source=data, full=full
    )


def _ledger(db: Path) -> dict[str, pd.DataFrame]:
    out = dump(open_database(f"sqlite:///{db}"))
    runs = out["runs"]
    out["runs"] = runs[runs["status"] != "failed"].drop(columns=VOLATILE).reset_index(drop=True)
    for c in out["runs"].columns:  # a column only failed rows filled reads back as None
        if out["runs"][c].isna().all():
            out["runs"][c] = pd.Series([None] * len(out["runs"]), dtype=object)
    return out


def _assert_same(a: dict, b: dict) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


@pytest.fixture(scope="module")
def reference(county, tmp_path_factory) -> dict:
    """The nights without the store: the ledger after each night and each night's rejects file."""
    root = tmp_path_factory.mktemp("reference")
    db = root / "ledger.db"
    out = {}
    for day in NIGHTS:
        r = _night(county, db, day, store=False)
        assert r.status == "done" and r.store_lines == ()
        out[day] = {"ledger": _ledger(db), "rejects": r.rejects_file.read_bytes()}
        shutil.copy(db, root / f"ledger_{day}.db")
    return {"root": root, **out}


@pytest.fixture(scope="module")
def stored(county, reference, tmp_path_factory) -> dict:
    """The same nights through the store; the ledger and its store copied after each night."""
    root = tmp_path_factory.mktemp("stored")
    db = root / "ledger.db"
    out = {}
    for day in NIGHTS:
        r = _night(county, db, day)
        out[day] = r
        shutil.copy(db, root / f"ledger_{day}.db")
        shutil.copytree(root / "ledger.db.store", root / f"ledger_{day}.db.store")
    return {"root": root, "db": db, "results": out}


def test_nights_through_the_store_write_the_ledger_of_full_loads(stored, reference):
    for day in NIGHTS:
        r = stored["results"][day]
        assert r.rejects_file.read_bytes() == reference[day]["rejects"], day
    _assert_same(reference[NIGHTS[-1]]["ledger"], _ledger(stored["db"]))
    lines = {day: stored["results"][day].store_lines for day in NIGHTS}
    assert "built from the sources" in lines[NIGHTS[0]][0]
    # the next day validates about one day's rows; the corrected sheet rebuilds March and says so
    n = 1200  # students: about one attendance row each a day
    assert any("2024-03" in x and "changed and rebuilt" in x for x in lines[CORRECTED]), lines[CORRECTED]
    day2 = lines[NIGHTS[1]][-1]
    validated = int(re.search(r": ([\d,]+) of ", day2).group(1).replace(",", ""))
    assert 0 < validated < 3 * n, day2
    # the run row names the generation, and the store's CURRENT is the last night's
    runs = dump(open_database(f"sqlite:///{stored['db']}"))["runs"]
    assert runs["store_generation"].notna().all()
    assert night_store(_cfg({"model": ""}, stored["db"])).current() == runs["store_generation"].iloc[-1]


def test_full_and_a_deleted_store_give_the_same_night(county, stored, reference, tmp_path):
    day, before = NIGHTS[-1], NIGHTS[-2]
    db = tmp_path / "ledger.db"
    shutil.copy(stored["root"] / f"ledger_{before}.db", db)  # no store next to it: rebuilt
    r = _night(county, db, day)
    assert any("is gone" in x for x in r.store_lines)
    _assert_same(reference[day]["ledger"], _ledger(db))
    db2 = tmp_path / "again" / "ledger.db"
    db2.parent.mkdir()
    shutil.copy(stored["root"] / f"ledger_{before}.db", db2)
    shutil.copytree(stored["root"] / f"ledger_{before}.db.store", db2.parent / "ledger.db.store")
    r = _night(county, db2, day, full=True)
    assert "--full" in r.store_lines[0]
    _assert_same(reference[day]["ledger"], _ledger(db2))


def _state_before(stored, day: str, tmp_path: Path) -> Path:
    before = NIGHTS[NIGHTS.index(day) - 1]
    db = tmp_path / "ledger.db"
    shutil.copy(stored["root"] / f"ledger_{before}.db", db)
    shutil.copytree(stored["root"] / f"ledger_{before}.db.store", tmp_path / "ledger.db.store")
    return db


@pytest.mark.parametrize(
    "stage", [pytest.param(s, marks=pytest.mark.slow) if s not in ("load", "commit") else s for s in STAGES]
)
def test_a_night_killed_at_any_stage_then_run_again_is_the_full_loads_night(
    county, stored, reference, tmp_path, stage
):
    day = CORRECTED
    db = _state_before(stored, day, tmp_path)
    with inject_fault(stage), pytest.raises(InjectedFault):
        _night(county, db, day)
    _night(county, db, day)
    _assert_same(reference[day]["ledger"], _ledger(db))


KILL = r"""
import sys, os
sys.path.insert(0, sys.argv[5])
import features.store as s
def die(name):
    if name == sys.argv[1]:
        os._exit(70)
s.store_step = die
import datetime as dt
from dataclasses import replace
from pathlib import Path
from features.config import BaoxueConfig
from jobs.nightly import open_database, run_nightly
db, model, data = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = BaoxueConfig()
cfg = replace(cfg, job=replace(cfg.job, db_url=f"sqlite:///{db}", model_uri=model, out_dir=str(db.parent / "out"), store=True))
run_nightly(cfg, dt.date.fromisoformat(Path(data).name.split("_")[1]), engine=open_database(cfg.job.db_url), source=data)
"""


@pytest.mark.parametrize("step", ["validated", "part", "manifest", "current"])
def test_a_night_whose_process_dies_in_the_store_then_runs_again_is_the_full_loads_night(
    county, stored, reference, tmp_path, step
):
    day = CORRECTED
    db = _state_before(stored, day, tmp_path)
    data = _export(county, day, tmp_path / f"export_{day}")
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", KILL, step, str(db), county["model"], str(data), root],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 70, proc.stderr[-3000:]
    r = _night(county, db, day)
    assert r.status == "done"
    _assert_same(reference[day]["ledger"], _ledger(db))
    assert r.rejects_file.read_bytes() == reference[day]["rejects"]
