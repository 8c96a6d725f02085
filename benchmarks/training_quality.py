"""Model vs baselines vs oracle on a simulated county, and the depth / SHAP-cost trade-off.

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.training_quality --students 2000 --years 4 --seed 1 --preset reap_2010
Prints one markdown table per section (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import pandas as pd

from features.build import build_panel
from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from training.evaluate import evaluate, evaluation_data, labelled_as_of_dates, markdown_table

# (max_depth, num_leaves, n_estimators): the default first, then deeper / unbounded trees
SHAPES = [(6, 15, 300), (4, 15, 300), (8, 31, 300), (-1, 31, 300)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=2000)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="reap_2010")
    args = ap.parse_args()
    t0 = time.perf_counter()
    county = simulate_county(students=args.students, years=args.years, seed=args.seed, preset=args.preset)
    tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
    cfg = BaoxueConfig()
    dates = labelled_as_of_dates(tables, cfg.train)
    data = evaluation_data(tables, build_panel(tables, [d.date() for d in dates], cfg), cfg.train)
    t_data = time.perf_counter() - t0
    rows = []
    for i, (depth, leaves, trees) in enumerate(SHAPES):
        tc = replace(cfg.train, max_depth=depth, num_leaves=leaves, n_estimators=trees)
        t1 = time.perf_counter()
        rep = evaluate(data, tc, truth=county.truth["risk_monthly"], capacity=cfg.risk.capacity_per_school)
        if i == 0:
            print(f"## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}")
            print(f"data {t_data:.0f} s; design {rep.design.window()}; {rep.counts}\n")
            print(markdown_table(rep.headline()), "\n")
            print(
                "lead time:",
                rep.metrics.filter(like="caught")
                .join(rep.metrics.filter(like="lead"))
                .round(3)
                .to_dict("index"),
            )
            print("\nrule's own list:", {k: round(v, 4) for k, v in rep.rule_list.items()}, "\n")
            print(markdown_table(rep.fairness.gaps), "\n")
            print(
                markdown_table(
                    rep.per_month.loc[rep.per_month["model"] == "lightgbm"].drop(columns="model"), index=False
                ),
                "\n",
            )
        m = rep.metrics.loc["lightgbm"]
        o = rep.metrics.loc["oracle"]
        rows.append(
            {
                "max_depth": depth,
                "num_leaves": leaves,
                "trees_used": m["trees"],
                "max_tree_depth": m["max_tree_depth"],
                "precision_at_5pct": m["precision_at_5pct"],
                "precision_at_10pct": m["precision_at_10pct"],
                "share_of_oracle_p10": m["precision_at_10pct"] / o["precision_at_10pct"],
                "roc_auc": m["roc_auc"],
                "shap_rows_per_s": m["shap_rows_per_s"],
                "predict_rows_per_s": m["predict_rows_per_s"],
                "fit_eval_s": time.perf_counter() - t1,
            }
        )
    print(markdown_table(pd.DataFrame(rows), index=False))


if __name__ == "__main__":
    main()
