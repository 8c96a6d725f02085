"""`baoxue train-table`: the recipe on a flat table from the command line (issue 18)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    """400 pupils in 20 schools over 3 years; the outcome follows x (a planted signal)."""
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    school = rng.integers(0, 20, n)
    y = rng.random(n) < 1 / (1 + np.exp(-(2 * x - 2)))
    frame = pd.DataFrame(
        {
            "学号": [f"P{i:04d}" for i in range(n)],
            "x": x,
            "乡镇": np.where(school < 10, "东乡", "西乡"),
            "school": school,
            "year": 2018 + school % 3,
            "out": np.where(y, "Dropout", "Graduate"),
        }
    )
    path = tmp_path_factory.mktemp("table") / "pupils.csv"
    frame.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    return path


def test_json_is_the_last_line_with_model_and_baseline_figures(table_file):
    result = runner.invoke(
        app,
        ["train-table", str(table_file), "--label", "out", "--positive", "Dropout", "--id", "学号",
         "--group", "school", "--drop", "year", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["split"]["kind"] == "grouped" and out["n_rows"] == 400
    keys = ("auc", "pr_auc", "precision_at_5pct", "precision_at_10pct", "recall_at_10pct", "brier", "ece")
    for figures in (out, out["baselines"]["logistic"]):
        assert all(isinstance(figures[k], float) for k in keys)
    assert out["auc"] > 0.7  # the planted signal is found


def test_time_split_and_the_table_output(table_file):
    result = runner.invoke(
        app, ["train-table", str(table_file), "--label", "out", "--positive", "Dropout", "--time", "year"]
    )
    assert result.exit_code == 0, result.output
    assert "lightgbm" in result.stdout and "logistic" in result.stdout and "split: time" in result.stdout


def test_bad_input_exits_2_naming_the_column(table_file):
    result = runner.invoke(app, ["train-table", str(table_file), "--label", "outcome", "--positive", "1"])
    assert result.exit_code == 2
    assert "outcome" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["train-table", str(table_file), "--label", "out", "--positive", "Left"])
    assert result.exit_code == 2 and "Left" in result.output and "Dropout" in result.output
