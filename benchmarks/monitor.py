"""The whole monitor (``baoxue monitor``: :func:`jobs.monitor.run_monitor`) on a large ledger (issue 17).

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.monitor --students 50000
    .venv/bin/python -m benchmarks.monitor --students 50000 --every 5   # one night a week

Running the real nightly job on every school day of a year at 50,000 students would take
hours, so the ledger is built synthetically, with the real schema (``jobs.storage``): a
simulated county (two school years, ``reap_2010``, daily attendance written as Parquet), and
for every school day of its last school year (``--every N``: every Nth) a snapshot of that
day's cohort (``features.cohort``) whose probability is the simulator's own true risk of the
month (``truth/risk_monthly``: calibrated by construction), tiers by the default ``[risk]``
thresholds on it, the list and ten selected per school; one ``runs`` row per night. A small
model trained on a separate 1,200-student county serves as the champion (its training
reference drives the drift check; the model's cost does not depend on how it was trained).

Then, in a fresh process, the timed part: ``run_monitor(db, data, model=bundle)`` — read the
county's tables, read the ledger (the monitor's columns of every night), label the judged
nights, list quality, missed children, lead time, calibration, the features of the last
night and the drift check, coverage, the status — and write the HTML report. Seconds, peak
RSS and the counts are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
t0 = time.perf_counter()
from jobs.monitor import read_logged_snapshots, run_monitor
from jobs.reports.monitor import write_monitor_report
from jobs.storage import connect
db, data, model, out, methods, dump = sys.argv[1:7]
reads = {}
engine = connect(db)
for m in methods.split(","):  # the ledger read alone, each way side by side
    t, c = time.perf_counter(), cpu()
    snaps = read_logged_snapshots(engine, **({} if m == "default" else {"method": m}))
    reads[m] = {"wall_s": time.perf_counter() - t, "cpu_s": cpu() - c, "rows": len(snaps)}
    del snaps
engine.dispose()
t, c = time.perf_counter(), cpu()
load = os.getloadavg()[0]
r = run_monitor(db, data, model=model)
monitor_s, monitor_cpu_s = time.perf_counter() - t, cpu() - c
load = [load, os.getloadavg()[0]]
if dump:  # the whole result, to compare two code versions' figures
    with open(dump, "w") as f:
        json.dump(r.to_dict(), f, default=str, sort_keys=True)
t = time.perf_counter()
write_monitor_report(r, out)
report_s = time.perf_counter() - t
print(json.dumps({"wall_s": time.perf_counter() - t0, "ledger_read": reads,
                  "run_monitor_s": monitor_s, "run_monitor_cpu_s": monitor_cpu_s, "loadavg_1min": load, "report_s": report_s,
                  "nights": len(r.nights), "judged": len(r.judged), "status": r.status, "reasons": r.reasons,
                  "drift_share": r.drift.share if r.drift else None,
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


#: the runs columns the synthetic ledger leaves at zero (no cases, rules or diffs)
_ZERO_COUNTS = ("missed_days", "n_rejects", "n_rules", "n_new", "n_rising", "n_falling", "n_left", "n_rules_new",
                "n_cases_opened", "n_cases_updated", "n_cases_closed", "n_escalations", "n_returned", "n_events",
                "n_over_capacity", "n_unowned", "n_waiting", "n_open_cases")  # fmt: skip


def build(root: Path, students: int, every: int) -> dict:
    import datetime as dt
    import hashlib
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from features.cohort import cohort
    from features.config import BaoxueConfig
    from features.load import load_tables, tables_from_frames
    from features.sim import read_truth, simulate_county, write_county
    from jobs.storage import connect, upgrade
    from training.bundle import save_bundle
    from training.pipeline import train_tables

    t = time.perf_counter()
    county = simulate_county(students=students, years=2, seed=0, preset="reap_2010", start_year=2022,
                             attendance=False)  # fmt: skip
    write_county(county, root / "county")
    del county
    sim_s = time.perf_counter() - t
    cfg = BaoxueConfig()
    small = replace(cfg.train, n_estimators=30, num_leaves=7, max_depth=4, min_child_samples=20)
    other = simulate_county(students=1200, years=2, seed=1, preset="reap_2010", start_year=2022)
    bundle, _ = train_tables(tables_from_frames(other.frames).tables, replace(cfg, train=small),
                             evaluate_first=False)  # fmt: skip
    model = save_bundle(bundle, root / "bundle.joblib")

    t = time.perf_counter()
    tables = load_tables(cfg.data, root / "county").tables
    truth = read_truth(root / "county")
    truth = truth.assign(
        student_id=truth["student_id"].astype("str"), month=truth["as_of"].dt.strftime("%Y-%m")
    )
    truth = truth.set_index(["month", "student_id"])["p_true"]
    cal = tables.calendar
    days = sorted(cal.loc[cal["is_school_day"].astype(bool) & (cal["date"] >= pd.Timestamp("2023-09-01"))
                          & (cal["date"] <= pd.Timestamp("2024-07-10")), "date"].unique())  # fmt: skip
    nights = [pd.Timestamp(d).date() for d in days][::every]
    url = f"sqlite:///{root / 'ledger.db'}"
    engine = connect(url)
    upgrade(engine)
    rc = cfg.risk
    rows = 0
    for n, night in enumerate(nights):
        c = cohort(tables, night)
        sid = c.index.astype("str")
        month = f"{night:%Y-%m}"
        p = truth.reindex(pd.MultiIndex.from_arrays([np.repeat(month, len(sid)), sid])).to_numpy()
        p = np.nan_to_num(p, nan=0.002)
        order = np.argsort(-p, kind="stable")
        rank = np.empty(len(p), dtype="int64")
        rank[order] = np.arange(1, len(p) + 1)
        tier = np.where(p >= rc.red_risk, "red", np.where(p >= rc.yellow_risk, "yellow",
                        np.where(p >= rc.blue_min_risk * 2, "blue", "none")))  # fmt: skip
        frame = pd.DataFrame({"student_id": sid, "school_id": c["school_id"].astype("str").to_numpy(),
                              "class_id": c["class_id"].astype("str").to_numpy(),
                              "grade": c["grade"].astype("int64").to_numpy(), "probability": p,
                              "rank_county": rank, "tier": tier})  # fmt: skip
        frame["listed"] = frame["tier"] != "none"
        school_rank = frame.groupby("school_id")["probability"].rank(method="first", ascending=False)
        frame["selected"] = frame["listed"] & (school_rank <= rc.capacity_per_school)
        run_id = f"{night:%Y%m%d}-{hashlib.sha256(str(night).encode()).hexdigest()[:8]}"
        frame.insert(0, "run_id", run_id)
        frame.insert(2, "as_of", night)
        stamp = dt.datetime.combine(night, dt.time(2))
        counts = dict.fromkeys(_ZERO_COUNTS, 0)
        run = {"run_id": run_id, "as_of": night, "config_hash": "bench", "previous_run_id": None,
               "started_at": stamp, "finished_at": stamp, "seconds": 0.0, "stage_seconds": "{}",
               "model_version": "bench", "code_version": "bench", "data_hash": "bench",
               "n_students": len(frame), "n_red": int((tier == "red").sum()), "n_yellow": int((tier == "yellow").sum()),
               "n_blue": int((tier == "blue").sum()), "n_listed": int(frame["listed"].sum()),
               "n_selected": int(frame["selected"].sum()), **counts}  # fmt: skip
        with engine.begin() as conn:
            pd.DataFrame([run]).to_sql("runs", conn, if_exists="append", index=False)
            # the DBAPI's executemany (to_sql's row processing made the 50k build take half an hour)
            marks = ", ".join("?" * frame.shape[1])
            conn.connection.dbapi_connection.executemany(
                f"INSERT INTO risk_snapshots ({', '.join(frame.columns)}) VALUES ({marks})",
                frame.astype(object).itertuples(index=False, name=None),
            )
        rows += len(frame)
        if n % 20 == 0:
            print(f"  night {n + 1}/{len(nights)} {night}: {len(frame):,} students", file=sys.stderr)
    engine.dispose()
    return {"students": students, "ledger_nights": len(nights), "snapshot_rows": rows, "simulate_s": sim_s,
            "ledger_build_s": time.perf_counter() - t, "db": url, "data": str(root / "county"),
            "model": str(model)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--every", type=int, default=1, help="keep every Nth school day as a night (1 = all)")
    ap.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    ap.add_argument(
        "--reuse", action="store_true", help="with --keep: time the monitor on the ledger built there"
    )
    ap.add_argument("--reads", default="default",
                    help="comma-separated read_logged_snapshots methods to time alone (fast, adbc, cursor, read_sql)")  # fmt: skip
    ap.add_argument("--code", type=Path, default=None,
                    help="time the monitor of this source tree (e.g. `git archive` of an earlier commit)")  # fmt: skip
    ap.add_argument(
        "--dump", type=Path, default=None, help="write MonitorResult.to_dict() as JSON to this file"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        built = root / "build.json"
        if args.reuse and built.exists():
            info = json.loads(built.read_text())
        elif (root / "ledger.db").exists():
            sys.exit(f"{root / 'ledger.db'} exists: pass --reuse, or another folder (a build appends)")
        else:
            info = build(root, args.students, args.every)
            built.write_text(json.dumps(info))
        print(json.dumps(info), file=sys.stderr)
        env = None
        if args.code is not None:
            env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, info["db"], info["data"], info["model"], str(root / "monitor.html"), args.reads,
             str(args.dump.resolve()) if args.dump else ""],
            capture_output=True, text=True, check=True, env=env, cwd=args.code,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            json.dumps(
                {**{k: v for k, v in info.items() if k not in ("db", "data", "model")}, **result}, indent=1
            )
        )


if __name__ == "__main__":
    main()
