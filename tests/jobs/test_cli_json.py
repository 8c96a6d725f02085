"""`baoxue train --json` / `evaluate --json`: one JSON object, the last line of stdout."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()

KEYS = {
    "precision_at_5pct",
    "precision_at_10pct",
    "recall_at_10pct",
    "pr_auc",
    "roc_auc",
    "ece",
    "precision_at_capacity",
    "recall_at_capacity",
}


@pytest.mark.slow
def test_train_json_is_the_last_line_of_stdout(tmp_path):
    data = tmp_path / "county"
    sim = runner.invoke(
        app,
        [
            "simulate",
            "--out",
            str(data),
            "--students",
            "1500",
            "--years",
            "3",
            "--seed",
            "3",
            "--preset",
            "reap_2010",
        ],
    )
    assert sim.exit_code == 0, sim.output
    cfg = tmp_path / "baoxue.toml"  # small trees (a shared machine), a longer calibration period
    cfg.write_text(
        "[train]\nn_estimators = 40\nnum_leaves = 7\nmax_depth = 3\nvalid_months = 5\n", encoding="utf-8"
    )
    args = [
        "train",
        str(data),
        "--json",
        "--no-track",
        "--config",
        str(cfg),
        "--out",
        str(tmp_path / "b.joblib"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    out = json.loads(last)
    assert KEYS <= set(out)
    assert KEYS <= set(out["oracle"])  # simulated: truth/ is there
    assert {"rule", "logistic", "school_context"} <= set(out["baselines"])
    for b in out["baselines"].values():
        assert KEYS <= set(b)
    assert set(out["tiers"]) == {"red", "yellow", "blue", "none"}
    for t in out["tiers"].values():
        assert set(t) == {"share", "precision", "recall", "lift"}
    shares = [t["share"] for t in out["tiers"].values()]
    assert abs(sum(shares) - 1) < 1e-9
    assert out["distinct_probabilities"] > 1
    assert "model bundle" not in result.stdout  # messages go to stderr
    assert "model bundle" in result.stderr
