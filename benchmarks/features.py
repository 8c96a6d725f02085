"""Time and peak memory of the feature builders at 10k, 100k and 1M students.

The data is synthetic and generated here (the simulator is too slow at 1M): one school
year of daily attendance on the default calendar (about 180 rows per student), four exams
of three core subjects, one registry event per student, and a few household rows. It is
written as Parquet; the measured part reads the Parquet files back into contract dtypes
(without the loader's row validation, which is load.py's own cost) and builds the features.

Each size runs in fresh subprocesses (one to generate, one to measure), so the peak RSS
printed is that of the measuring process alone.

    .venv/bin/python benchmarks/features.py                      # 10k and 100k
    .venv/bin/python benchmarks/features.py 10000 100000 1000000 --panel 10000 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE = r"""
import sys, numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, datetime as dt
from features._time import default_calendar
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
ids = pa.array([f"s{i:07d}" for i in range(n)])
n_school = max(1, n // 500)
school = rng.integers(0, n_school, n)
grade = rng.integers(1, 10, n)
cls = school * 20 + grade * 2 + rng.integers(0, 2, n)
birth = pd.to_datetime((2024 - grade - 6).astype(str) + "-" + rng.integers(1, 13, n).astype(str).astype(object) + "-01")
students = pd.DataFrame({
    "student_id": ids.to_pandas(), "valid_from": pd.Timestamp("2024-09-01"), "valid_to": pd.NaT,
    "school_id": pd.Series(school).map(lambda s: f"sch{s:05d}"), "class_id": [f"c{c}" for c in cls],
    "grade": grade, "sex": np.where(rng.random(n) < 0.5, "M", "F"), "birth_ym": birth,
    "is_boarding": rng.random(n) < 0.3, "distance_km": rng.gamma(2, 2, n).round(1),
})
students.to_parquet(f"{out}/students.parquet", index=False)
days = default_calendar(dt.date(2024, 9, 1), dt.date(2025, 6, 30))["date"].to_numpy().astype("datetime64[s]")
status_values = ["present", "late", "left_early", "leave_sick", "leave_personal", "unexcused"]
p = np.array([0.965, 0.006, 0.004, 0.01, 0.005, 0.01])
writer = None
chunk = 50_000
for lo in range(0, n, chunk):
    k = min(chunk, n - lo)
    codes = np.repeat(np.arange(lo, lo + k, dtype="int32"), len(days))
    date = np.tile(days, k)
    status = rng.choice(6, size=len(codes), p=p).astype("int8")
    t = pa.table({
        "student_id": pa.DictionaryArray.from_arrays(pa.array(codes), ids),
        "date": pa.array(date, type=pa.timestamp("s")),
        "session": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(codes), "int8")), pa.array(["day"])),
        "status": pa.DictionaryArray.from_arrays(pa.array(status), pa.array(status_values)),
    })
    if writer is None:
        writer = pq.ParquetWriter(f"{out}/attendance.parquet", t.schema)
    writer.write_table(t)
writer.close()
exam_days = ["2024-11-08", "2025-01-10", "2025-04-18", "2025-06-27"]
exams = pd.DataFrame([(f"x{s}_{g}_{j}", f"sch{s:05d}", g, "midterm", pd.Timestamp(d))
                      for s in range(n_school) for g in range(1, 10) for j, d in enumerate(exam_days)],
                     columns=["exam_id", "school_id", "grade", "exam_type", "exam_date"])
exams.to_parquet(f"{out}/exams.parquet", index=False)
reps = 4 * 3
sid = np.repeat(np.arange(n), reps)
j = np.tile(np.repeat(np.arange(4), 3), n)
exam_id = pd.Series([f"x{a}_{b}_" for a, b in zip(school, grade)]).to_numpy()[sid] + j.astype(str).astype(object)
res = pa.table({
    "student_id": pa.DictionaryArray.from_arrays(pa.array(sid.astype("int32")), ids),
    "exam_id": pa.array(exam_id.astype(str)),
    "subject": pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(3, dtype="int8"), n * 4)),
                                              pa.array(["chinese", "math", "english"])),
    "score": pa.array(np.clip(rng.normal(70, 15, len(sid)), 0, 100).round()),
    "full_marks": pa.array(np.full(len(sid), 100.0)),
})
pq.write_table(res, f"{out}/exam_results.parquet")
pd.DataFrame({"student_id": ids.to_pandas(), "event_date": pd.Timestamp("2024-09-01"),
              "event_type": "enrol"}).to_parquet(f"{out}/registry_events.parquet", index=False)
pick = rng.random(n) < 0.25
pd.DataFrame({"student_id": ids.to_pandas()[pick], "effective_date": pd.Timestamp("2024-03-01"),
              "status": rng.integers(1, 3, pick.sum()), "absent_parent": "both",
              "caregiver": "grandparent"}).to_parquet(f"{out}/left_behind.parquet", index=False)
pick = rng.random(n) < 0.15
pd.DataFrame({"student_id": ids.to_pandas()[pick], "hardship_type": "registered_poor", "level": "general",
              "valid_from": pd.Timestamp("2020-01-01"), "valid_to": pd.NaT}).to_parquet(
    f"{out}/hardship.parquet", index=False)
print(n * len(days))
"""

MEASURE = r"""
import gc, json, resource, sys, time, datetime as dt
import numpy as np, pandas as pd, pyarrow.parquet as pq
from features.contract import TABLES, Tables
from features.build import build_features, build_panel, BUILDERS
from features.cohort import cohort
out, as_of, panel = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3] == "1"

def read(name, ids=None):
    frame = pq.read_table(f"{out}/{name}.parquet").to_pandas()
    for col in TABLES[name].columns:
        if col.name not in frame:
            frame[col.name] = pd.Series(pd.NA, index=frame.index, dtype="str" if col.kind == "category" else col.dtype)
        if col.name == "student_id":
            s = frame[col.name]
            if isinstance(s.dtype, pd.CategoricalDtype):  # remap dictionary codes onto the students' ids
                pos = ids.get_indexer(s.cat.categories)
                frame[col.name] = pd.Categorical.from_codes(pos[s.cat.codes.to_numpy()], categories=ids)
            else:
                frame[col.name] = pd.Categorical(s, categories=ids)
        elif col.kind == "category":
            s = frame[col.name]
            values = list(col.values)
            if isinstance(s.dtype, pd.CategoricalDtype):
                pos = np.append(pd.Index(values).get_indexer(s.cat.categories.astype(str)), -1)
                frame[col.name] = pd.Categorical.from_codes(pos[s.cat.codes.to_numpy()], categories=values)
            else:
                frame[col.name] = pd.Categorical(s, categories=values)
        elif col.kind in ("date", "month") and frame[col.name].dtype != "datetime64[s]":
            frame[col.name] = frame[col.name].astype("datetime64[s]")
    return frame

t0 = time.perf_counter()
students = read("students", pd.Index(pq.read_table(f"{out}/students.parquet", columns=["student_id"])
                                     .column(0).to_pandas().sort_values().to_numpy(), dtype="str"))
ids = pd.Index(students["student_id"].cat.categories)
frames = {n: read(n, ids) for n in ("attendance", "exams", "exam_results", "registry_events", "left_behind", "hardship")}
tables = Tables(students=students, **frames)
t1 = time.perf_counter()
X = build_features(tables, as_of)
t2 = time.perf_counter()
X2 = build_features(tables, as_of)
t3 = time.perf_counter()
spine = cohort(tables, as_of)
parts = {}
for b in BUILDERS:
    s = time.perf_counter(); b(tables, as_of, cohort=spine); parts[b.__name__] = time.perf_counter() - s
res = {"read_s": t1 - t0, "build_s": t2 - t1, "build_warm_s": t3 - t2, "parts": parts,
       "rows": int(sum(len(f) for f in frames.values()) + len(students)),
       "attendance_rows": len(frames["attendance"]), "cohort": len(X), "columns": X.shape[1]}
if panel:
    dates = [dt.date(2024, 9, 15) + dt.timedelta(days=25 * i) for i in range(12)]
    s = time.perf_counter(); P = build_panel(tables, dates); res["panel_s"] = time.perf_counter() - s
    res["panel_rows"] = len(P)
res["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(res))
"""


def run(n: int, panel: bool, as_of: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", GENERATE, str(n), tmp], check=True, capture_output=True, text=True
        )
        gen = time.perf_counter() - t0
        disk = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        proc = subprocess.run(
            [sys.executable, "-c", MEASURE, tmp, as_of, "1" if panel else "0"],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res.update(students=n, generate_s=gen, disk_mib=disk)
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    ap.add_argument(
        "--panel",
        nargs="*",
        type=int,
        default=[10_000, 100_000],
        help="sizes that also build a 12-date panel",
    )
    ap.add_argument("--as-of", default="2025-06-20")
    args = ap.parse_args()
    head = "| students | attendance rows | read s | build s (first) | build s (warm) | total s | rows/s | attendance s | panel 12 dates s | peak GiB |"
    print(head)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = run(n, n in args.panel, args.as_of)
        total = r["read_s"] + r["build_s"]
        panel = f"{r['panel_s']:.1f}" if "panel_s" in r else "–"
        print(
            f"| {n:,} | {r['attendance_rows']:,} | {r['read_s']:.2f} | {r['build_s']:.2f} | {r['build_warm_s']:.2f} "
            f"| {total:.2f} | {r['rows'] / total:,.0f} | {r['parts']['attendance_features']:.2f} | {panel} "
            f"| {r['peak_gib']:.2f} |",
            flush=True,
        )
        print("   parts:", {k: round(v, 2) for k, v in r["parts"].items()}, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
