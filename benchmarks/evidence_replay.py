"""Do the evidence estimators recover the simulator's true effects? Coverage and bias over seeds.

Each seed simulates a county, replays the job's policy on it (borderline band on, the true
effects of SIMULATOR.md or stronger ones) with a model trained once on a neighbouring
county, and runs ``evaluate_interventions``. Prints, per estimator and outcome, the share
of seeds whose interval covers the true effect, the mean estimate against the mean truth,
and the interval width. Not part of the test run. Usage:

    .venv/bin/python -m benchmarks.evidence_replay --seeds 30 --students 3000 --band 15 --tutoring-hr 0.3 --aid-hr 0.1
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from risk.evidence.evaluate import evaluate_interventions, evaluation_decisions
from risk.evidence.replay import TrueEffects, replay_policy
from training.evaluate import markdown_table
from training.pipeline import train_tables


def run(seeds, students, band, effects, preset="reap_2010", years=2, cfg=None, bundle=None):
    cfg = cfg or BaoxueConfig()
    if bundle is None:
        train = simulate_county(students=students, years=years, seed=10_000, preset=preset)
        bundle, _ = train_tables(tables_from_frames(train.frames).tables, cfg, evaluate_first=False)
    rows = []
    for s in seeds:
        county = simulate_county(students=students, years=years, seed=s, preset=preset)
        rep = replay_policy(county, bundle, config=cfg, effects=effects, borderline_band=band, seed=s)
        d, _ = evaluation_decisions(rep.snapshots, rep.tables(), rep.config, truth=rep.truth)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate_interventions(d, seed=s, n_boot=500)
        t = ev.table.assign(seed=s, width=ev.table["ci_high"] - ev.table["ci_low"])
        rows.append(
            t[
                [
                    "seed",
                    "estimator",
                    "outcome",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "width",
                    "true_effect",
                    "covers",
                    "n",
                ]
            ]
        )
    return pd.concat(rows, ignore_index=True)


def summary(res: pd.DataFrame) -> pd.DataFrame:
    g = res.groupby(["estimator", "outcome"])
    out = g.agg(
        seeds=("seed", "size"),
        coverage=("covers", "mean"),
        mean_estimate=("estimate", "mean"),
        mean_truth=("true_effect", "mean"),
        mean_width=("width", "mean"),
        mean_n=("n", "mean"),
    )
    bias = res["estimate"] - res["true_effect"]
    out["bias"] = bias.groupby([res["estimator"], res["outcome"]]).mean()
    out["bias_se"] = bias.groupby([res["estimator"], res["outcome"]]).std() / np.sqrt(out["seeds"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--students", type=int, default=3000)
    ap.add_argument("--band", type=int, default=15)
    ap.add_argument("--tutoring-hr", type=float, default=0.8)
    ap.add_argument("--aid-hr", type=float, default=0.4)
    ap.add_argument("--preset", default="reap_2010")
    args = ap.parse_args()
    cfg = BaoxueConfig()
    cfg = replace(cfg, train=replace(cfg.train, n_estimators=80, num_leaves=7, max_depth=4))
    eff = TrueEffects(tutoring_hr=args.tutoring_hr, aid_hr_poor=args.aid_hr)
    t = time.perf_counter()
    res = run(range(1, args.seeds + 1), args.students, args.band, eff, preset=args.preset, cfg=cfg)
    took = time.perf_counter() - t
    print(f"{args.seeds} seeds x {args.students} students, band {args.band}, tutoring hr {args.tutoring_hr},"
          f" aid hr (poor) {args.aid_hr}, preset {args.preset}: {took:.0f} s")  # fmt: skip
    print(markdown_table(summary(res).round(4)))
    res.to_csv(f"/tmp/evidence_replay_{args.band}_{args.tutoring_hr}.csv", index=False)


if __name__ == "__main__":
    main()
