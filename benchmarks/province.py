"""A province's night (``jobs.province.run_province``): local engine vs Dask with 1 and 2 workers.

Not part of the test run. Usage (the issue's target is 1,000,000 students in 20 counties):
    .venv/bin/python -m benchmarks.province --students 200000 --counties 20
    .venv/bin/python -m benchmarks.province --students 1000000 --counties 20 --workers 1 2

Simulates a province (one school year, :mod:`features.sim.province`: county sizes vary), trains
the small model on a separate 1,200-student county, then for each engine runs the first night
(empty ledgers: every county's first snapshot and cases) in a fresh process with its own out
folder. Prints the wall time, the speed-up over the local engine and, per stage, the seconds
summed over the counties (compute stages run on the workers, write stages on the driver).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import datetime as dt, json, resource, sys, time
from dataclasses import replace
from pathlib import Path
from features.config import BaoxueConfig, ComputeConfig
from jobs.province import run_province

def main():
    data, model, out, night, engine, workers = sys.argv[1:7]
    cfg = BaoxueConfig()
    cfg = replace(cfg, data=replace(cfg.data, source=data),
                  job=replace(cfg.job, db_url=f"sqlite:///{out}/ledger.db", model_uri=model, out_dir=out),
                  compute=ComputeConfig(engine=engine, n_workers=int(workers)))
    t = time.perf_counter()
    r = run_province(cfg, dt.date.fromisoformat(night))
    wall = time.perf_counter() - t
    stages = {}
    for o in r.counties.values():
        for k, v in o.stage_seconds.items():
            stages[k] = stages.get(k, 0.0) + v
    print(json.dumps({"wall_s": wall, "failed": r.failed, "stages": stages,
                      "students": sum(o.counts.get("n_students", 0) for o in r.counties.values()),
                      "driver_peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))

if __name__ == "__main__":
    main()
"""

SIM = r"""
import sys
from features.sim import simulate_province
metas = simulate_province(sys.argv[2], counties=int(sys.argv[3]), students=int(sys.argv[1]), years=1, seed=3)
print(metas[0]["start_year"])
"""

TRAIN = r"""
import sys
from dataclasses import replace
from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from training.bundle import save_bundle
from training.pipeline import train_tables
cfg = BaoxueConfig()
cfg = replace(cfg, train=replace(cfg.train, n_estimators=60, num_leaves=7, max_depth=4, min_child_samples=20))
tables = tables_from_frames(simulate_county(students=1200, years=2, seed=11).frames).tables
save_bundle(train_tables(tables, cfg, evaluate_first=False)[0], sys.argv[1])
"""

STAGES = ["load", "features", "assess", "diff", "lock", "snapshot", "cases", "record"]


def _py(code: str, *args: str, script: Path | None = None) -> str:
    if script is not None:  # Dask's worker processes need an importable __main__
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script), *args]
    else:
        cmd = [sys.executable, "-c", code, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--counties", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", default="", help="reuse a simulated province folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        model = tmp_p / "bundle.joblib"
        _py(TRAIN, str(model))
        data = Path(args.data) if args.data else tmp_p / "province"
        t = time.perf_counter()
        if not args.data:
            _py(SIM, str(args.students), str(data), str(args.counties))
        sim_s = time.perf_counter() - t
        meta = json.loads(next(data.glob("county=*/truth/meta.json")).read_text())
        night = f"{meta['start_year'] + 1}-03-10"
        print(f"province: {args.students:,} students, {args.counties} counties, simulated in {sim_s:.0f} s; "
              f"night {night}", flush=True)  # fmt: skip
        runs = [("local", 1)] + [("dask", w) for w in args.workers]
        rows = []
        for engine, workers in runs:
            out = tmp_p / f"out_{engine}_{workers}"
            res = json.loads(
                _py(CHILD, str(data), str(model), str(out), night, engine, str(workers), script=tmp_p / "child.py")
            )  # fmt: skip
            rows.append((engine, workers, res))
            print(json.dumps({"engine": engine, "workers": workers, **res}), flush=True)
    base = rows[0][2]["wall_s"]
    print("\n| engine | workers | students scored | wall s | speed-up | "
          + " | ".join(f"{s} s" for s in STAGES) + " | driver peak GiB |")  # fmt: skip
    print("|---|" + "---:|" * (len(STAGES) + 5))
    for engine, workers, r in rows:
        print(
            f"| {engine} | {workers} | {r['students']:,} | {r['wall_s']:.1f} | {base / r['wall_s']:.2f} | "
            + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in STAGES)
            + f" | {r['driver_peak_gib']:.2f} |"
        )


if __name__ == "__main__":
    main()
