"""The monitor's acceptance on simulated counties (issue 17): a stale model ends in
``retrain``; with no intervention effects, realised precision per tier falls inside the
interval the model expects.

Both are slow (a model trained, five or six nights scored on a 1,500-student county).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pytest

from features.config import BaoxueConfig
from features.sim import simulate_county, write_county

pytestmark = pytest.mark.slow

SMALL = {"n_estimators": 30, "num_leaves": 7, "max_depth": 4, "min_child_samples": 20}


def test_a_reap_2010_model_monitored_on_the_current_preset_ends_in_retrain(tmp_path):
    """Trained where 3% of pupils drop out a year, serving where 0.3% do: the precision at
    capacity says retrain (ECE alone would not: it is 0.01). Before the monotone constraints
    (issue 15) calibration in the large said so too; with them the transferred model's O/E
    interval is no longer wholly outside [0.5, 2], so that reason is not required."""
    from features.load import load_tables
    from jobs.monitor import run_monitor
    from jobs.nightly import run_nightly
    from jobs.storage import connect, upgrade
    from training.pipeline import train_tables

    old = simulate_county(
        students=600, years=2, seed=11, preset="reap_2010", start_year=2022, attendance=False
    )
    write_county(old, tmp_path / "reap")
    cfg = BaoxueConfig()
    cfg = replace(
        cfg, train=replace(cfg.train, **SMALL, valid_months=2), job=replace(cfg.job, out_dir=str(tmp_path))
    )
    bundle, _ = train_tables(load_tables(cfg.data, tmp_path / "reap").tables, cfg, evaluate_first=True)
    assert bundle.metrics["precision_at_cap10"] > 0
    new = simulate_county(
        students=1500, years=2, seed=12, preset="current", start_year=2022, attendance=False
    )
    write_county(new, tmp_path / "current")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = connect(url)
    upgrade(engine)
    for night in (dt.date(2023, 10, 9), dt.date(2023, 11, 13), dt.date(2023, 12, 11), dt.date(2024, 1, 8),
                  dt.date(2024, 3, 11)):  # fmt: skip
        run_nightly(cfg, night, engine=engine, source=tmp_path / "current", model=bundle)
    engine.dispose()
    r = run_monitor(url, tmp_path / "current", config=cfg, model=bundle)
    assert len(r.judged) == 5
    assert r.status == "retrain", r.reasons
    assert any("precision at capacity below the evaluation" in x for x in r.reasons)
    assert not any("new school year" in x for x in r.reasons)  # the model is not old, it is wrong
    assert r.calibration.overall_ece < r.thresholds.max_ece


def test_with_no_intervention_effects_realised_precision_is_inside_the_expected_interval():
    """The simulated county's own outcomes (nothing the lists trigger changes them: the
    intervention effects are zero), scored monthly over its last school year by a model
    trained on a neighbouring county. Pooled over the nights, each tier's realised precision
    lies inside the expected figure's 95% interval (a child's nights counted as one), and
    observed / expected dropouts is compatible with 1.

    Seed 21 is the one checked here. Blue is the tight tier: 3 dropouts in 36 rows, exactly the
    exact interval's upper end, for an expected 0.9 (0.024 a row). Before the order-keeping
    calibration and the features of change (issue 18) it held 4 in 31, above it: the model
    under-rates the 0.02-0.04 band that blue's "risk doubled" children land in
    (benchmarks/blue_tier.py, RESULTS.md "Blue tier"), and it still does, less.
    """
    from features.load import tables_from_frames
    from risk.assess import assess
    from risk.monitoring import monitor
    from training.pipeline import train_tables

    cfg = BaoxueConfig()
    cfg = replace(cfg, train=replace(cfg.train, **{**SMALL, "n_estimators": 60}))
    neighbour = simulate_county(students=1500, years=3, seed=10_021, preset="reap_2010", start_year=2021)
    bundle, _ = train_tables(tables_from_frames(neighbour.frames).tables, cfg, evaluate_first=False)
    county = simulate_county(students=1500, years=3, seed=21, preset="reap_2010", start_year=2021)
    tables = tables_from_frames(county.frames).tables
    nights = [dt.date(2023, 9, 11), dt.date(2023, 10, 9), dt.date(2023, 11, 6), dt.date(2023, 12, 4),
              dt.date(2024, 1, 8), dt.date(2024, 3, 4)]  # fmt: skip
    snaps, previous = [], None
    for night in nights:
        snap = assess(tables, night, bundle, cfg, previous=previous)
        previous = snap["probability"]
        snaps.append(snap.reset_index(drop="student_id" in snap.columns))
    r = monitor(
        pd.concat(snaps, ignore_index=True), tables, as_of=dt.date(2024, 7, 20), train_config=cfg.train
    )
    assert [d.date() for d in r.judged] == nights
    s = r.quality.summary.set_index("tier")
    for tier in ("list", "red", "yellow", "blue", "capacity"):
        row = s.loc[tier]
        assert row["n"] >= 20 and row["dropouts"] > 0, tier  # the exact interval holds for short lists
        assert row["expected_low"] <= row["precision"] <= row["expected_high"], (tier, row.to_dict())
    oe = r.calibration.by_month.set_index("month").loc["all"]
    assert oe["oe_low"] <= 1 <= oe["oe_high"]
