"""Issue 15's acceptance check: the red / yellow / blue lists on a county's test year.

A simulated ``reap_2010`` county (default 20,000 students over 4 years, seed 7). Part A: the
evaluation (training/evaluate.py) fits the model before the last school year, chooses the tiers'
thresholds (training/thresholds.py) and applies the list policy to every monthly as-of date of
that year; the labels are the simulator's dropouts as the county's tables record them, the
oracle row is the simulator's true risk. Part B: the same evaluation model scores consecutive
weekly nights of the test year through the nightly path (``risk.assess.assess_full``: the
staff capacity of each school, each night's tiers held against the previous night's, reasons
for every listed student), for the week-to-week churn of the lists, the capacity of every
school and the reasons of every listed student.

Criteria (PASS/FAIL each):

- red precision >= 10x the base rate, yellow >= 3x, blue >= 1.5x; each colour above none;
- red+yellow <= 15% of the cohort on every as-of date; blue <= 10% on every date;
- in every school on every date: red+yellow <= capacity + red (yellow within the places);
- recall of red+yellow over the test year >= 0.80 (rows: the positive (student, month) rows on
  a list; the share of the year's dropouts on a list at least once before is also shown);
- no context feature (``ctx_*``) among any listed student's ``reason_codes``, and
  ``risk.reasons.reason_problems`` finds nothing, on every night.

Not part of the test run. Usage (about 15-25 minutes on the shared 2-core machine):
    .venv/bin/python -m benchmarks.acceptance --students 20000 --years 4 --seed 7 --weeks 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time

import numpy as np
import pandas as pd

from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from risk.assess import assess_full
from risk.reasons import REASON_COLUMNS, is_context, reason_problems
from training.evaluate import evaluate, labelled_panel, markdown_table, rule_columns
from training.fit import prepare_features
from training.thresholds import tier_labels, tier_table


def _load() -> str:
    return open("/proc/loadavg").read().strip()


def check(rows: list, name: str, value: float, target: str, ok: bool | None) -> None:
    """One criterion's row; ``ok`` None: a figure shown, not a criterion."""
    result = "info" if ok is None else "PASS" if ok else "FAIL"
    rows.append({"criterion": name, "value": value, "target": target, "result": result})


def part_a(data: pd.DataFrame, cfg: BaoxueConfig, truth: pd.DataFrame | None, crit: list):
    """The evaluation, the per-tier table of the test year and its criteria."""
    cap = cfg.risk.capacity_per_school
    report = evaluate(data, cfg.train, truth=truth, capacity=cap, absence_share=cfg.rules.chronic_absence_share,
                      rule_columns=rule_columns(cfg), county=cfg)  # fmt: skip
    test = data.loc[report.design.part(data["as_of"], "test")].reset_index(drop=True)
    bundle = report.bundle
    p = bundle.calibrator.predict_proba(prepare_features(test, list(bundle.features)))[:, 1]
    tier = tier_labels(test, p, report.thresholds, cfg, capacity=cap)
    table = tier_table(test, tier)
    # the report's table is this one (same model, thresholds and policy)
    pd.testing.assert_frame_equal(table, report.tiers)
    allrows = table.loc[table["month"] == "all"].set_index("tier")
    base = float(test["label"].mean())
    lift = allrows["lift"]
    prec = allrows["precision"]
    check(crit, "red lift (precision / base rate)", lift["red"], ">= 10", lift["red"] >= 10)
    check(crit, "yellow lift", lift["yellow"], ">= 3", lift["yellow"] >= 3)
    check(crit, "blue lift", lift["blue"], ">= 1.5", lift["blue"] >= 1.5)
    for t in ("red", "yellow", "blue"):
        check(
            crit,
            f"{t} precision above none's ({prec['none']:.4f})",
            prec[t],
            "> none",
            prec[t] > prec["none"],
        )
    months = table.loc[table["month"] != "all"].pivot(index="month", columns="tier", values="share")
    worst = float(months["red+yellow"].max())
    check(crit, "red+yellow share, worst month", worst, "<= 0.15", worst <= 0.15)
    worst_blue = float(months["blue"].max())
    check(crit, "blue share, worst month", worst_blue, "<= 0.10", worst_blue <= 0.10)
    # within capacity in every school and month: red+yellow <= capacity + red
    school = test["school_id"].astype("str")
    f = pd.DataFrame(
        {"as_of": test["as_of"], "school": school, "red": tier == "red", "yellow": tier == "yellow"}
    )
    g = f.groupby(["as_of", "school"], observed=True).agg(
        red=("red", "sum"), yellow=("yellow", "sum"), n=("red", "size")
    )
    cap_rows = np.full(len(g), float(cap))
    if cfg.risk.capacity_per_100 > 0:
        cap_rows = np.minimum(cap_rows, np.maximum(np.ceil(cfg.risk.capacity_per_100 * g["n"] / 100.0), 1))
    over = int((g["yellow"].to_numpy() > cap_rows).sum())
    check(crit, f"(school, month) cells over capacity + red, of {len(g)}", over, "0", over == 0)
    rec = float(allrows.loc["red+yellow", "recall"])
    check(crit, "recall of red+yellow, positive rows of the test year", rec, ">= 0.80", rec >= 0.80)
    y = test["label"].to_numpy() == 1
    listed = np.isin(tier, ["red", "yellow"])
    sid = test["student_id"].astype("str")
    caught = pd.Series(listed[y]).groupby(sid[y].to_numpy()).any()
    check(crit, f"dropouts of the test year on a list at least once before ({len(caught)} students)",
          float(caught.mean()), "(shown)", None)  # fmt: skip
    return report, table, base


def _mondays(test_dates: list[pd.Timestamp], weeks: int) -> list[dt.date]:
    """``weeks`` consecutive Mondays from the second test month's first Monday (after autumn start)."""
    start = pd.Timestamp(test_dates[1]) if len(test_dates) > 1 else pd.Timestamp(test_dates[0])
    return [d.date() for d in pd.date_range(start, periods=weeks, freq="W-MON")]


def part_b(tables, bundle, cfg: BaoxueConfig, nights: list[dt.date], crit: list) -> pd.DataFrame:
    """Weekly nights through ``assess_full``: churn, capacity and reasons."""
    snaps: list[pd.DataFrame] = []
    rows = []
    problems: list[str] = []
    context_codes = 0
    over_cap = 0
    listed_total = 0
    for i, night in enumerate(nights):
        t0 = time.perf_counter()
        prior = snaps[-1][["tier", "tier_condition"]] if snaps else None
        previous = snaps[-4]["probability"] if len(snaps) >= 4 else None
        a = assess_full(tables, night, bundle, cfg, prior=prior, previous=previous)
        s = a.snapshot
        snaps.append(s)
        listed = s.index[s["tier"].isin(["red", "yellow"])]
        listed_total += len(listed)
        codes = s.loc[listed, "reason_codes"].astype("str").str.split(";").explode()
        context_codes += int(codes[codes != ""].map(is_context).sum())
        problems += reason_problems(a.features, a.contributions, s.loc[listed, REASON_COLUMNS])
        per_school = s.groupby("school_id", observed=True).agg(
            red=("tier", lambda t: int((t == "red").sum())),
            yellow=("tier", lambda t: int((t == "yellow").sum())),
            capacity=("capacity", "first"),
        )
        over_cap += int((per_school["yellow"] > per_school["capacity"]).sum())
        row = {
            "night": night,
            "students": len(s),
            **{f"{t}_share": float((s["tier"] == t).mean()) for t in ("red", "yellow", "blue")},
            "red+yellow_share": float(s["tier"].isin(["red", "yellow"]).mean()),
            "yellow": int((s["tier"] == "yellow").sum()),
            "held": int(s["tier_condition"].astype("str").str.startswith("held").sum()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if i:
            before = snaps[-2]
            for t in ("yellow", "red+yellow"):
                members = ["red", "yellow"] if t == "red+yellow" else [t]
                now = set(s.index[s["tier"].isin(members)])
                was = set(before.index[before["tier"].isin(members)])
                row[f"{t}_entered"] = len(now - was) / len(now) if now else np.nan
                row[f"{t}_left"] = len(was - now) / len(was) if was else np.nan
        rows.append(row)
    nightly = pd.DataFrame(rows)
    check(crit, "weekly nights: red+yellow share, worst night", float(nightly["red+yellow_share"].max()), "<= 0.15",
          bool(nightly["red+yellow_share"].max() <= 0.15))  # fmt: skip
    check(crit, "weekly nights: blue share, worst night", float(nightly["blue_share"].max()), "<= 0.10",
          bool(nightly["blue_share"].max() <= 0.10))  # fmt: skip
    check(crit, "weekly nights: (school, night) cells with yellow over the staff capacity", over_cap, "0",
          over_cap == 0)  # fmt: skip
    check(crit, f"context codes among reason_codes of {listed_total} listed rows", context_codes, "0",
          context_codes == 0)  # fmt: skip
    check(crit, "reason_problems over every listed student", len(problems), "0", not problems)
    for p in problems[:10]:
        print("  reason problem:", p)
    return nightly


def churn(snapshots: list[pd.DataFrame]) -> pd.DataFrame:
    """Week-to-week churn of consecutive snapshots (indexed by ``student_id``, column ``tier``):
    per night and list (yellow, red+yellow) its size, the share of it new since the night before
    and the share of the night before's list gone."""
    rows = []
    for i, s in enumerate(snapshots):
        row = {"night": pd.Timestamp(s["as_of"].iloc[0]).date() if "as_of" in s else i}
        for t, members in (("yellow", ["yellow"]), ("red+yellow", ["red", "yellow"])):
            now = set(s.index[s["tier"].astype("str").isin(members)])
            row[t] = len(now)
            if i:
                b = snapshots[i - 1]
                was = set(b.index[b["tier"].astype("str").isin(members)])
                row[f"{t}_entered"] = len(now - was) / len(now) if now else np.nan
                row[f"{t}_left"] = len(was - now) / len(was) if was else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def ledger_churn(db_url: str) -> pd.DataFrame:
    """:func:`churn` of the weekly nights in a ledger (e.g. the demo replay's ``ledger.db``)."""
    from jobs.nightly import open_database
    from jobs.storage import read_runs, read_snapshot

    engine = open_database(db_url)
    runs = read_runs(engine).sort_values("as_of")
    snaps = [read_snapshot(engine, run_id=r).set_index("student_id") for r in runs["run_id"]]
    return churn([s for s in snaps if len(s)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=20000)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--preset", default="reap_2010")
    ap.add_argument("--weeks", type=int, default=8, help="consecutive weekly nights for the churn (0: none)")
    ap.add_argument("--ledger", help="only the churn of the weekly nights in this ledger (a database URL)")
    args = ap.parse_args()
    if args.ledger:
        table = ledger_churn(args.ledger)
        print(markdown_table(table, index=False))
        for t in ("yellow", "red+yellow"):
            print(f"{t} churn week to week: mean {table[f'{t}_entered'].mean():.3f} of the list new, "
                  f"{table[f'{t}_left'].mean():.3f} of last week's gone")  # fmt: skip
        return
    print(f"machine: {platform.node()}, {os.cpu_count()} cores; load average {_load()}")
    t0 = time.perf_counter()
    county = simulate_county(students=args.students, years=args.years, seed=args.seed, preset=args.preset)
    tables = tables_from_frames(county.frames, max_reject_share=1.0).tables
    cfg = BaoxueConfig()
    data = labelled_panel(tables, cfg)
    print(f"panel: {len(data):,} rows, {time.perf_counter() - t0:.0f} s")
    crit: list[dict] = []
    report, table, base = part_a(data, cfg, county.truth["risk_monthly"], crit)
    print(f"\n## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}")
    print(f"design {report.design.window()}; {report.counts}")
    t = report.thresholds
    print(f"thresholds: red {t.red_risk:.4f}, yellow {t.yellow_risk:.4f}, base rate {base:.4f}; "
          f"trigger lifts {({k: round(v, 2) for k, v in t.trigger_lift.items()})}")  # fmt: skip
    print("\nmodel and baselines on the test year:\n")
    print(markdown_table(report.headline()))
    print("\nper tier, the test year (all months):\n")
    print(markdown_table(table.loc[table["month"] == "all"].drop(columns="month"), index=False))
    print("\nper month:\n")
    print(
        markdown_table(
            table.loc[table["month"] != "all"].pivot(index="month", columns="tier", values="share")
        )
    )
    print(f"\npart A done at {time.perf_counter() - t0:.0f} s; load average {_load()}")
    if args.weeks:
        dates = sorted(pd.to_datetime(data.loc[report.design.part(data["as_of"], "test"), "as_of"].unique()))
        nights = _mondays(dates, args.weeks)
        nightly = part_b(tables, report.bundle, cfg, nights, crit)
        print(
            f"\nweekly nights {nights[0]}..{nights[-1]} (evaluation model, each night held against the last):\n"
        )
        print(markdown_table(nightly, index=False))
        for t in ("yellow", "red+yellow"):
            e, lft = nightly[f"{t}_entered"].mean(), nightly[f"{t}_left"].mean()
            print(f"{t} churn week to week: mean {e:.3f} of the list new, {lft:.3f} of last week's gone")
    print("\n## criteria\n")
    print(markdown_table(pd.DataFrame(crit), index=False))
    n_pass, n_fail = (sum(c["result"] == r for c in crit) for r in ("PASS", "FAIL"))
    print(f"\n{n_pass} PASS, {n_fail} FAIL; total {time.perf_counter() - t0:.0f} s; load average {_load()}")


if __name__ == "__main__":
    main()
