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
- recall of red+yellow over the test year at least the current list's: the list as it was before
  the tiers (each school's top ``capacity`` by risk on each as-of date, ``recall_at_capacity``
  of training/metrics.py), on the same rows with the same model. Counted per student-month (a
  positive (student, as-of month) row on a list), the unit ``recall_at_capacity`` has always
  counted; the share of the year's dropouts on a list at least once is shown beside it for both
  lists. The issue's "0.80 today" is shown as a figure, not a target: it is no figure of this
  county (RESULTS.md, "Lists a head teacher can act on, part 2", says where it came from);
- no context feature (``ctx_*``) among any listed student's ``reason_codes``, and
  ``risk.reasons.reason_problems`` finds nothing, on every night.

Each criterion is measured twice on the same panel, model and nights: *before* = the policy of
commit ``BEFORE`` (yellow threshold = every student's own risk >= ``yellow_min_lift`` x the base
rate; hysteresis on the school rank only, loaded from git), *after* = this tree's policy
(``[risk] yellow_choice = "tier"``, hysteresis on the rank and the risk).

Not part of the test run. Usage (about 15-25 minutes on the shared 2-core machine):
    .venv/bin/python -m benchmarks.acceptance --students 20000 --years 4 --seed 7 --weeks 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county
from features.tiering import rule_flag_mask, trigger_masks
from risk.assess import assess_full
from risk.reasons import REASON_COLUMNS, is_context, reason_problems
from training.evaluate import evaluate, labelled_panel, markdown_table, rule_columns
from training.fit import prepare_features
from training.metrics import inclusion
from training.thresholds import cells, choose_thresholds, row_capacity, tier_labels, tier_table

#: the commit whose list policy is "before" (the last one before the tier-lift yellow threshold
#: and the hysteresis on the risk)
BEFORE = "afd692d"


def before_policy():
    """``list_tiers`` of commit :data:`BEFORE` (``features/tiering.py`` read from git)."""
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "-C", str(root), "show", f"{BEFORE}:features/tiering.py"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    mod = types.ModuleType("tiering_before")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, f"{BEFORE}:features/tiering.py", "exec"), mod.__dict__)
    return mod.list_tiers


def _load() -> str:
    return open("/proc/loadavg").read().strip()


def check(rows: list, name: str, value: float, target: str, ok: bool | None) -> None:
    """One criterion's row; ``ok`` None: a figure shown, not a criterion."""
    result = "info" if ok is None else "PASS" if ok else "FAIL"
    rows.append({"criterion": name, "value": value, "target": target, "result": result})


def _criteria_a(test: pd.DataFrame, tier: np.ndarray, cap: int, cfg: BaoxueConfig, current: dict) -> list:
    """Part A's criteria for one tier assignment of the test rows."""
    crit: list[dict] = []
    table = tier_table(test, tier)
    allrows = table.loc[table["month"] == "all"].set_index("tier")
    lift = allrows["lift"]
    prec = allrows["precision"]
    check(crit, "red lift (precision / base rate)", lift["red"], ">= 10", lift["red"] >= 10)
    check(crit, "yellow lift", lift["yellow"], ">= 3", lift["yellow"] >= 3)
    check(crit, "blue lift", lift["blue"], ">= 1.5", lift["blue"] >= 1.5)
    for t in ("red", "yellow", "blue"):
        check(crit, f"{t} precision above none's", prec[t], "> none", prec[t] > prec["none"])
    months = table.loc[table["month"] != "all"].pivot(index="month", columns="tier", values="share")
    worst = float(months["red+yellow"].max())
    check(crit, "red+yellow share, worst month", worst, "<= 0.15", worst <= 0.15)
    worst_blue = float(months["blue"].max())
    check(crit, "blue share, worst month", worst_blue, "<= 0.10", worst_blue <= 0.10)
    # within capacity in every school and month: red+yellow <= capacity + red
    f = pd.DataFrame(
        {"cell": cells(test), "yellow": tier == "yellow", "cap": row_capacity(test, cfg.risk, cap)}
    )
    g = f.groupby("cell").agg(yellow=("yellow", "sum"), cap=("cap", "first"))
    over = int((g["yellow"] > g["cap"]).sum())
    check(crit, f"(school, month) cells over capacity + red, of {len(g)}", over, "0", over == 0)
    y = test["label"].to_numpy() == 1
    listed = np.isin(tier, ["red", "yellow"])
    rec = float(allrows.loc["red+yellow", "recall"])
    check(crit, f"recall of red+yellow per student-month >= the current list's ({current['rows']:.3f})", rec,
          ">= current", rec >= current["rows"])  # fmt: skip
    sid = test["student_id"].astype("str").to_numpy()
    caught = pd.Series(listed[y]).groupby(sid[y]).any()
    check(crit, f"recall per dropout (on a list at least once, {len(caught)} dropouts; current list "
          f"{current['dropouts']:.3f})", float(caught.mean()), "(shown)", None)  # fmt: skip
    check(crit, "recall per student-month against the issue's 0.80", rec, "(shown)", None)
    return crit, table


def current_list(test: pd.DataFrame, p: np.ndarray, cap: int) -> dict:
    """The list before the tiers: each school's top ``cap`` by risk on each as-of date (ties shared
    at the cut-off, as in ``training.metrics.at_capacity``); its recall per student-month and per
    dropout (the chance of being listed at least once)."""
    w = inclusion(p, cells(test), lambda n: min(n, cap))
    y = test["label"].to_numpy() == 1
    sid = test["student_id"].astype("str").to_numpy()
    missed = pd.Series(np.log1p(-np.minimum(w[y], 1 - 1e-12))).groupby(sid[y]).sum()
    return {"rows": float(w[y].sum() / y.sum()), "dropouts": float((1 - np.exp(missed)).mean()),
            "share": float(w.mean())}  # fmt: skip


def part_a(data: pd.DataFrame, cfg: BaoxueConfig, truth: pd.DataFrame | None):
    """The evaluation, the per-tier table of the test year and its criteria, before and after."""
    cap = cfg.risk.capacity_per_school
    report = evaluate(data, cfg.train, truth=truth, capacity=cap, absence_share=cfg.rules.chronic_absence_share,
                      rule_columns=rule_columns(cfg), county=cfg)  # fmt: skip
    test = data.loc[report.design.part(data["as_of"], "test")].reset_index(drop=True)
    bundle = report.bundle
    p = bundle.calibrator.predict_proba(prepare_features(test, list(bundle.features)))[:, 1]
    current = current_list(test, p, cap)
    # the report's recall at capacity is this list's
    assert abs(current["rows"] - report.metrics.loc["lightgbm", f"recall_at_cap{cap}"]) < 1e-9
    current["oracle_rows"] = float(report.metrics.loc["oracle", f"recall_at_cap{cap}"]) if "oracle" in report.metrics.index else np.nan  # fmt: skip
    tier = tier_labels(test, p, report.thresholds, cfg, capacity=cap)
    after, table = _criteria_a(test, tier, cap, cfg, current)
    # the report's table is this one (same model, thresholds and policy)
    pd.testing.assert_frame_equal(table, report.tiers)
    # before: the yellow threshold as every student's own lift (yellow_choice = "student"); there
    # is no prior list in the monthly table, so the hysteresis does not enter here
    old_cfg = replace(cfg, risk=replace(cfg.risk, yellow_choice="student"))
    y = test["label"].to_numpy()
    th_before = choose_thresholds(y, p, trigger_masks(test, cfg), old_cfg.risk, red_rule=rule_flag_mask(test))
    tier_b = tier_labels(test, p, th_before, old_cfg, capacity=cap)
    before, table_b = _criteria_a(test, tier_b, cap, cfg, current)
    # what the per-student floor costs and buys (the tier-lift choice at each floor)
    sens = []
    for floor in (1.0, 1.5, 2.0, 2.5, 3.0):
        rc = replace(cfg.risk, yellow_floor_lift=floor)
        th = choose_thresholds(y, p, trigger_masks(test, cfg), rc, red_rule=rule_flag_mask(test),
                               groups=cells(test), capacity=row_capacity(test, rc, cap))  # fmt: skip
        tt = tier_table(test, tier_labels(test, p, th, replace(cfg, risk=rc), capacity=cap))
        a = tt.loc[tt["month"] == "all"].set_index("tier")
        sens.append({"yellow_floor_lift": floor, "yellow_risk": th.yellow_risk,
                     "yellow x base": th.yellow_risk / th.base_rate, "yellow share": a.loc["yellow", "share"],
                     "yellow lift": a.loc["yellow", "lift"], "red+yellow share": a.loc["red+yellow", "share"],
                     "red+yellow recall": a.loc["red+yellow", "recall"]})  # fmt: skip
    print("\nthe per-student floor of the tier-lift choice (yellow_min_lift 3, capacity as the ceiling):\n")
    print(markdown_table(pd.DataFrame(sens), index=False))
    return report, {"before": table_b, "after": table}, {"before": before, "after": after}, th_before, current


def _mondays(test_dates: list[pd.Timestamp], weeks: int) -> list[dt.date]:
    """``weeks`` consecutive Mondays from the second test month's first Monday (after autumn start)."""
    start = pd.Timestamp(test_dates[1]) if len(test_dates) > 1 else pd.Timestamp(test_dates[0])
    return [d.date() for d in pd.date_range(start, periods=weeks, freq="W-MON")]


def _night_row(night, s: pd.DataFrame, tier: pd.Series, cond: pd.Series, before: pd.Series | None) -> dict:
    row = {
        "night": night,
        "students": len(s),
        **{f"{t}_share": float((tier == t).mean()) for t in ("red", "yellow", "blue")},
        "red+yellow_share": float(tier.isin(["red", "yellow"]).mean()),
        "yellow": int((tier == "yellow").sum()),
        "held": int(cond.astype("str").str.startswith("held").sum()),
    }
    if before is not None:
        for t in ("yellow", "red+yellow"):
            members = ["red", "yellow"] if t == "red+yellow" else [t]
            now = set(tier.index[tier.isin(members)])
            was = set(before.index[before.isin(members)])
            row[f"{t}_entered"] = len(now - was) / len(now) if now else np.nan
            row[f"{t}_left"] = len(was - now) / len(was) if was else np.nan
    return row


def _over_capacity(s: pd.DataFrame, tier: pd.Series) -> int:
    g = pd.DataFrame({"school": s["school_id"], "yellow": tier == "yellow", "capacity": s["capacity"]})
    per_school = g.groupby("school", observed=True).agg(
        yellow=("yellow", "sum"), capacity=("capacity", "first")
    )
    return int((per_school["yellow"] > per_school["capacity"]).sum())


def part_b(tables, bundle, cfg: BaoxueConfig, nights: list[dt.date], th_before, crit: dict):
    """Weekly nights through ``assess_full`` (after) and the same nights' scores under the
    policy of :data:`BEFORE` with its thresholds: churn, shares and capacity of both; context
    codes and reasons of the lists after (the reasons do not depend on the policy)."""
    old_tiers = before_policy()
    snaps: list[pd.DataFrame] = []
    rows: dict[str, list] = {"before": [], "after": []}
    tiers_b: list[pd.Series] = []
    conds_b: list[pd.Series] = []
    problems: list[str] = []
    context_codes = 0
    over_cap = {"before": 0, "after": 0}
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
        tier_a = s["tier"].astype("str")
        over_cap["after"] += _over_capacity(s, tier_a)
        row = _night_row(
            night, s, tier_a, s["tier_condition"], snaps[-2]["tier"].astype("str") if i else None
        )
        rows["after"].append({**row, "seconds": round(time.perf_counter() - t0, 1)})
        # before: the old policy on the same scores, held against its own list of the week before
        trig = trigger_masks(a.features.reindex(s.index), cfg)
        tie = np.array([int(k, 16) for k in s["tie_key"].astype("str")], dtype="uint64")
        prev = (
            None if previous is None else previous.reindex(s.index).to_numpy(dtype="float64", na_value=np.nan)
        )
        t, c = old_tiers(
            s["probability"].to_numpy(dtype="float64"), s["rules"].astype("str").to_numpy() != "",
            s["school_id"].astype("str").to_numpy(), s["capacity"].to_numpy(dtype="float64"), trig, th_before,
            cfg.risk, previous=prev,
            prior_tier=None if not tiers_b else tiers_b[-1].reindex(s.index).to_numpy(),
            prior_condition=None if not conds_b else conds_b[-1].reindex(s.index).to_numpy(), tie=tie,
        )  # fmt: skip
        tb, cb = pd.Series(t, index=s.index).astype("str"), pd.Series(c, index=s.index).astype("str")
        over_cap["before"] += _over_capacity(s, tb)
        rows["before"].append(_night_row(night, s, tb, cb, tiers_b[-1] if tiers_b else None))
        tiers_b.append(tb)
        conds_b.append(cb)
    nightly = {k: pd.DataFrame(v) for k, v in rows.items()}
    for k, n in nightly.items():
        out = crit[k]
        check(out, "weekly nights: red+yellow share, worst night", float(n["red+yellow_share"].max()), "<= 0.15",
              bool(n["red+yellow_share"].max() <= 0.15))  # fmt: skip
        check(out, "weekly nights: blue share, worst night", float(n["blue_share"].max()), "<= 0.10",
              bool(n["blue_share"].max() <= 0.10))  # fmt: skip
        check(out, "weekly nights: (school, night) cells with yellow over the staff capacity", over_cap[k], "0",
              over_cap[k] == 0)  # fmt: skip
    check(crit["after"], f"context codes among reason_codes of {listed_total} listed rows", context_codes, "0",
          context_codes == 0)  # fmt: skip
    check(crit["after"], "reason_problems over every listed student", len(problems), "0", not problems)
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


def side_by_side(crit: dict) -> pd.DataFrame:
    """The criteria before and after in one table (a criterion measured after only: '' before)."""
    after = pd.DataFrame(crit["after"])
    before = pd.DataFrame(crit["before"]).set_index("criterion")
    out = after.rename(columns={"value": "after", "result": "result after"})
    out.insert(1, "before", out["criterion"].map(before["value"]).astype("object").where(
        out["criterion"].isin(before.index), ""))  # fmt: skip
    out["result before"] = out["criterion"].map(before["result"]).fillna("")
    return out[["criterion", "target", "before", "result before", "after", "result after"]]


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
    report, tables_ab, crit, th_before, current = part_a(data, cfg, county.truth["risk_monthly"])
    base = float(data.loc[report.design.part(data["as_of"], "test"), "label"].mean())
    print(f"\n## {args.preset}, {args.students} students, {args.years} years, seed {args.seed}")
    print(f"design {report.design.window()}; {report.counts}")
    for name, t in (("before", th_before), ("after", report.thresholds)):
        print(f"thresholds {name}: red {t.red_risk:.4f}, yellow {t.yellow_risk:.4f} ({t.yellow_risk / base:.2f} x the "
              f"base rate {base:.4f}); trigger lifts {({k: round(v, 2) for k, v in t.trigger_lift.items()})}")  # fmt: skip
    print(f"current list (top {cfg.risk.capacity_per_school} per school and month): {current['share']:.2%} of the "
          f"cohort, recall per student-month {current['rows']:.3f}, per dropout {current['dropouts']:.3f}; the "
          f"oracle's {current['oracle_rows']:.3f} per student-month")  # fmt: skip
    print("\nmodel and baselines on the test year:\n")
    print(markdown_table(report.headline()))
    for name in ("before", "after"):
        table = tables_ab[name]
        print(f"\nper tier, the test year (all months), {name}:\n")
        print(markdown_table(table.loc[table["month"] == "all"].drop(columns="month"), index=False))
        print(f"\nper month, {name}:\n")
        print(
            markdown_table(
                table.loc[table["month"] != "all"].pivot(index="month", columns="tier", values="share")
            )
        )
    print(f"\npart A done at {time.perf_counter() - t0:.0f} s; load average {_load()}")
    if args.weeks:
        dates = sorted(pd.to_datetime(data.loc[report.design.part(data["as_of"], "test"), "as_of"].unique()))
        nights = _mondays(dates, args.weeks)
        nightly = part_b(tables, report.bundle, cfg, nights, th_before, crit)
        for name in ("before", "after"):
            print(f"\nweekly nights {nights[0]}..{nights[-1]}, {name} (each night held against the last):\n")
            print(markdown_table(nightly[name], index=False))
        print("\nweek-to-week churn (mean over the nights), before -> after:")
        for t in ("yellow", "red+yellow"):
            b, a = nightly["before"], nightly["after"]
            print(f"  {t}: new {b[f'{t}_entered'].mean():.3f} -> {a[f'{t}_entered'].mean():.3f}, "
                  f"gone {b[f'{t}_left'].mean():.3f} -> {a[f'{t}_left'].mean():.3f}")  # fmt: skip
        print(f"  yellow students a night: {b['yellow'].mean():.0f} -> {a['yellow'].mean():.0f}")
    print("\n## criteria\n")
    table = side_by_side(crit)
    print(markdown_table(table, index=False))
    for name in ("before", "after"):
        res = table[f"result {name}"]
        print(f"{name}: {(res == 'PASS').sum()} PASS, {(res == 'FAIL').sum()} FAIL")
    print(f"total {time.perf_counter() - t0:.0f} s; load average {_load()}")


if __name__ == "__main__":
    main()
