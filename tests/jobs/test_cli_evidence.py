"""`baoxue replay-policy` then `baoxue evaluate-interventions`, as the README runs them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app

pytestmark = pytest.mark.slow  # replay-policy then evaluate-interventions

runner = CliRunner()


@pytest.mark.xfail(
    reason="issue 15's yellow tier is capped by capacity and never filled to it, so the lottery draws only where a school has more eligible students than places: with scarce places (replay places_per_100=1) the band is small and a 900-student county leaves the discontinuity no non-randomised students near the cut-off; the design's bounds must be re-derived for the new policy (follow-up issue)",
    strict=False,
)
def test_replay_then_evaluate_prints_estimates_with_the_truth_and_writes_the_report(tmp_path):
    data = tmp_path / "county"
    res = runner.invoke(
        app, ["replay-policy", "--out", str(data), "--students", "900", "--seed", "2", "--band", "8"]
    )
    assert res.exit_code == 0, res.output
    assert "supports" in res.output and (data / "truth" / "intervention_effects.parquet").exists()

    report = tmp_path / "evidence.html"
    res = runner.invoke(app, ["evaluate-interventions", "--data", str(data), "--out", str(report), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["simulated"] is True
    designs = {(e["estimator"], e["outcome"]) for e in out["estimates"]}
    assert ("borderline", "outcome_dropout") in designs and ("rd", "outcome_dropout") in designs
    assert ("event_study", "attendance") in designs
    for e in out["estimates"]:
        assert e["ci_low"] <= e["estimate"] <= e["ci_high"]
        assert e["true_effect"] is not None and e["n"] > 0
    html = report.read_text(encoding="utf-8")
    assert "forest plot" in html and "data:image/png;base64," in html and "Balance in the lottery" in html

    # a date range with no run is a clear error, not a traceback
    res = runner.invoke(app, ["evaluate-interventions", "--data", str(data), "--from", "2030-01-01", "--out",
                              str(report)])  # fmt: skip
    assert res.exit_code == 2
    assert "no run" in res.output


def test_evaluate_without_snapshots_or_runs_says_what_to_do(tmp_path):
    data = tmp_path / "county"
    assert (
        runner.invoke(app, ["simulate", "--out", str(data), "--students", "300", "--years", "1"]).exit_code
        == 0
    )
    url = f"sqlite:///{tmp_path / 'x.db'}"
    # a ledger that does not exist is refused, not created (issue 19)
    res = runner.invoke(app, ["evaluate-interventions", "--data", str(data), "--db", url])
    assert res.exit_code == 5 and not (tmp_path / "x.db").exists(), res.output
    # an empty ledger: no supports to evaluate, and the command says so
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    res = runner.invoke(app, ["evaluate-interventions", "--data", str(data), "--db", url])
    assert res.exit_code == 2, res.output
    assert "snapshots" in res.output or "interventions" in res.output
