"""What the monotone constraints (``[train] monotone``, training/monotone.py) cost or gain.

One simulated county, one feature panel, the same design; the evaluation (training/evaluate.py:
the model, the county rule, logistic regression, the oracle) runs with the constraints on and
off, side by side. "wrong-way rows" counts, over 2,000 test rows and every constrained
feature, the rows where raising that feature (by one unit for counts and flags, a tenth of
its range otherwise) moves the calibrated risk the wrong way, by more than 1e-9.

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.monotone --students 10000 --years 4 --seed 7 --preset reap_2010
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from features.build import build_panel
from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from training.evaluate import evaluate, evaluation_data, labelled_as_of_dates, markdown_table, rule_columns
from training.fit import prepare_features
from training.monotone import constrained

COLUMNS = ["roc_auc", "pr_auc", "precision_at_cap10", "recall_at_cap10", "precision_at_5pct",
           "precision_at_10pct", "ece"]  # fmt: skip


def wrong_way(report, data: pd.DataFrame, *, rows: int = 2000) -> tuple[int, int, dict[str, int]]:
    """Rows (of ``rows`` test rows x constrained features) where raising a constrained feature
    moves the fitted model's calibrated risk against its direction; per feature."""
    bundle = report.bundle
    feats = list(bundle.features)
    test = data.loc[report.design.part(data["as_of"], "test")]
    sample = test.sample(n=min(rows, len(test)), random_state=0)
    X = prepare_features(sample, feats)
    model = bundle.calibrator
    base = model.predict_proba(X)[:, 1]
    per: dict[str, int] = {}
    total = checked = 0
    for col, sign in constrained(feats).items():
        x = X[col]
        span = float(np.nanmax(x) - np.nanmin(x)) if x.notna().any() else 0.0
        integral = bool(np.all(np.isnan(x) | (x == np.round(x))))
        step = 1.0 if integral or span == 0 else span / 10
        moved = X.copy()
        moved[col] = x + step
        after = model.predict_proba(moved)[:, 1]
        ok = x.notna().to_numpy()
        bad = int(((sign * (after - base)) < -1e-9)[ok].sum())
        per[col] = bad
        total += bad
        checked += int(ok.sum())
    return total, checked, per


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=10000)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--preset", default="reap_2010")
    args = ap.parse_args()
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; load average {open('/proc/loadavg').read().strip()}"
    )
    t0 = time.perf_counter()
    county = simulate_county(students=args.students, years=args.years, seed=args.seed, preset=args.preset)
    tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
    cfg = BaoxueConfig()
    dates = labelled_as_of_dates(tables, cfg.train)
    data = evaluation_data(tables, build_panel(tables, [d.date() for d in dates], cfg), cfg.train)
    print(f"panel: {len(data):,} rows in {time.perf_counter() - t0:.0f} s")
    table, extra, reports = [], {}, {}
    for monotone in (True, False):
        t1 = time.perf_counter()
        tc = replace(cfg.train, monotone=monotone)
        rep = evaluate(data, tc, truth=county.truth["risk_monthly"], capacity=cfg.risk.capacity_per_school,
                       absence_share=cfg.rules.chronic_absence_share, rule_columns=rule_columns(cfg),
                       county=replace(cfg, train=tc))  # fmt: skip
        reports[monotone] = rep
        secs = time.perf_counter() - t1
        bad, checked, per = wrong_way(rep, data)
        name = "lightgbm, monotone" if monotone else "lightgbm, free"
        row = rep.metrics.loc["lightgbm", COLUMNS].to_dict()
        row |= {"trees": rep.explain.get("trees", np.nan), "wrong_way_rows": bad, "rows_checked": checked}
        tiers = rep.tiers.loc[rep.tiers["month"] == "all"].set_index("tier")
        row |= {
            "red_precision": tiers.loc["red", "precision"],
            "red+yellow_recall": tiers.loc["red+yellow", "recall"],
        }
        table.append(pd.Series(row, name=name))
        extra[name] = {"evaluate_s": round(secs, 1), "worst": sorted(per.items(), key=lambda kv: -kv[1])[:5]}
    for base in ("logistic", "rule", "oracle"):
        if base in reports[True].metrics.index:
            table.append(reports[True].metrics.loc[base, COLUMNS].rename(base))
    out = pd.DataFrame(table)
    out.index.name = "model"
    print(f"## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}")
    print(f"design {reports[True].design.window()}; {reports[True].counts}\n")
    print(markdown_table(out, digits=4))
    print()
    for k, v in extra.items():
        print(k, v)
    print(
        f"total {time.perf_counter() - t0:.0f} s; load average after {open('/proc/loadavg').read().strip()}"
    )


if __name__ == "__main__":
    main()
