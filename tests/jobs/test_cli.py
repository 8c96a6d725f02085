"""The CLI through CliRunner (`baoxue demo` as a real subprocess is in test_demo.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def test_simulate_writes_tables_truth_and_meta(tmp_path):
    result = runner.invoke(
        app, ["simulate", "--out", str(tmp_path), "--students", "200", "--years", "1", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "truth" / "meta.json").read_text(encoding="utf-8"))
    assert meta["seed"] == 4 and meta["years"] == 1
    assert (tmp_path / "attendance.parquet").is_file()


def test_simulate_rejects_an_unknown_preset(tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--preset", "reap2010"])
    assert result.exit_code == 2
    assert "unknown preset 'reap2010'" in result.output
