"""`baoxue train --negative-sample`: a bad share is a config error (exit 2) naming the key."""

from __future__ import annotations

from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def test_train_refuses_a_bad_negative_sample(tmp_path):
    sim = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--students", "60", "--years", "1"])
    assert sim.exit_code == 0, sim.output
    result = runner.invoke(app, ["train", str(tmp_path), "--negative-sample", "0", "--no-track"])
    assert result.exit_code == 2, result.output
    assert "[train] negative_sample must be in (0, 1], got 0.0" in result.output
