"""The whole nightly run (``jobs.nightly.run_nightly``) at 50k and 500k students (issue 6).

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.nightly --sizes 50000
    .venv/bin/python -m benchmarks.nightly --sizes 50000 500000

For each size: simulate a county with one school year (the simulator's own tables, written
as Parquet, daily attendance included), train a small model on a separate 1,200-student
county (the model's cost does not depend on how it was trained), then in a fresh process:
read the raw input tables once (the yardstick), run night 1 (empty ledger, first snapshot,
first cases), and night 2 one week later (a previous run to diff with, four missed school
days whose rules are caught up, cases to update). Seconds per stage, peak RSS and the ratio
whole run / raw read are printed as a markdown table.
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
from features.config import BaoxueConfig
from features.load import read_source
from jobs.nightly import open_database, run_nightly
data, model, db, night1 = sys.argv[1], sys.argv[2], sys.argv[3], dt.date.fromisoformat(sys.argv[4])
cfg = BaoxueConfig()
cfg = replace(cfg, job=replace(cfg.job, db_url=f"sqlite:///{db}", model_uri=model, out_dir=str(Path(db).parent)))
t = time.perf_counter(); read_source(data); read_s = time.perf_counter() - t
engine = open_database(cfg.job.db_url)
out = {"read_s": read_s}
for key, day in (("night1", night1), ("night2", night1 + dt.timedelta(days=7))):
    t = time.perf_counter()
    r = run_nightly(cfg, day, engine=engine, source=data)
    out[key] = {"wall_s": time.perf_counter() - t, "stages": r.stage_seconds, "students": r.counts["n_students"],
                "opened": r.counts["n_cases_opened"], "missed": r.counts["missed_days"]}
out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
""".replace("from jobs.nightly", "from pathlib import Path\nfrom jobs.nightly")

SIM = r"""
import sys
from features.sim import simulate_county, write_county
n, out = int(sys.argv[1]), sys.argv[2]
write_county(simulate_county(students=n, years=1, seed=3, attendance=False), out)
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


def _py(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000])
    parser.add_argument("--night", default="", help="first night (default: the 2nd Monday of March)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "bundle.joblib"
        _py(TRAIN, str(model))
        for n in args.sizes:
            data = Path(tmp) / f"county_{n}"
            t = time.perf_counter()
            _py(SIM, str(n), str(data))
            sim_s = time.perf_counter() - t
            meta = json.loads((data / "truth" / "meta.json").read_text())
            night = args.night or f"{meta['start_year'] + 1}-03-10"
            res = json.loads(_py(CHILD, str(data), str(model), str(Path(tmp) / f"ledger_{n}.db"), night))
            rows.append((n, sim_s, res))
            print(json.dumps({"students": n, **res}), flush=True)
    stages = ["lock", "load", "features", "assess", "diff", "snapshot", "cases", "record"]
    print("\n| students | night | scored | " + " | ".join(f"{s} s" for s in stages)
          + " | total s | largest stage share | read-only s | run / read | peak GiB |")  # fmt: skip
    print("|" + "---:|" * (len(stages) + 9))
    for n, _, res in rows:
        for key in ("night1", "night2"):
            r = res[key]
            total = sum(r["stages"].values())
            top = max((v, k) for k, v in r["stages"].items())
            print(
                f"| {n:,} | {key[-1]}{' (missed ' + str(r['missed']) + ')' if r['missed'] else ''} | "
                f"{r['students']:,} | "
                + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stages)
                + f" | {total:.1f} | {top[1]} {top[0] / total:.0%} | {res['read_s']:.1f} | "
                f"{total / res['read_s']:.1f} | {res['peak_gib']:.2f} |"
            )


if __name__ == "__main__":
    main()
