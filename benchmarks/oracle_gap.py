"""How close the model gets to the oracle, lever by lever (issue 18), side by side in one run.

One simulated county; one feature panel over *weekly* as-of dates (the 1st, 8th, 15th and
22nd of each term month), whose 1st-of-month rows are the monthly panel of today's recipe.
Every variant is fitted and measured twice:

- on the **validation year** (the school year before the test year: the design of
  :func:`training.splits.last_year_design` on the rows before the test year). Decisions are
  taken here only;
- on the **test year** (the last school year, the design ``baoxue evaluate`` uses), reported.

Test rows are always the monthly ones (the oracle, ``truth/risk_monthly``, is monthly). With
weekly cadence, the fit and validation parts take every weekly date inside the monthly
design's windows (validation: its months, up to the gap before the test dates).

Variants: today's features or today's plus the features of change (``NEW``); monthly or
weekly training rows; the LightGBM settings search (``[train] search_seconds``); a blend with
scikit-learn's HistGradientBoosting (monotone, same features, calibrated on the same rows),
its weight chosen on the validation year. Printed: model ÷ oracle at 5%, at capacity
(10 a school and month) and in PR AUC, plus TreeSHAP rows/s of each LightGBM.

Not part of the test run. Usage:
    .venv/bin/python -m benchmarks.oracle_gap --students 10000 --years 4 --seed 7
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from features.build import build_panel
from features.config import BaoxueConfig, TrainConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from features.time import school_year_of
from training.baselines import oracle_scores
from training.calibrate import OrderedCalibration, calibrate
from training.evaluate import evaluation_data, labelled_as_of_dates, markdown_table
from training.fit import explain_speed, fit_model, panel_feature_columns, prepare_features, validation_halves
from training.labels import observable_as_of_dates, observed_until
from training.metrics import score_metrics
from training.monotone import monotone_constraints
from training.splits import TemporalDesign, last_year_design

#: the features this issue adds (features of change, trajectory, 复学生)
NEW = (
    "att_unexcused_days_8w",
    "att_unexcused_slope_8w",
    "att_unexcused_onset_8w",
    "acad_composite_pct_slope_4terms",
    "acad_composite_pct_class_mean_2terms",
    "ctx_returned_dropout",
)
MEASURES = ("precision_at_5pct", "precision_at_cap10", "pr_auc")


def weekly_dates(monthly: list[pd.Timestamp], until, config: TrainConfig) -> list[pd.Timestamp]:
    """The 1st, 8th, 15th and 22nd of every month of ``monthly``, whose label window is observed."""
    out = [d + pd.Timedelta(days=k) for d in monthly for k in (0, 7, 14, 21)]
    return observable_as_of_dates(out, config, until=until)


def widen(design: TemporalDesign, dates: list[pd.Timestamp]) -> TemporalDesign:
    """The monthly ``design`` with every weekly date inside its fit and validation windows."""
    gap = pd.Timedelta(days=design.gap_days)
    v0, v1 = min(design.valid), max(design.valid) + pd.offsets.MonthEnd(0)
    valid = [d for d in dates if v0 <= d <= v1 and (not design.test or d + gap <= min(design.test))]
    fit = [d for d in dates if min(design.fit) <= d and d + gap <= min(valid)]
    return TemporalDesign(tuple(fit), tuple(valid), design.test, design.gap_days)


def fit_hgb(data: pd.DataFrame, design: TemporalDesign, config: TrainConfig, cols: list[str]):
    """HistGradientBoosting on the fit rows, early-stopped on the validation early-stopping
    half, calibrated on the other half (the LightGBM recipe with another learner)."""
    fit_rows = design.part(data["as_of"], "fit")
    valid = design.part(data["as_of"], "valid")
    stop = valid & validation_halves(data["student_id"], config)
    cal = valid & ~stop
    y = data["label"].to_numpy()
    X_fit, X_stop, X_cal = (prepare_features(data.loc[m, cols], cols) for m in (fit_rows, stop, cal))
    hgb = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=400, max_leaf_nodes=15, max_depth=6, min_samples_leaf=50,
        l2_regularization=1.0, monotonic_cst=monotone_constraints(cols), categorical_features="from_dtype",
        early_stopping=True, n_iter_no_change=30, random_state=config.seed,
    )  # fmt: skip
    hgb.fit(X_fit, y[fit_rows], X_val=X_stop, y_val=y[stop])
    return calibrate(
        hgb, X_cal, y[cal], config.calibration, isotonic_min_positives=config.isotonic_min_positives
    )


def oracle_on_records(test: pd.DataFrame, truth: pd.DataFrame, config: TrainConfig) -> dict:
    """How much of the oracle no record can show: the oracle gives 1 to every row whose
    simulated disengagement ramp has begun (``p_true`` = 1); of those, the rows with no
    unexcused day in the last 8 school weeks (``att_unexcused_days_8w`` 0 or missing) look
    like any other. Scored instead at the student's previous month's truth (the median
    truth of the not-begun positives when there is none), the oracle's figures become these."""
    o = oracle_scores(test, truth)
    y = test["label"].to_numpy()
    begun = o >= 0.999
    unseen = begun & test["att_unexcused_days_8w"].fillna(0).to_numpy().__eq__(0)
    tr = truth.assign(student_id=truth["student_id"].astype("str"), as_of=pd.to_datetime(truth["as_of"]))
    tr = tr.sort_values(["student_id", "as_of"])
    tr["previous"] = tr.groupby("student_id")["p_true"].shift(1)
    key = pd.DataFrame(
        {"student_id": test["student_id"].astype("str"), "as_of": pd.to_datetime(test["as_of"])}
    )
    prev = key.merge(tr[["student_id", "as_of", "previous"]], on=["student_id", "as_of"], how="left")
    prev = prev["previous"].to_numpy()
    fill = float(np.median(o[~begun & (y == 1)]))
    o2 = o.copy()
    o2[unseen] = np.where(np.isnan(prev[unseen]) | (prev[unseen] >= 0.999), fill, prev[unseen])
    m = score_metrics(test, o2, shares=(0.05,), capacity=10, n_bins=10, seed=config.seed)
    return {"begun_rows": int(begun.sum()), "begun_unseen_8w": int(unseen.sum())} | {
        k: round(m[k], 4) for k in MEASURES
    }


def run_variant(data, design, config, cols, truth, *, hgb_weights=(0.0,), ordered=True) -> dict:
    """Fit on ``design`` and measure on its test rows; one row per blend weight. ``ordered``
    False scores with plain isotonic steps (the recipe before :class:`OrderedCalibration`)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fitted = fit_model(data, design, config, features=cols)
    test = data.loc[design.part(data["as_of"], "test")].reset_index(drop=True)
    X = prepare_features(test, cols)
    cal = fitted.calibrator
    if not ordered and isinstance(cal, OrderedCalibration):
        cal = cal.calibrated
    p_lgb = cal.predict_proba(X)[:, 1]
    p_hgb = None
    if any(w > 0 for w in hgb_weights):
        p_hgb = fit_hgb(data, design, config, cols).predict_proba(X)[:, 1]
    oracle = oracle_scores(test, truth)
    om = score_metrics(test, oracle, shares=(0.05,), capacity=10, n_bins=10, seed=config.seed)
    rows = {}
    for w in hgb_weights:
        p = p_lgb if w == 0 else (1 - w) * p_lgb + w * p_hgb
        m = score_metrics(test, p, shares=(0.05,), capacity=10, n_bins=10, seed=config.seed)
        rows[w] = {k: m[k] for k in MEASURES} | {f"{k}/oracle": m[k] / om[k] for k in MEASURES}
    speed = explain_speed(fitted.estimator, X, max_rows=2000)
    extra = {
        "trees": int(speed["trees"]),
        "shap_rows_per_s": round(speed["shap_rows_per_s"]),
        "fit_rows": fitted.n_fit,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
        "search": fitted.search.get("overrides") if fitted.search else None,
        "calibration": f"{fitted.calibrator.method}{'' if ordered or fitted.calibrator.method != 'isotonic' else ' (plain steps)'}",
    }
    return {"rows": rows, "extra": extra, "oracle": {k: om[k] for k in MEASURES}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=10000)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--preset", default="reap_2010")
    ap.add_argument("--search-seconds", type=float, default=600.0)
    ap.add_argument("--only", default="", help="variant names separated by ; (default: all)")
    ap.add_argument("--cache", default="", help="a folder to keep the county's panel in between runs")
    ap.add_argument("--periods", default="validation year,test year", help="comma-separated")
    ap.add_argument("--monthly-only", action="store_true", help="no weekly panel, no weekly variants")
    ap.add_argument("--no-blend", action="store_true", help="leave out the HistGradientBoosting blend")
    args = ap.parse_args()
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; load average {open('/proc/loadavg').read().strip()}"
    )
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = BaoxueConfig()
    tc = cfg.train
    cache = (
        Path(args.cache) / f"{args.preset}-{args.students}-{args.years}-{args.seed}" if args.cache else None
    )
    if cache is not None and (cache / "data.pkl").exists():
        data, truth = pd.read_pickle(cache / "data.pkl"), pd.read_pickle(cache / "truth.pkl")
        monthly = sorted(data.loc[data["as_of"].dt.day.eq(1), "as_of"].unique())
        print(f"panel: {len(data):,} rows read from {cache}", flush=True)
    else:
        county = simulate_county(students=args.students, years=args.years, seed=args.seed, preset=args.preset)
        tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
        truth = county.truth["risk_monthly"]
        monthly = labelled_as_of_dates(tables, tc)
        weekly = monthly if args.monthly_only else weekly_dates(monthly, observed_until(tables), tc)
        panel = build_panel(tables, [d.date() for d in weekly], cfg)
        data = evaluation_data(tables, panel, tc)
        del panel, county, tables
        print(
            f"panel: {len(data):,} rows over {len(weekly)} weekly dates ({len(monthly)} monthly) in "
            f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU",
            flush=True,
        )
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            data.to_pickle(cache / "data.pkl")
            truth.to_pickle(cache / "truth.pkl")
    all_cols = panel_feature_columns(data)
    today = [c for c in all_cols if c not in NEW]
    test_year = school_year_of(pd.Timestamp(max(monthly)).date())
    day = pd.Series(data["as_of"].unique())
    before_days = day[day.map(lambda d: school_year_of(d.date()) < test_year)]
    # the two periods: the validation year (decisions) and the test year (reported)
    periods = {}
    wanted = args.periods.split(",")
    for period in ("validation year", "test year"):
        if period not in wanted:
            continue
        d = (
            data
            if period == "test year"
            else data.loc[data["as_of"].isin(before_days)].reset_index(drop=True)
        )
        m = last_year_design(d.loc[d["as_of"].dt.day.eq(1), "as_of"].unique(), tc)
        periods[period] = (d, m, widen(m, sorted(d["as_of"].unique())))
    searched = replace(tc, search_seconds=args.search_seconds)
    variants = {
        "today (monthly, today's features, isotonic steps)": ("monthly", today, tc, (0.0,), False),
        "+ ordered isotonic": ("monthly", today, tc, (0.0,), True),
        "+ features of change": ("monthly", all_cols, tc, (0.0, 0.25, 0.5), True),
        "weekly rows": ("weekly", today, tc, (0.0,), True),
        "weekly + features of change": ("weekly", all_cols, tc, (0.0,), True),
        "weekly + features + search": ("weekly", all_cols, searched, (0.0,), True),
        "monthly + features + search": ("monthly", all_cols, searched, (0.0,), True),
    }
    only = [v.strip() for v in args.only.split(";") if v.strip()]
    table, extras, oracle = [], {}, {}
    for period, (d, monthly_design, weekly_design) in periods.items():
        for name, (cadence, cols, conf, weights, ordered) in variants.items():
            if (only and name not in only) or (args.monthly_only and cadence == "weekly"):
                continue
            design = monthly_design if cadence == "monthly" else weekly_design
            rows = d if cadence == "weekly" else d.loc[d["as_of"].dt.day.eq(1)].reset_index(drop=True)
            weights = (0.0,) if args.no_blend else weights
            out = run_variant(rows, design, conf, cols, truth, hgb_weights=weights, ordered=ordered)
            oracle[period] = out["oracle"]
            for w, r in out["rows"].items():
                label = name if w == 0 else f"{name}, HGB blend {w:g}"
                table.append(pd.Series(r, name=(period, label)))
            extras[(period, name)] = out["extra"]
            print(period, name, out["rows"][0.0], out["extra"], flush=True)
    res = pd.DataFrame(table)
    res.index = pd.MultiIndex.from_tuples(res.index, names=["period", "variant"])
    print(f"\n## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}")
    for period, (d, m, w) in periods.items():
        print(
            f"{period}: monthly design {m.window()}, weekly design {w.window()}; oracle {oracle.get(period)}"
        )
        test = d.loc[m.part(d["as_of"], "test")].reset_index(drop=True)
        print(
            f"  {period}, the oracle without the ramps no record shows: {oracle_on_records(test, truth, tc)}"
        )
    print()
    print(markdown_table(res, digits=3))
    print()
    print(markdown_table(pd.DataFrame(extras).T, digits=4))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"total {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU, peak {peak:.1f} GiB; "
        f"load average after {open('/proc/loadavg').read().strip()}"
    )


if __name__ == "__main__":
    main()
