"""Regression discontinuity at the capacity cut-off (rdrobust)."""

from __future__ import annotations

import time

import _evidence_synth as synth
import numpy as np
import pytest
from conftest import COVERAGE_SEEDS

from risk.evidence import EstimationError, rd_effect, running_variable


def test_sharp_rd_on_ranks_recovers_the_effect(seed):
    d = synth.decisions(seed, n_schools=120)
    r = rd_effect(d, outcome="outcome_attendance")
    assert r.diagnostics["design"] == "sharp"
    assert abs(r.estimate - synth.TAU_ATTENDANCE) < 4 * r.se
    assert r.ci_method.startswith("rdrobust robust bias-corrected")
    assert r.n_treated > 0 and r.n_control > 0 and r.n == r.n_treated + r.n_control


def test_score_running_variable_is_centred_on_each_school_cutoff():
    d = synth.decisions(0)
    x = running_variable(d, "score")
    inside = d["rank_school"] <= d["capacity"]
    assert (x[inside] > 0).all() and (x[~inside] < 0).all()
    r = rd_effect(d, outcome="outcome_attendance", running="score")
    assert "score scale" in r.sample


def test_imperfect_compliance_switches_to_fuzzy_and_reports_the_first_stage():
    d = synth.decisions(1, n_schools=120, compliance=0.8, leak=0.1)
    r = rd_effect(d, outcome="outcome_attendance")
    assert r.diagnostics["design"] == "fuzzy"
    assert r.diagnostics["first_stage_jump"] == pytest.approx(0.7, abs=0.1)
    assert abs(r.estimate - synth.TAU_ATTENDANCE) < 4 * r.se
    with pytest.raises(EstimationError, match=r"decisions\.assigned: \d+ row\(s\) do not follow the cut-off"):
        rd_effect(d, outcome="outcome_attendance", design="sharp")


def test_a_cut_off_that_decides_nothing_gives_no_fuzzy_estimate():
    # support with the same chance on both sides: the first stage is ~0, the ratio is noise
    d = synth.decisions(1, n_schools=120, compliance=0.4, leak=0.4)
    with pytest.raises(EstimationError, match=r"jumps by .* at the cut-off \(under 0\.1\).*no estimate"):
        rd_effect(d, outcome="outcome_attendance")


def test_band_and_rule_rows_are_left_out_by_default():
    d = synth.decisions(2, band=3)
    d.loc[d.index[:5], "rule"] = True
    r = rd_effect(d, outcome="outcome_attendance", treatment="selected")
    assert r.diagnostics["excluded"]["borderline"] == int(d["borderline"].sum())
    assert r.diagnostics["excluded"]["rule"] == int((d["rule"] & ~d["borderline"]).sum())
    assert r.diagnostics["design"] == "sharp"  # outside the band, selection follows the rank exactly


def test_too_few_rows_on_one_side_is_a_clear_error():
    d = synth.decisions(0, n_schools=2, per_school=10)
    with pytest.raises(EstimationError, match=r"decisions\.rank_school: .* need at least 10 on each side"):
        rd_effect(d)


@pytest.mark.slow
def test_coverage_over_50_seeds():
    """Measured: sharp RD on ranks, 60 schools x 60 students: attendance 90% (bias +0.002, SE 0.010).

    Pooled ranks have mass points (integers); rdrobust's robust bias-corrected interval holds.
    """
    start = time.perf_counter()
    res = [rd_effect(synth.decisions(s, n_schools=60), outcome="outcome_attendance") for s in COVERAGE_SEEDS]
    coverage = np.mean([r.covers(synth.TAU_ATTENDANCE) for r in res])
    bias = np.mean([r.estimate for r in res]) - synth.TAU_ATTENDANCE
    se = np.mean([r.se for r in res])
    print(f"rd attendance: coverage {coverage:.2f}, bias {bias:+.4f}, mean SE {se:.4f}")
    print(f"rd coverage: {time.perf_counter() - start:.1f} s")
    assert coverage >= 0.86, f"coverage {coverage:.2f}"
    assert abs(bias) < 0.3 * se
