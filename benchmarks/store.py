"""The nightly run through the validated store (issue 21): a first night and the next school day.

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.store --students 50000
    .venv/bin/python -m benchmarks.store --students 500000

Simulates a county with one school year (seed 3, written as Parquet by the simulator: attendance
ordered by student, so a new day's rows land all over the file), trains the small model on a
separate 1,200-student county, then writes the county's export as of each night (every table cut
to the rows known by then) and runs, each in a fresh process:

- night 1 (10 March): an empty ledger and no store; the store is built;
- night 2 (13 March, the next school day): the export has grown by one day; through the store;
- side by side on night 2's export: a full load (``features.load.load_tables``), the load through
  the store, the pure read of the raw export, and the pure read of the store plus the day's new
  rows (the store's Parquet files of the night's generation, and the new rows cut from the
  export).

Seconds per stage (wall), CPU seconds, peak RSS and the ratios are printed as JSON and markdown.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.nightly import SIM, TRAIN, _py  # the same county, model and child runner

CUT = r"""
import sys, shutil
from pathlib import Path
import pandas as pd, pyarrow.parquet as pq
from features.contract import TABLES
src, out, day = Path(sys.argv[1]), Path(sys.argv[2]), pd.Timestamp(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
exams = None
for path in sorted(src.glob("*.parquet")):
    name = path.stem
    table = pq.read_table(path)
    known = TABLES[name].known_date
    if known and name != "calendar":
        f = table.to_pandas()
        f = f.loc[f[known] <= day]
        if name == "exams":
            exams = set(f["exam_id"])
        f.to_parquet(out / path.name, index=False)
    else:
        shutil.copy(path, out / path.name)
er = pd.read_parquet(out / "exam_results.parquet")
er.loc[er["exam_id"].isin(exams)].to_parquet(out / "exam_results.parquet", index=False)
"""


NIGHT = r"""
import datetime as dt, json, os, resource, sys, time
from dataclasses import replace
from pathlib import Path
from features.config import BaoxueConfig
from jobs.nightly import open_database, run_nightly
data, model, db, day = sys.argv[1], sys.argv[2], sys.argv[3], dt.date.fromisoformat(sys.argv[4])
cfg = BaoxueConfig()
cfg = replace(cfg, job=replace(cfg.job, db_url=f"sqlite:///{db}", model_uri=model, out_dir=str(Path(db).parent), store=True))
engine = open_database(cfg.job.db_url)
t, c = time.perf_counter(), time.process_time()
r = run_nightly(cfg, day, engine=engine, source=data)
out = {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "stages": r.stage_seconds,
       "students": r.counts["n_students"], "store": list(r.store_lines),
       "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
       "load": os.getloadavg()}
print(json.dumps(out))
"""

SIDE = r"""
import datetime as dt, json, os, sys, time
from dataclasses import replace
from pathlib import Path
import pandas as pd, pyarrow.parquet as pq
from features.config import BaoxueConfig
from features.load import load_tables, read_source
from features.store import ValidatedStore, load_with_store
from jobs.nightly import night_store
import sqlalchemy as sa
data, db, yesterday = sys.argv[1], sys.argv[2], Path(sys.argv[3])
cfg = BaoxueConfig()
store = night_store(replace(cfg, job=replace(cfg.job, store=True)), sa.create_engine(f"sqlite:///{db}"))
generation = store.current()
def clock(f):
    t, c = time.perf_counter(), time.process_time()
    f()
    return round(time.perf_counter() - t, 2), round(time.process_time() - c, 2)
out = {}
out["raw_read"] = clock(lambda: read_source(data))
m = store.manifest(generation)
files = [e["keys_file"] for e in m["sources"].values()] + [f for e in m["sources"].values() for p in e["parts"] for f in p["files"].values()]
def new_rows():
    # the day's new rows: what tonight's export holds beyond yesterday's (read from the export)
    for path in sorted(Path(data).glob("*.parquet")):
        old = yesterday / path.name
        if old.stat().st_size != path.stat().st_size or old.read_bytes() != path.read_bytes():
            pq.read_table(path)
out["store_read"] = clock(lambda: [pq.read_table(store.parts / f) for f in files])
out["new_files_read"] = clock(new_rows)
out["full_load"] = clock(lambda: load_tables(cfg.data, data, rejects_path=Path(db).parent / "r_full.csv"))
tmp = ValidatedStore(Path(db).parent / "scratch.store")
import shutil
shutil.copytree(store.root, tmp.root, dirs_exist_ok=True)
out["store_load"] = clock(lambda: load_with_store(cfg.data, data, tmp, base=generation, rejects_path=Path(db).parent / "r_inc.csv"))
out["n_store_files"] = len(files)
out["load"] = os.getloadavg()
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=50_000)
    parser.add_argument(
        "--county", default="", help="an already simulated county folder (skips the simulation)"
    )
    parser.add_argument("--nights", nargs=2, default=["2023-03-10", "2023-03-13"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "bundle.joblib"
        _py(TRAIN, str(model))
        county = Path(args.county) if args.county else tmp / "county"
        if not args.county:
            t = time.perf_counter()
            _py(SIM, str(args.students), str(county))
            print(f"simulated in {time.perf_counter() - t:.0f} s", flush=True)
        db = tmp / "ledger.db"
        results = {}
        for i, night in enumerate(args.nights, start=1):
            data = tmp / f"export_{i}"
            _py(CUT, str(county), str(data), night)
            results[f"night{i}"] = json.loads(_py(NIGHT, str(data), str(model), str(db), night))
            print(json.dumps({f"night{i}": results[f"night{i}"]}), flush=True)
        results["side"] = json.loads(_py(SIDE, str(tmp / "export_2"), str(db), str(tmp / "export_1")))
        print(json.dumps({"side": results["side"]}), flush=True)
    stages = ["lock", "load", "features", "assess", "diff", "snapshot", "cases", "record"]
    print(
        "\n| night | scored | "
        + " | ".join(f"{s} s" for s in stages)
        + " | total s | cpu s | peak GiB | load avg |"
    )
    print("|" + "---:|" * (len(stages) + 6))
    for key in ("night1", "night2"):
        r = results[key]
        print(
            f"| {key[-1]} | {r['students']:,} | "
            + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stages)
            + f" | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_gib']:.2f} | {r['load'][0]:.1f} |"
        )
    s = results["side"]
    run2 = results["night2"]["wall_s"]
    print(f"\nside by side on night 2's export (wall s, cpu s): {json.dumps(s)}")
    print(f"run / raw read = {run2 / s['raw_read'][0]:.1f}; "
          f"run / (store read + changed files read) = {run2 / (s['store_read'][0] + s['new_files_read'][0]):.1f}; "
          f"load stage / full load = {results['night2']['stages']['load'] / s['full_load'][0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
