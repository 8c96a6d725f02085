"""Time and peak memory of the feature builders at 10k, 100k and 1M students.

The data is synthetic and generated here (the simulator is too slow at 1M): one school
year of daily attendance on the default calendar (about 180 rows per student), four exams
of three core subjects, one registry event per student, and a few household rows. It is
written as Parquet; the measured part reads the Parquet files back into contract dtypes
(:func:`read_table`, without the loader's row validation, which is load.py's own cost) and
builds the features.

Each size runs in fresh subprocesses (one to generate, one to measure), so the peak RSS
printed is that of the measuring process alone. Run it from the repository root, as a module:

    .venv/bin/python -m benchmarks.features                      # 10k and 100k
    .venv/bin/python -m benchmarks.features 10000 100000 1000000 --panel 10000 100000 --data /tmp/bx
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.contract import TABLES

GENERATE = r"""
import sys, numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, datetime as dt
from features.time import default_calendar
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
# one row group (~1M rows) per write, its dictionary holding only its own students, as a
# plain string column written by any Parquet writer would be
chunk = max(1, (1 << 20) // len(days))
for lo in range(0, n, chunk):
    k = min(chunk, n - lo)
    codes = np.repeat(np.arange(k, dtype="int32"), len(days))
    date = np.tile(days, k)
    status = rng.choice(6, size=len(codes), p=p).astype("int8")
    t = pa.table({
        "student_id": pa.DictionaryArray.from_arrays(pa.array(codes), ids[lo : lo + k]),
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
score = np.clip(rng.normal(70, 15, len(sid)), 0, 100).round()
writer = None
chunk = (1 << 20) // reps
for lo in range(0, n, chunk):
    k = min(chunk, n - lo)
    r = slice(lo * reps, (lo + k) * reps)
    res = pa.table({
        "student_id": pa.DictionaryArray.from_arrays(pa.array((sid[r] - lo).astype("int32")), ids[lo : lo + k]),
        "exam_id": pa.array(exam_id[r].astype(str)),
        "subject": pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(3, dtype="int8"), k * 4)),
                                                  pa.array(["chinese", "math", "english"])),
        "score": pa.array(score[r]),
        "full_marks": pa.array(np.full(k * reps, 100.0)),
    })
    if writer is None:
        writer = pq.ParquetWriter(f"{out}/exam_results.parquet", res.schema)
    writer.write_table(res)
writer.close()
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

from benchmarks.features import read_table

def read(name, ids=None):
    return read_table(f"{out}/{name}.parquet", name, ids)

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


def _codes(column: pa.ChunkedArray, categories: pd.Index, out: np.ndarray, cache: dict) -> None:
    """Write into ``out`` the position in ``categories`` of each value of ``column`` (-1:
    missing or unknown), working on dictionary codes: a dictionary equal to the previous
    one (``cache``, kept across row groups) is not looked up again, so no per-row string is
    ever made (a file written from pandas categoricals repeats the whole dictionary in every
    row group)."""
    pos = 0
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        d = chunk.dictionary
        seen = cache.get("dictionary")
        if seen is None or not (d is seen or d.equals(seen)):
            values = pd.Index(d.to_numpy(zero_copy_only=False)).astype("str")
            cache["lookup"] = np.append(categories.get_indexer(values), -1).astype("int32")
            cache["dictionary"] = d
        lookup = cache["lookup"]
        idx = chunk.indices
        idx = idx.fill_null(-1) if idx.null_count else idx
        out[pos : pos + len(chunk)] = lookup[idx.to_numpy()]
        pos += len(chunk)


def read_table(path: str | Path, name: str, ids: pd.Index | None = None) -> pd.DataFrame:
    """Read one Parquet file into the contract dtypes of table ``name``, row group by row group.

    ``student_id`` becomes a category over ``ids`` and every other code column a category
    over the contract's values, built from the file's dictionary codes; dates become
    ``datetime64[s]``; contract columns missing from the file are added as missing. No row
    validation (that is :func:`features.load.load_tables`' job, and its own cost).
    """
    pf = pq.ParquetFile(path)
    n = pf.metadata.num_rows
    spec = TABLES[name]
    have = pf.schema_arrow.names
    coded = {
        c.name: (ids if c.name == "student_id" else pd.Index(list(c.values)))
        for c in spec.columns
        if c.name in have and (c.name == "student_id" or c.kind == "category")
    }
    dates = {c.name for c in spec.columns if c.name in have and c.kind in ("date", "month")}
    codes = {c: np.empty(n, dtype="int32") for c in coded}
    caches: dict[str, dict] = {c: {} for c in coded}
    days = {c: np.empty(n, dtype="datetime64[s]") for c in dates}
    other: dict[str, list[pa.ChunkedArray]] = {c: [] for c in have if c not in coded and c not in dates}
    pos = 0
    for g in range(pf.num_row_groups):
        rg = pf.read_row_group(g)
        k = rg.num_rows
        for c in coded:
            _codes(rg.column(c), coded[c], codes[c][pos : pos + k], caches[c])
        for c in dates:
            days[c][pos : pos + k] = rg.column(c).to_numpy().astype("datetime64[s]")
        for c in other:
            other[c].append(rg.column(c))
        pos += k
    frame: dict[str, object] = {}
    for c in have:
        if c in coded:
            frame[c] = pd.Categorical.from_codes(codes.pop(c), categories=coded[c], validate=False)
        elif c in dates:
            frame[c] = days.pop(c)
        else:
            frame[c] = pa.chunked_array([a for part in other.pop(c) for a in part.chunks]).to_pandas()
    out = pd.DataFrame(frame, copy=False)
    for col in spec.columns:
        if col.name in out:
            continue
        if col.kind == "category":
            out[col.name] = pd.Categorical.from_codes(
                np.full(n, -1, dtype="int8"), categories=list(col.values or ())
            )
        elif col.name == "student_id":
            out[col.name] = pd.Categorical.from_codes(np.full(n, -1, dtype="int32"), categories=ids)
        elif col.dtype == "str":  # all missing, without a per-row Python object
            out[col.name] = pd.Series(pa.nulls(n, pa.string()).to_pandas(), index=out.index, copy=False)
        else:
            out[col.name] = pd.Series(pd.NA, index=out.index, dtype=col.dtype)
    return out


def _generate(n: int, folder: Path) -> float:
    """Write the synthetic county of ``n`` students into ``folder``; returns the seconds taken."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", GENERATE, str(n), str(folder)], check=True, capture_output=True, text=True
    )
    (folder / "DONE").write_text(str(n))
    return time.perf_counter() - t0


def run(n: int, panel: bool, as_of: str, data: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) if data is None else data / f"n{n}"
        gen = float("nan")
        if not (folder / "DONE").exists():
            gen = _generate(n, folder)
        disk = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20
        tmp = str(folder)
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
    ap.add_argument(
        "--data",
        type=Path,
        help="keep the generated counties in DATA/n<size> and reuse them (default: a fresh temp folder)",
    )
    args = ap.parse_args()
    head = "| students | attendance rows | read s | build s (first) | build s (warm) | total s | rows/s | attendance s | panel 12 dates s | peak GiB |"
    print(head)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        r = run(n, n in args.panel, args.as_of, args.data)
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
