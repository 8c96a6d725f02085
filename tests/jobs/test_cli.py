"""The CLI the way the README runs it: a real subprocess for `baoxue demo`, CliRunner for the rest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


def _baoxue() -> str:
    exe = Path(sys.executable).parent / "baoxue"
    return str(exe) if exe.exists() else shutil.which("baoxue") or "baoxue"


def test_demo_runs_end_to_end_as_the_readme_says(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [_baoxue(), "demo", "--out", str(out), "--students", "600"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "county" / "students.parquet").is_file()
    assert (out / "rejects.csv").is_file()
    assert "students" in proc.stdout
    # the whole loop: nightly ledger, snapshots, and the report set to open first
    assert (out / "ledger.db").is_file()
    assert list(out.glob("risk_snapshot_*.parquet"))
    index = next((out / "reports").glob("reports-*/index.html"))
    assert "open this first" in proc.stdout and str(index.name) in proc.stdout
    assert list(index.parent.glob("classes/*.html")) and list(index.parent.glob("monthly-*.xlsx"))


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
