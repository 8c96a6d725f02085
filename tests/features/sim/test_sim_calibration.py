"""The simulated county against its calibration targets (SIMULATOR.md, the ``reap_2010`` preset):
dropout rates and timing, left-behind and poverty shares, the bottom fifth's risk, the
unobserved share, and an oracle calibrated to the labels it implies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sim import get_preset, simulate_county

pytestmark = pytest.mark.slow  # a 30,000-student county


@pytest.fixture(scope="module")
def big_reap():
    return simulate_county(students=30_000, years=3, seed=3, preset="reap_2010", attendance=False)


def test_dropout_rate_by_grade_band_matches_the_preset(big_reap):
    p = get_preset("reap_2010")
    rates = big_reap.meta["dropout_rate"]
    assert rates["primary_1_5"] == pytest.approx(p.annual_dropout[3], rel=0.35)
    junior = np.mean(p.annual_dropout[7:10])
    assert rates["junior_7_9"] == pytest.approx(junior, rel=0.15)
    assert rates["grade_8"] > rates["grade_7"]
    assert big_reap.meta["noshow_rate_g7"] == pytest.approx(p.noshow_g7, rel=0.35)


def test_dropouts_start_in_the_september_and_spring_windows(big_reap):
    ep = big_reap.truth["episodes"]
    fatal = ep[ep["fatal"] & ~ep["noshow"]]
    # SIMULATOR.md: 35% in autumn weeks 1-3 (plus the 小升初 no-shows), 30% after Spring
    # Festival, 10% of grade 9 in the month before 中考
    meta = big_reap.meta
    assert 0.35 <= meta["share_fatal_autumn_start"] <= 0.55  # no-shows included
    assert 0.20 <= meta["share_fatal_after_festival"] <= 0.38
    assert 0.05 <= meta["share_fatal_pre_zhongkao_g9"] <= 0.20
    assert len(fatal) > 500


def test_left_behind_and_poverty_shares(big_reap):
    p = get_preset("reap_2010")
    assert big_reap.meta["left_behind_share_junior"] == pytest.approx(
        p.left_behind_both + p.left_behind_one, abs=0.04
    )
    assert big_reap.meta["left_behind_both_share_junior"] == pytest.approx(p.left_behind_both, abs=0.03)
    assert big_reap.meta["poverty_share"] == pytest.approx(p.poverty, abs=0.05)


def test_bottom_fifth_of_class_carries_about_three_times_the_risk(big_reap):
    sy = big_reap.truth["student_years"]
    ep = big_reap.truth["episodes"]
    fatal = ep[ep["fatal"] & ~ep["noshow"]][["student_id", "academic_year"]].drop_duplicates()
    sy = sy.merge(fatal.assign(dropped=1), on=["student_id", "academic_year"], how="left").fillna(
        {"dropped": 0}
    )
    junior = sy[sy["grade"] >= 7]
    rr = junior.loc[junior["bottom20"], "dropped"].mean() / junior.loc[~junior["bottom20"], "dropped"].mean()
    assert 2.2 <= rr <= 4.0, rr


def test_unobserved_share_is_reported_and_small(big_reap):
    share = big_reap.meta["unobserved_share"]
    assert 0.05 <= share <= 0.20
    assert big_reap.meta["unobserved_sd"] == pytest.approx(0.5, abs=0.05)


def test_truth_probabilities_match_realised_labels(big_reap):
    """The oracle is calibrated: its mean per as-of date tracks the realised 90-day labels."""
    rm = big_reap.truth["risk_monthly"].copy()
    ep = big_reap.truth["episodes"]
    f = ep[ep["fatal"]][["student_id", "academic_year", "mark_date", "dropout_date"]].copy()
    rm["academic_year"] = rm["as_of"].dt.year - (rm["as_of"].dt.month < 9)
    rm = rm.merge(f, on=["student_id", "academic_year"], how="left")
    mark, drop = pd.to_datetime(rm["mark_date"]), pd.to_datetime(rm["dropout_date"])
    end = rm["as_of"] + pd.Timedelta(days=90)
    rm["y"] = (((mark > rm["as_of"]) & (mark <= end)) | ((drop > rm["as_of"]) & (mark <= end))).astype(float)
    by = rm.groupby("as_of").agg(p=("p_true", "mean"), y=("y", "mean"))
    assert abs(by["p"].sum() - by["y"].sum()) / by["y"].sum() < 0.15
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(rm["y"], rm["p_true"]) > 0.9
