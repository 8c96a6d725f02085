"""Issue 19: the lottery's p-value and interval come from one test, the forest plot shows
every design, and the report's words agree in number and carry no markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk.evidence import borderline_effect
from risk.evidence._result import EffectEstimate


def _lottery(strata: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """Band students per stratum: (winners, winners with y=1, losers, losers with y=1)."""
    rows = []
    for s, (n_in, x_in, n_out, x_out) in enumerate(strata):
        rows += [
            {"stratum": f"s{s}", "randomised": True, "selected": True, "y": int(i < x_in)}
            for i in range(n_in)
        ]
        rows += [{"stratum": f"s{s}", "randomised": True, "selected": False, "y": int(i < x_out)} for i in range(n_out)]  # fmt: skip
    return pd.DataFrame(rows)


CASES = {
    # one dropout among 66 band students: no lottery outcome is less extreme, p = 1
    "one event": [(3, 0, 3, 0)] * 10 + [(3, 1, 3, 0)],
    "two events": [(2, 0, 5, 0)] * 12 + [(2, 1, 5, 0), (2, 0, 5, 1)],
    # 2 of 20 winners drop out against 10 of 20 losers, in each of 4 schools: -0.4
    "clear": [(20, 2, 20, 10)] * 4,
    "moderate": [(10, 1, 10, 3)] * 5,
    # small schools, where the old interval (a shifted spread) left out 0 while the test's
    # p-value was 0.08 or 0.12
    "small schools": [(2, 1, 4, 2), (5, 0, 6, 2), (7, 0, 7, 3)],
    "three small schools": [(6, 0, 4, 2), (3, 0, 4, 1), (7, 1, 5, 1)],
    "two small schools": [(3, 0, 3, 3), (7, 1, 3, 1)],
}


def _estimate(name: str, seed: int = 0) -> EffectEstimate:
    return borderline_effect(
        _lottery(CASES[name]), outcome="y", treatment="selected", strata="stratum", seed=seed, n_boot=1000
    )


@pytest.mark.parametrize("name", CASES)
def test_the_p_value_and_the_interval_agree(name):
    """p <= 5% exactly when the 95% interval leaves out 0; the interval holds the estimate."""
    r = _estimate(name)
    assert r.ci_method.startswith("permutation")
    assert r.ci_low <= r.estimate <= r.ci_high
    assert (r.p_value <= 0.05) == (not r.ci_low <= 0 <= r.ci_high), (r.p_value, r.ci_low, r.ci_high)


def test_a_clear_effect_has_a_small_p_and_an_interval_away_from_zero():
    r = _estimate("clear")
    assert r.estimate == pytest.approx(-0.4)
    assert r.p_value < 0.01 and r.ci_high < -0.2 and r.ci_low > -0.6


def test_one_event_is_no_evidence_either_way():
    """The case of the demo's p = 1.0: the interval must then hold 0 too (it was [-0.006, 0.067]
    against p = 1.0, the p from the test, the interval from a shifted spread)."""
    r = _estimate("one event")
    assert r.estimate == pytest.approx(1 / 3 / 11)
    assert r.p_value == 1.0 and r.ci_low <= 0 <= r.ci_high


def test_the_p_value_is_the_inverted_interval_at_its_edge():
    """Moving the null to the interval's edge gives p = 5%: the interval is where the test does
    not reject, computed from the same draws."""
    from risk.evidence.borderline import _invert_permutation_test

    rng = np.random.default_rng(3)
    null_t = rng.normal(0, 0.3, 4000)
    null_y = rng.normal(0, 0.05, 4000) + 0.01 * null_t
    p0, lo, hi = _invert_permutation_test(0.12, null_y, null_t, 0.95, binary=False)
    assert p0 < 0.05 and 0 < lo < 0.12 < hi
    shifted_p, _, _ = _invert_permutation_test(0.12 - lo, null_y - lo * null_t, null_t, 0.95, binary=False)
    assert shifted_p == pytest.approx(0.05, abs=0.01)


def test_the_sample_says_strata_once_and_no_backticks():
    r = borderline_effect(
        _lottery(CASES["moderate"]), outcome="y", treatment="selected", strata="stratum", n_boot=200
    )
    assert "in 5 strata with both winners and losers" in r.sample and "stratum strata" not in r.sample
    assert "`" not in r.estimand and "`" not in r.sample
    one = _lottery([(10, 1, 10, 3), (3, 0, 0, 0)])
    r = borderline_effect(one, outcome="y", treatment="selected", strata="stratum", n_boot=200)
    assert "1 stratum without both winners and losers left out" in r.warnings


def test_plural():
    from risk.evidence._result import plural

    assert [plural(n, "estimate") for n in (0, 1, 2)] == ["0 estimates", "1 estimate", "2 estimates"]
    assert plural(1, "stratum") == "1 stratum" and plural(16, "stratum") == "16 strata"


def _row(estimator: str, outcome: str, estimate: float) -> dict:
    return {"estimator": estimator, "intervention_type": "home_visit" if estimator == "event_study" else "case",
            "outcome": outcome, "estimate": estimate, "ci_low": estimate - 0.1, "ci_high": estimate + 0.1,
            "n": 100, "n_treated": 10, "n_control": 90, "p_value": 0.5}  # fmt: skip


def test_the_forest_plot_shows_every_design_the_event_study_too(monkeypatch):
    import jobs.reports.evidence as evidence

    figures = []
    monkeypatch.setattr(evidence, "png_uri", lambda fig: figures.append(fig) or "data:image/png;base64,")
    table = pd.DataFrame(
        [_row("borderline", "outcome_dropout", -0.02), _row("rd", "outcome_attendance", 0.01),
         _row("event_study", "attendance", 0.26)]
    )  # fmt: skip
    evidence.forest_plot(table)
    (fig,) = figures
    titles = [ax.get_title() for ax in fig.axes]
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert titles == ["dropout within 90 days", "share of next 30 school days attended",
                      "share of each week's school days attended"]  # fmt: skip
    assert any(label.startswith("event study") for label in labels)
    assert sum(len(ax.lines) > 0 or len(ax.collections) > 0 for ax in fig.axes) == 3
    # an evaluation with the event study alone (the demo's ledger) still plots it
    figures.clear()
    evidence.forest_plot(table.iloc[[2]])
    assert [ax.get_title() for ax in figures[0].axes] == ["share of each week's school days attended"]


def test_the_subgroup_note_agrees_in_number():
    from risk.evidence.subgroups import effects_by_group

    d = _lottery([(10, 1, 10, 4)] * 6).assign(grp=["a"] * 80 + ["b"] * 40)  # b is too small
    res = effects_by_group(
        borderline_effect, d, by="grp", outcome="y", treatment="selected", strata="stratum",
        n_boot=200, min_rows=50,
    )  # fmt: skip
    assert res.note.startswith("1 estimate from one family"), res.note


def test_an_outcome_not_yet_observed_is_one_note_and_the_others_still_run():
    """The demo's runs are too recent for the 90-day dropout label: the evaluation says so in
    one note and still estimates attendance (it used to stop at the first run)."""
    import _evidence_synth as synth

    from risk.evidence.evaluate import evaluate_interventions

    d = synth.decisions(0, band=3)
    d = d.assign(stratum=d["school_id"], outcome_dropout=np.nan, intervention_mechanism="model_rank")
    ev = evaluate_interventions(d, n_boot=200)
    assert set(ev.table["outcome"]) == {"outcome_attendance"}
    assert "outcome_dropout: not observed for any run yet; no design estimates it" in ev.notes
    assert all("\n" not in n for n in ev.notes)


def test_a_non_finite_discontinuity_is_an_estimation_error_not_a_row(monkeypatch):
    """On the demo's ledger rdrobust returned an estimate of -inf with no interval (a fuzzy
    design whose first stage does not jump), and the table showed it as a result."""
    import types

    import _evidence_synth as synth
    import rdrobust

    from risk.evidence import EstimationError, rd_effect

    def fit(*args, **kwargs):
        frame = pd.DataFrame
        return types.SimpleNamespace(
            coef=frame({"Coeff": [-np.inf]}, index=["Conventional"]),
            ci=frame({"CI Lower": [np.nan], "CI Upper": [np.nan]}, index=["Robust"]),
            se=frame({"Std. Err.": [np.nan]}, index=["Robust"]),
            pv=frame({"P>|z|": [np.nan]}, index=["Robust"]),
            N_h=[413, 431],
            bws=frame({"left": [3.0, 5.0], "right": [3.0, 5.0]}, index=["h", "b"]),
            tau_T=np.array([0.0]),
        )

    monkeypatch.setattr(rdrobust, "rdrobust", fit)
    d = synth.decisions(0, band=0)
    with pytest.raises(
        EstimationError, match="rdrobust gave no finite estimate .*431 inside and 413 outside"
    ):
        rd_effect(d, outcome="outcome_attendance", treatment="selected")
