"""Simulate a county and write it: the contract tables, plus the truth behind them.

:func:`simulate_county` runs :func:`features.sim.year.run_year` for each school year over one
:class:`features.sim.state.SimState`, then assembles the tables (:func:`county_tables`), the
truth (:mod:`features.sim.truth`) and attendance (:mod:`features.sim.attendance`, built in
memory or streamed by :func:`write_county`). The outcome itself is never written into an
input column; the truth goes to ``truth/`` and no feature builder or model reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.sim.attendance import attendance_frames, to_arrow, write_attendance
from features.sim.geography import COUNTY_CODE
from features.sim.messy import make_messy
from features.sim.names import staff_name
from features.sim.presets import Preset, get_preset
from features.sim.state import SimState
from features.sim.truth import county_meta, truth_tables
from features.sim.year import run_year

__all__ = [
    "COUNTY_CODE",
    "TRUTH_DIR",
    "SimulatedCounty",
    "county_tables",
    "read_truth",
    "simulate_county",
    "write_county",
]

#: the folder of a simulated county's truth, under its data folder
TRUTH_DIR = "truth"


@dataclass
class SimulatedCounty:
    """A simulated county: ``frames`` (every contract table, contract column names), ``truth``
    (the tables of :mod:`features.sim.truth`), ``meta`` (``meta.json``) and, in messy mode,
    ``faults`` (``truth/faults.csv``).

    Built by :func:`simulate_county`; one built from its fields alone (e.g. a policy replay's
    observed county) must hold ``attendance`` in ``frames`` to be written by :func:`write_county`.
    """

    frames: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    meta: dict
    faults: pd.DataFrame | None = None
    # the simulator and chunk size, so write_county can stream attendance not built in memory
    _generator: tuple[SimState, int] | None = field(default=None, repr=False)


def simulate_county(
    students: int = 3000,
    years: int = 3,
    seed: int = 0,
    preset: str | Preset = "current",
    *,
    start_year: int | None = None,
    attendance: bool = True,
    chunk: int = 20_000,
    messy: bool = False,
    county_code: str = COUNTY_CODE,
    id_prefix: str = "",
) -> SimulatedCounty:
    """Simulate a county of about ``students`` students (grades 1-9) over ``years`` school years.

    Parameters
    ----------
    students : int
        Students enrolled at the start; each later year adds a new grade-1 intake.
    years : int
        School years to simulate (at least 1; 3 or more for temporal validation).
    seed : int
        Same arguments and seed give identical frames.
    preset : {"reap_2010", "current"} or Preset
        Calibration preset (SIMULATOR.md), or one with fields replaced
        (:func:`features.sim.get_preset`).
    start_year : int, optional
        First school year (September); the preset's default when omitted.
    attendance : bool
        Build the attendance table in memory. ``write_county`` streams it instead.
    messy : bool
        Inject the faults real exports have (see :mod:`features.sim.messy`).
    county_code : str
        The ``schools.county_code`` of every school.
    id_prefix : str
        Put before every student, school, class, staff, exam and leave id, so that ids stay
        unique across the counties of a province (:mod:`features.sim.province`).
    """
    if students < 50:
        raise ValueError(f"students must be >= 50 for a county with schools in it, got {students}")
    if years < 1:
        raise ValueError(f"years must be >= 1, got {years}")
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    sim = SimState(students, years, seed, p, start_year or p.start_year, county_code, id_prefix)
    for y in range(sim.start_year, sim.start_year + years):
        run_year(sim, y)
    frames = county_tables(sim)
    truth = truth_tables(sim)
    if attendance:
        frames["attendance"], frames["leave_requests"] = attendance_frames(sim, chunk)
    county = SimulatedCounty(frames=frames, truth=truth, meta=county_meta(sim, frames, truth, p))
    county._generator = (sim, chunk)
    if messy:
        county = make_messy(county, seed=seed)
    return county


def county_tables(sim: SimState) -> dict[str, pd.DataFrame]:
    """Every contract table of the run but attendance and leave requests (the students table
    carries no name: names live in ``student_names`` only)."""
    frames: dict[str, pd.DataFrame] = {}
    for name, parts in sim.rows.items():
        if parts:
            frames[name] = pd.concat(parts, ignore_index=True)
    # students: close versions (valid_to = next version's valid_from, or the exit date)
    st = frames["students"].sort_values(["student_id", "valid_from"], kind="stable").reset_index(drop=True)
    nxt = st.groupby("student_id")["valid_from"].shift(-1)
    st["valid_to"] = nxt
    closed = pd.concat(sim.closed, ignore_index=True) if sim.closed else None
    if closed is not None:
        last = nxt.isna()
        cl = st.loc[last, ["student_id"]].merge(closed, on="student_id", how="left")["closed"].to_numpy()
        st.loc[last, "valid_to"] = cl
    frames["students"] = st
    # hardship exits
    if sim.poverty_exits:
        ex = pd.concat(sim.poverty_exits).drop_duplicates("student_id", keep="first")
        h = frames["hardship"]
        first_open = h.merge(ex, on="student_id", how="left")
        ok = first_open["exit"].notna() & (first_open["exit"] > h["valid_from"])
        h.loc[ok.to_numpy(), "valid_to"] = first_open.loc[ok, "exit"].to_numpy()
        frames["hardship"] = h
    # schools, calendar, staff
    frames["schools"] = sim.geo.schools
    cal = []
    for sy in sim.calendars:
        term = np.where(sy.dates >= np.datetime64(sy.spring_start), 1, 0)
        tid = np.array([sy.term_id(0), sy.term_id(1)])[term]
        for sch in sim.geo.schools["school_id"]:
            cal.append(pd.DataFrame({"school_id": sch, "date": pd.to_datetime(sy.dates), "is_school_day": sy.is_school_day,
                                     "term_id": np.where(sy.is_school_day, tid, None), "day_type": sy.day_type}))  # fmt: skip
    frames["calendar"] = pd.concat(cal, ignore_index=True)
    frames["classes"] = frames["classes"].drop_duplicates("class_id").reset_index(drop=True)
    frames["staff"] = _staff(sim, frames["classes"])
    frames["exams"] = frames["exams"].drop_duplicates("exam_id").reset_index(drop=True)
    return frames


def _staff(sim: SimState, classes: pd.DataFrame) -> pd.DataFrame:
    """Head teachers of the classes, and each school's principal, offices and counsellors."""
    rows = []
    ht = classes.sort_values("academic_year").drop_duplicates("head_teacher_id", keep="last")
    rows.append(pd.DataFrame({"staff_id": ht["head_teacher_id"], "school_id": ht["school_id"], "role": "head_teacher",
                              "class_id": ht["class_id"], "max_open_cases": 5}))  # fmt: skip
    for _, s in sim.geo.schools.iterrows():
        sid = s["school_id"]
        n_c = 1 if s["school_type"] == "teaching_point" else 2
        roles = [("principal", 0), ("academic_office", 0), ("moral_ed", 8)] + [("counsellor", 15)] * n_c
        for k, (role, cap) in enumerate(roles):
            rows.append(pd.DataFrame({"staff_id": [f"{sid}-{role[:2].upper()}{k}"], "school_id": [sid], "role": [role],
                                      "class_id": [None], "max_open_cases": [cap]}))  # fmt: skip
    staff = pd.concat(rows, ignore_index=True)
    staff["name"] = staff["staff_id"].map(staff_name)  # made up from fixed lists (features.sim.names)
    return staff


def write_county(county: SimulatedCounty, out: str | Path) -> dict[str, int]:
    """Write every table as ``out/<table>.parquet`` (or ``.csv`` for messy exports) and the
    truth to ``out/truth/``. Attendance is streamed chunk by chunk when it was not built in
    memory. Returns rows written per table."""
    out = Path(out)
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    csv_tables = county.meta.get("csv_tables", [])
    for name, frame in county.frames.items():
        if name in csv_tables:
            frame.to_csv(out / f"{name}.csv", index=False, encoding="utf-8-sig")
        else:
            pq.write_table(to_arrow(frame), out / f"{name}.parquet", compression="zstd")
        counts[name] = len(frame)
    if "attendance" not in county.frames:
        if county._generator is None:
            raise ValueError("the county has no attendance frame and no simulator to stream it from")
        sim, chunk = county._generator
        counts["attendance"], counts["leave_requests"] = write_attendance(sim, chunk, out)
    for name, frame in county.truth.items():
        pq.write_table(to_arrow(frame), out / TRUTH_DIR / f"{name}.parquet", compression="zstd")
    if county.faults is not None:
        county.faults.to_csv(out / TRUTH_DIR / "faults.csv", index=False)
    meta = {k: v for k, v in county.meta.items() if k != "config_toml"}
    if "config_toml" in county.meta:
        (out / "baoxue.toml").write_text(county.meta["config_toml"], encoding="utf-8")
    (out / TRUTH_DIR / "meta.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return counts


def read_truth(data_dir: str | Path, name: str = "risk_monthly") -> pd.DataFrame | None:
    """A truth table of a simulated county (``DATA_DIR/truth/<name>.parquet``), or ``None`` for
    real data. Only evaluation reads it (the oracle baseline); features and models never do."""
    path = Path(data_dir) / TRUTH_DIR / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None
