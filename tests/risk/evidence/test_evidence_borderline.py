"""The borderline lottery: winners minus losers, with exact / permutation intervals."""

from __future__ import annotations

import time

import _evidence_synth as synth
import numpy as np
import pandas as pd
import pytest
from conftest import COVERAGE_SEEDS

from risk.evidence import EstimationError, borderline_effect, newcombe_interval


def test_recovers_the_effect_on_a_large_band(seed):
    d = synth.decisions(seed, n_schools=200, band=4)
    r = borderline_effect(d, outcome="outcome_attendance")
    assert r.estimator == "borderline" and r.ci_method.startswith("permutation")
    assert r.n == 200 * 8 and r.n_treated == r.n_control == 800
    assert abs(r.estimate - synth.TAU_ATTENDANCE) < 0.01
    assert abs(r.estimate - synth.TAU_ATTENDANCE) < 4 * r.se  # single seed: no coverage claim
    assert abs(r.diagnostics["score_smd"]) < 0.2  # the lottery balances the score


def test_itt_is_diluted_by_non_compliance_and_wald_undoes_it():
    d = synth.decisions(3, n_schools=400, band=4, compliance=0.7, leak=0.1)
    r = borderline_effect(d, outcome="outcome_attendance")
    # ITT = tau * (0.7 - 0.1) = 0.024
    assert abs(r.estimate - 0.6 * synth.TAU_ATTENDANCE) < 0.006
    assert abs(r.diagnostics["wald"] - synth.TAU_ATTENDANCE) < 0.01
    assert r.diagnostics["compliance"]["assigned_share_in"] == pytest.approx(0.7, abs=0.05)


def test_newcombe_without_strata_and_its_reference_values():
    # Newcombe (1998), method 10, example (a): 56/70 - 48/80
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    d = synth.decisions(1, band=3)
    r = borderline_effect(d, strata=None)
    assert r.ci_method == "newcombe-hybrid-score"
    assert r.ci_low < r.estimate < r.ci_high


def test_the_same_seed_gives_the_same_interval():
    d = synth.decisions(2, band=3)
    a = borderline_effect(d, seed=5)
    b = borderline_effect(d, seed=5)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_no_randomised_students_is_a_clear_error():
    d = synth.decisions(0, band=0)
    with pytest.raises(EstimationError, match=r"decisions\.randomised: no randomised students"):
        borderline_effect(d)
    assert isinstance(EstimationError("x"), ValueError)


def test_one_sided_lottery_and_bad_options():
    d = synth.decisions(0, band=2).assign(selected=True)
    with pytest.raises(EstimationError, match=r"decisions\.selected: all of the .* randomised students"):
        borderline_effect(d)
    d = synth.decisions(0, band=2)
    with pytest.raises(EstimationError, match="newcombe needs a 0/1 outcome"):
        borderline_effect(d, outcome="outcome_attendance", strata=None, ci_method="newcombe")
    with pytest.raises(ValueError, match="ci_method must be"):
        borderline_effect(d, ci_method="exact")  # type: ignore[arg-type]


def test_red_students_in_the_band_are_left_out_with_a_warning():
    d = synth.decisions(0, band=3)
    first = np.flatnonzero(d["randomised"].to_numpy())[0]
    d.loc[first, "tier"] = "red"
    r = borderline_effect(d)
    assert r.n == int(d["randomised"].sum()) - 1
    assert any("red-tier" in w for w in r.warnings)


def test_strata_without_both_arms_are_dropped_and_counted():
    d = synth.decisions(0, band=3)
    lone = d.loc[d["randomised"]].index[:1]
    d = pd.concat([d, d.loc[lone].assign(school_id="lonely")], ignore_index=True)
    r = borderline_effect(d)
    assert r.diagnostics["strata_dropped"] == 1


@pytest.mark.slow
def test_coverage_over_50_seeds():
    """Measured (interval by inverting the permutation test): 0/1 dropout 92% (bias +0.006, mean SE
    0.052); attendance 96% (bias +0.001, SE 0.0065).

    40 schools, band of 3 winners out of 6 per school (240 students), 1000 permutation draws.
    """
    start = time.perf_counter()
    for outcome, truth in (
        ("outcome_dropout", synth.TAU_DROPOUT),
        ("outcome_attendance", synth.TAU_ATTENDANCE),
    ):
        res = [
            borderline_effect(synth.decisions(s, band=3), outcome=outcome, seed=s, n_boot=1000)
            for s in COVERAGE_SEEDS
        ]
        coverage = np.mean([r.covers(truth) for r in res])
        bias = np.mean([r.estimate for r in res]) - truth
        se = np.mean([r.se for r in res])
        print(f"borderline {outcome}: coverage {coverage:.2f}, bias {bias:+.4f}, mean SE {se:.4f}")
        assert coverage >= 0.86, f"coverage {coverage:.2f}"
        assert abs(bias) < 0.3 * se  # unbiased within Monte Carlo error
    print(f"borderline coverage: {time.perf_counter() - start:.1f} s")
