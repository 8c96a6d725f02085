"""Training at scale: full data vs every positive + a share of the negatives (and Dask).

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.training_scale --students 50000 --years 4 --seed 1 \\
        --preset reap_2010 --shares 1.0 0.25 0.1 --sample-seeds 0 1 --data /tmp/bxscale [--dask]

The panel (simulated county -> features -> labels, ``last_year_design``) is built once and
cached as Parquet in ``--data``. Each variant then runs in a fresh process that reads the
panel, fits (LightGBM + isotonic calibration, ``[train]`` defaults, 1 thread) and scores the
test year, so that its peak memory (max RSS) is its own. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import resource
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from features.config import BaoxueConfig, TrainConfig
from training.evaluate import markdown_table
from training.fit import fit_model, panel_feature_columns, prepare_features
from training.metrics import score_metrics
from training.splits import last_year_design


def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _trim() -> None:
    """Hand freed heap pages back to the OS (glibc), so RSS shows what is live."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class _RssWatch:
    """Highest RSS of this process while the block runs (polled every 10 ms)."""

    def __enter__(self):
        self.peak, self._stop = _rss_gib(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_gib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_gib())


def build(args, path: Path) -> None:
    from features.build import build_panel
    from features.load import tables_from_frames
    from features.sim import simulate_county
    from training.evaluate import evaluation_data, labelled_as_of_dates

    t0 = time.perf_counter()
    county = simulate_county(students=args.students, years=args.years, seed=args.seed, preset=args.preset)
    tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
    del county
    cfg = BaoxueConfig()
    dates = labelled_as_of_dates(tables, cfg.train)
    data = evaluation_data(tables, build_panel(tables, [d.date() for d in dates], cfg), cfg.train)
    path.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(path)
    print(
        f"panel {len(data):,} rows, {data['label'].sum():,} positives, built in {time.perf_counter() - t0:.0f} s"
    )


def one(args) -> dict:
    """One variant in this process: read, fit, score; JSON on stdout."""
    data = pd.read_parquet(args.panel)
    loaded = _rss_gib()
    base = TrainConfig()
    design = last_year_design(data["as_of"].unique(), base)
    test = data.loc[design.part(data["as_of"], "test")].reset_index(drop=True)
    X_test = prepare_features(test, panel_feature_columns(data))
    gc.collect()
    _trim()
    before = _rss_gib()
    t0 = time.perf_counter()
    watch = _RssWatch().__enter__()
    if args.engine == "dask":
        from distributed import Client, LocalCluster

        from training.cluster import fit_model_dask

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            t_cluster = time.perf_counter() - t0
            fitted = fit_model_dask(data, design, replace(base, negative_sample=args.share), client)
            workers_peak = sum(client.run(_peak_gib).values())
        extra = {"cluster_start_s": t_cluster, "workers_peak_gib": workers_peak}
    else:
        cfg = replace(base, negative_sample=args.share, sample_above_rows=0, sample_seed=args.sample_seed)
        fitted = fit_model(data, design, cfg)
        extra = {}
    fit_s = time.perf_counter() - t0
    watch.__exit__(None, None, None)
    p = fitted.predict_proba(X_test)
    m = score_metrics(test, p, shares=base.top_shares, n_bins=base.n_bins)
    est = fitted.estimator
    return {
        "engine": args.engine,
        "share": args.share,
        "sample_seed": args.sample_seed,
        "fit_rows": int(design.part(data["as_of"], "fit").sum()),
        "rows_fitted": fitted.n_fit,
        "trees": int(est.best_iteration_ or est.booster_.num_trees()),
        "fit_s": fit_s,
        "loaded_gib": loaded,
        "fit_extra_gib": watch.peak - before,  # RSS the fit added on top of the loaded panel
        "peak_gib": _peak_gib(),
        "test_rows": len(test),
        "test_positives": int(test["label"].sum()),
        "mean_p": float(p.mean()),
        "base_rate": float(test["label"].mean()),
        **{k: m[k] for k in ("roc_auc", "pr_auc", "brier", "ece")},
        **{f"p@{k}": m[f"precision_at_{k}"] for k in ("1pct", "5pct", "10pct")},
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="reap_2010")
    ap.add_argument("--shares", type=float, nargs="+", default=[1.0, 0.25, 0.1])
    ap.add_argument("--sample-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/bxscale"))
    ap.add_argument("--dask", action="store_true", help="also fit every row on a 2-worker LocalCluster")
    # internal: one variant in a child process
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--panel", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--share", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--sample-seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    path = args.data / f"panel_{args.preset}_{args.students}_{args.years}y_s{args.seed}.parquet"
    if not path.exists():
        build(args, path)
    runs = [("local", s, seed) for s in args.shares for seed in (args.sample_seeds if s < 1 else [0])]
    if args.dask:
        runs.append(("dask", TrainConfig().negative_sample, 0))
    rows = []
    for engine, share, seed in runs:
        cmd = [sys.executable, "-m", "benchmarks.training_scale", "--one", "--panel", str(path)]
        cmd += ["--share", str(share), "--sample-seed", str(seed), "--engine", engine]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    full = table.loc[(table["engine"] == "local") & (table["share"] == 1.0)]
    if len(full):
        for k in ("1pct", "5pct", "10pct"):
            table[f"lost@{k}"] = full[f"p@{k}"].iloc[0] - table[f"p@{k}"]
    print(f"\n## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}\n")
    print(markdown_table(table.drop(columns=["test_rows", "test_positives"]), index=False))


if __name__ == "__main__":
    main()
