"""Why the blue tier's realised precision sits above the interval the model expects (issue 17).

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.blue_tier --seed 21 [--seed 22]

The replay of ``tests/jobs/test_monitor_acceptance.py::
test_with_no_intervention_effects_realised_precision_is_inside_the_expected_interval``: a model
trained on a neighbouring ``reap_2010`` county (1,500 students, 60 trees), six monthly nights of
the served county scored with ``risk.assess`` (no intervention effects: the simulator's outcomes
do not depend on the lists), judged by ``risk.monitoring.monitor``. Each judged row is joined
to the simulator's truth (``truth/risk_monthly``: the true 90-day risk at the month start,
knowing whether a scheduled dropout has begun to show), so the realised rate can be compared
with what the model expected and with what was true:

1. per tier: rows, dropouts, expected (mean calibrated risk), realised, true (mean ``p_true``);
2. the blue rows by their condition and by watched-group tags;
3. every judged row with a risk 4 weeks earlier, by risk band and by how much the risk rose
   (blue takes children whose risk doubled to at least ``[risk] blue_min_risk``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

SMALL = {"n_estimators": 60, "num_leaves": 7, "max_depth": 4, "min_child_samples": 20}
NIGHTS = [dt.date(2023, 9, 11), dt.date(2023, 10, 9), dt.date(2023, 11, 6), dt.date(2023, 12, 4),
          dt.date(2024, 1, 8), dt.date(2024, 3, 4)]  # fmt: skip


def judged_rows(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The judged snapshot rows of one replay with label, earlier risk and true risk; and the
    monitor's pooled summary."""
    from features.config import BaoxueConfig
    from features.load import tables_from_frames
    from features.sim import simulate_county
    from risk.assess import assess
    from risk.monitoring import monitor
    from training.labels import label_panel
    from training.pipeline import train_tables

    cfg = BaoxueConfig()
    cfg = replace(cfg, train=replace(cfg.train, **SMALL))
    neighbour = simulate_county(
        students=1500, years=3, seed=10_000 + seed, preset="reap_2010", start_year=2021
    )
    bundle, _ = train_tables(tables_from_frames(neighbour.frames).tables, cfg, evaluate_first=False)
    county = simulate_county(students=1500, years=3, seed=seed, preset="reap_2010", start_year=2021)
    tables = tables_from_frames(county.frames).tables
    snaps, previous = [], None
    for night in NIGHTS:
        snap = assess(tables, night, bundle, cfg, previous=previous)
        previous = snap["probability"]
        snaps.append(snap.reset_index(drop="student_id" in snap.columns))
    s = pd.concat(snaps, ignore_index=True)
    until = dt.date(2024, 7, 20)
    summary = monitor(s, tables, as_of=until, train_config=cfg.train).quality.summary
    s = s.assign(
        student_id=s["student_id"].astype("str"), as_of=pd.to_datetime(s["as_of"]).astype("datetime64[s]")
    )
    s = s.sort_values(["student_id", "as_of"])
    s["before"] = s.groupby("student_id")["probability"].shift(1)  # the night ~4 weeks earlier
    lab = label_panel(tables, NIGHTS, cfg.train, until=until)
    m = s.merge(lab.assign(student_id=lab["student_id"].astype("str")), on=["student_id", "as_of"])
    truth = county.truth["risk_monthly"]
    truth = truth.assign(student_id=truth["student_id"].astype("str"),
                         month=pd.to_datetime(truth["as_of"]).dt.strftime("%Y-%m"))  # fmt: skip
    m["month"] = m["as_of"].dt.strftime("%Y-%m")
    m = m.merge(truth[["student_id", "month", "p_true"]], on=["student_id", "month"], how="left")
    return m.assign(seed=seed), summary


def _agg(g) -> pd.DataFrame:
    return g.agg(rows=("label", "size"), dropouts=("label", "sum"), expected=("probability", "mean"),
                 realised=("label", "mean"), true=("p_true", "mean"))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, action="append", default=None)
    args = ap.parse_args()
    parts = []
    for seed in args.seed or [21]:
        m, summary = judged_rows(seed)
        print(f"\n## seed {seed}: the monitor's summary\n")
        print(summary[["tier", "n", "dropouts", "precision", "expected", "expected_low", "expected_high",
                       "within_expected"]].to_string(index=False))  # fmt: skip
        print(f"\n## seed {seed}: per tier, with the truth\n")
        print(_agg(m.groupby("tier", observed=True)).to_string())
        b = m.loc[m["tier"] == "blue"]
        print(f"\n## seed {seed}: blue by condition and by watched-group tag\n")
        print(_agg(b.groupby(b["tier_condition"].astype("str").str.split(":").str[0])).to_string())
        print(_agg(b.groupby(np.where(b["tags"].astype("str") != "", "tagged", "untagged"))).to_string())
        print(f"blue rows whose dropout had begun by the month start (p_true > 0.5): "
              f"{int((b['p_true'] > 0.5).sum())}, their dropouts {int(b.loc[b['p_true'] > 0.5, 'label'].sum())}; "
              f"the others' mean p_true {b.loc[b['p_true'] <= 0.5, 'p_true'].mean():.4f}")  # fmt: skip
        parts.append(m)
    m = pd.concat(parts, ignore_index=True)
    m = m.loc[m["before"].notna()]
    ratio = m["probability"] / m["before"]
    m["rose"] = np.where(ratio >= 2, "x2 or more", np.where(ratio >= 1.25, "x1.25-2", "under x1.25"))
    m["band"] = pd.cut(m["probability"], [0, 0.005, 0.01, 0.02, 0.04, 0.1, 1])
    print("\n## every seed: rows with a risk 4 weeks earlier, by risk band and rise\n")
    print(_agg(m.groupby(["band", "rose"], observed=True)).to_string())


if __name__ == "__main__":
    main()
