"""Event study of weekly attendance around a case opening (Sun-Abraham)."""

from __future__ import annotations

import time

import _evidence_synth as synth
import numpy as np
import pytest
from conftest import COVERAGE_SEEDS

from features.errors import DataContractError
from risk.evidence import EstimationError, event_study

SMALL = {"n": 300, "weeks": 24, "leads": 3, "lags": 6}


def test_recovers_dynamic_heterogeneous_effects(seed):
    panel, truth = synth.panel(seed)
    r = event_study(panel)
    assert abs(r.estimate - truth) < 4 * r.se
    coefs = r.diagnostics["coefficients"].set_index("event_week")
    assert coefs.index.tolist() == list(range(-4, 9))
    assert coefs.loc[-1, "estimate"] == 0.0  # the reference week
    # ramp: week 2 onwards is the full effect (scaled by cohort), week 0 a third of it
    assert coefs.loc[0, "estimate"] < coefs.loc[4, "estimate"]
    assert r.diagnostics["pretrend"]["df"] == 3


def test_not_yet_treated_comparison():
    panel, truth = synth.panel(5, share_treated=0.8)
    r = event_study(panel, comparison="not_yet_treated")
    assert abs(r.estimate - truth) < 4 * r.se


def test_without_never_treated_the_weeks_after_the_last_opening_are_dropped():
    panel, _ = synth.panel(5, share_treated=1.0)
    with pytest.raises(EstimationError, match=r"panel\.event_week: every student has a case"):
        event_study(panel)
    r = event_study(panel, comparison="not_yet_treated")
    assert r.diagnostics["weeks_without_comparison"] > 0
    assert any("without any comparison student" in w for w in r.warnings)
    assert np.isfinite(r.estimate)


def test_a_dip_before_opening_fails_the_pretrend_test():
    panel, _ = synth.panel(0, dip=0.05)
    r = event_study(panel)
    assert r.diagnostics["pretrend"]["p_value"] < 0.01
    assert any("pre-trend" in w for w in r.warnings)


def test_integer_weeks_and_input_errors():
    panel, truth = synth.panel(1, **SMALL)
    weeks = ((panel["week"] - panel["week"].min()).dt.days // 7).astype("int64")
    ev = (panel["event_week"] - panel["week"].min()).dt.days // 7
    r = event_study(panel.assign(week=weeks, event_week=ev), leads=3, lags=6)
    assert abs(r.estimate - truth) < 4 * r.se
    with pytest.raises(DataContractError, match=r"panel: duplicated \(student_id, week\) rows"):
        event_study(panel.iloc[[0, 0, 1]])
    with pytest.raises(EstimationError, match=r"panel\.event_week: no student with a case"):
        event_study(panel.assign(event_week=panel["event_week"].iloc[0]))
    with pytest.raises(ValueError, match="reference must be one of the leads"):
        event_study(panel, reference=0)


@pytest.mark.slow
def test_coverage_over_50_seeds():
    """Measured: 300 students x 24 weeks, half with a case, leads 3, lags 6: coverage 94% (bias -0.001, SE 0.007)."""
    start = time.perf_counter()
    cov, errs, ses = [], [], []
    for s in COVERAGE_SEEDS:
        panel, truth = synth.panel(s, **SMALL)
        r = event_study(panel, leads=3, lags=6)
        cov.append(r.covers(truth))
        errs.append(r.estimate - truth)
        ses.append(r.se)
    coverage, bias, se = np.mean(cov), np.mean(errs), np.mean(ses)
    print(f"event study attendance: coverage {coverage:.2f}, bias {bias:+.4f}, mean SE {se:.4f}")
    print(f"event study coverage: {time.perf_counter() - start:.1f} s")
    assert coverage >= 0.86, f"coverage {coverage:.2f}"
    assert abs(bias) < 0.3 * se
