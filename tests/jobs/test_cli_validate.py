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


def test_validate_shows_the_sheets_read_and_skipped_and_the_calendar(tmp_path):
    folder = write_county(tmp_path / "county", registry_events=None)
    with pd.ExcelWriter(folder / "registry_events.xlsx") as xl:
        pd.DataFrame({"student_id": ["a"], "event_date": ["2023-09-01"], "event_type": ["enrol"]}).to_excel(
            xl, sheet_name="秋季", index=False
        )
        pd.DataFrame({"student_id": ["m"], "event_date": ["2023-12-04"], "event_type": ["enrol"]}).to_excel(
            xl, sheet_name="2023-12起", index=False
        )
        pd.DataFrame({"说明": ["导出说明"]}).to_excel(xl, sheet_name="说明", index=False)
    result = runner.invoke(app, ["validate", str(folder)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "registry_events: read sheet '2023-12起' of registry_events.xlsx (1 rows)" in result.output
    assert "registry_events: skipped sheet '说明'" in result.output
    assert "calendar: no calendar table: default calendar (chinesecalendar" in result.output


def test_validate_writes_the_rejects_file_when_the_threshold_stops_it(tmp_path):
    bad = "student_id,date,status\n" + "".join(f"a,2024-09-{d:02d},absent?\n" for d in range(2, 12))
    folder = write_county(tmp_path / "county", attendance=bad)
    result = runner.invoke(app, ["validate", str(folder)], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "rejects.csv" in result.output.replace("\n", "")
    assert len(pd.read_csv(folder / "rejects.csv", encoding="utf-8-sig")) == 10
