"""assess(): the snapshot of a simulated county, column for column, and what it promises."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.cohort import cohort
from risk.assess import assess, assess_full, empty_snapshot
from risk.snapshot import MEASURES, RULES, SNAPSHOT_COLUMNS, TIERS


@pytest.fixture(scope="module")
def run(county_tables, score_day, risk_bundle, risk_config, day_features):
    return assess_full(county_tables, score_day, risk_bundle, risk_config, features=day_features)


def test_columns_and_dtypes_are_the_contract(run):
    snap = run.snapshot
    assert list(snap.columns) == list(SNAPSHOT_COLUMNS)
    for col, (dtype, _) in SNAPSHOT_COLUMNS.items():
        assert str(snap[col].dtype) == dtype, col
    assert list(empty_snapshot().columns) == list(SNAPSHOT_COLUMNS)


def test_one_row_per_student_in_school(run, county_tables, score_day):
    assert run.snapshot.index.equals(cohort(county_tables, score_day).index)
    assert run.snapshot["student_id"].is_unique


def test_rule_alerts_are_red_and_selected(run):
    snap = run.snapshot
    fired = snap["rules"] != ""
    assert fired.any(), "the simulated day should have some rule alerts"
    assert (snap.loc[fired, "tier"] == "red").all()
    assert snap.loc[fired, "selected"].all()
    assert (snap.loc[fired, "assignment_mechanism"] == "rule").all()
    assert snap.loc[fired, "tier_condition"].str.startswith("rule:").all()
    for evidence, rules in zip(snap.loc[fired, "rule_evidence"], snap.loc[fired, "rules"], strict=True):
        assert [e["rule"] for e in json.loads(evidence)] == rules.split(";")
        assert set(rules.split(";")) <= set(RULES)
    assert snap.loc[fired, "measures"].str.contains("home_visit").all()


def test_capacity_is_a_ceiling_outside_red(run):
    snap = run.snapshot
    yellow_min = snap.loc[snap["tier_condition"].str.startswith("risk>="), "probability"]
    for school, g in snap.groupby("school_id"):
        cap = int(g["capacity"].iloc[0])
        red = int((g["tier"] == "red").sum())
        assert int(g["selected"].sum()) <= max(red, min(cap, len(g))), school
        assert (g["selected"] == g["tier"].isin(["red", "yellow"])).all()
        # a place goes only to a student at or above the yellow threshold (or red)
        yellow = g.loc[g["tier"] == "yellow"]
        assert yellow["tier_condition"].str.match(r"^(risk>=|trigger:|held:)").all(), school
        chosen = g.loc[g["selected"] & (g["tier"] != "red"), "rank_school"]
        left = g.loc[~g["selected"] & (g["tier"] != "red"), "rank_school"]
        if len(chosen) and len(left):  # without a prior list, yellow is the top of the school
            assert chosen.max() < left.min()
    assert len(yellow_min) == 0 or yellow_min.min() > 0


def test_every_listed_student_has_reasons_in_both_languages(run):
    snap = run.snapshot
    assert (snap["listed"] == (snap["tier"].isin(["red", "yellow"]) | snap["selected"])).all()
    listed = snap.loc[snap["listed"]]
    assert listed["explained"].all()
    assert (listed["reasons_zh"] != "").mean() > 0.95
    has = listed["reasons_zh"] != ""
    assert (listed.loc[has, "reasons_en"] != "").all()
    assert (snap.loc[~snap["explained"], "reasons_zh"] == "").all()
    codes = {m for ms in snap["measures"] for m in ms.split(";") if m}
    assert codes <= set(MEASURES)
    assert set(snap["tier"].astype("str")) <= set(TIERS)


def test_ranks_are_dense_and_consistent(run):
    snap = run.snapshot
    assert sorted(snap["rank_county"]) == list(range(1, len(snap) + 1))
    top = snap.sort_values("rank_county")
    assert (np.diff(top["probability"].to_numpy()) <= 0).all()
    for _, g in snap.groupby("class_id"):
        assert sorted(g["rank_class"]) == list(range(1, len(g) + 1))


def test_explain_all_explains_everyone_and_changes_nothing_else(run, county_tables, score_day, risk_bundle,
                                                                risk_config, day_features):  # fmt: skip
    everyone = assess(
        county_tables, score_day, risk_bundle, risk_config, features=day_features, explain="all"
    )
    assert everyone["explained"].all()
    same = [c for c in SNAPSHOT_COLUMNS if c not in ("explained", "reason_codes", "reason_families", "reasons_zh",
                                                      "reasons_en", "protective_zh", "protective_en", "measures",
                                                      "measures_zh", "measures_en")]  # fmt: skip
    pd.testing.assert_frame_equal(everyone[same], run.snapshot[same])
    listed = run.snapshot["listed"]
    pd.testing.assert_series_equal(everyone.loc[listed, "reasons_zh"], run.snapshot.loc[listed, "reasons_zh"])


def test_no_names_in_the_snapshot(run, county_tables):
    names = county_tables.student_names
    assert names is not None and len(names)
    text = "\n".join(run.snapshot.astype("str").to_numpy().ravel())
    assert not any(n in text for n in names["name"].astype("str").head(200))


def test_previous_risk_makes_blue_when_doubled(
    county_tables, score_day, risk_bundle, risk_config, day_features
):
    from dataclasses import replace

    cfg = replace(
        risk_config, risk=replace(risk_config.risk, watched_groups=(), blue_min_risk=0.0, blue_max_share=1.0)
    )
    base = assess(county_tables, score_day, risk_bundle, cfg, features=day_features)
    quiet = base.index[(base["tier"] == "none") & (base["probability"] > 0)]  # 0 doubled is 0
    assert len(quiet) > 100
    previous = base["probability"] / 3
    again = assess(county_tables, score_day, risk_bundle, cfg, features=day_features, previous=previous)
    assert (again.loc[quiet, "tier"] == "blue").all()
    assert (again.loc[quiet, "tier_condition"] == "risk_x2_4w").all()
    steady = assess(
        county_tables, score_day, risk_bundle, cfg, features=day_features, previous=base["probability"]
    )
    assert (steady.loc[quiet, "tier"] == "none").all()
