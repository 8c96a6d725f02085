"""`baoxue validate DATA_DIR`: summary table, rejects file, exit codes."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from jobs.cli import app
from tests.features.conftest import DATA, write_county

runner = CliRunner()


def test_validate_prints_the_summary_and_writes_rejects(tmp_path):
    folder = write_county(tmp_path / "county", exam_results=(DATA / "bad_exam_results.csv").read_text())
    config = tmp_path / "baoxue.toml"
    config.write_text("[data]\nmax_reject_share = 0.9\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(folder), "--config", str(config)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "exam_results" in result.output and "exam_id not in the exams table" in result.output
    rejects = pd.read_csv(folder / "rejects.csv", encoding="utf-8-sig", dtype=str)
    assert rejects["file_row"].tolist() == ["3", "5", "6", "7", "8"]


def test_validate_rejects_option(tmp_path):
    folder = write_county(tmp_path / "county")
    out = tmp_path / "out" / "bad.csv"
    result = runner.invoke(app, ["validate", str(folder), "--rejects", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8-sig").startswith("table,file_row,column,value,reason")


def test_validate_exit_code_2_on_contract_error(tmp_path):
    folder = write_county(tmp_path / "county", registry_events=None)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "required table(s) registry_events missing" in result.output


def test_validate_exit_code_2_on_config_error(tmp_path):
    config = tmp_path / "baoxue.toml"
    config.write_text('[data]\ncolumns = { "性别" = "sexe" }\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(write_county(tmp_path / "c")), "--config", str(config)])
    assert result.exit_code == 2
    assert "did you mean 'sex'?" in result.output
