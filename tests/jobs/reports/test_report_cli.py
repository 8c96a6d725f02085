"""`baoxue report ...` on a simulated county folder with a snapshot file and a cases CSV."""

from __future__ import annotations

from typer.testing import CliRunner

from features.load import tables_from_frames
from features.sim import simulate_county, write_county
from jobs.cli import app
from risk.reporting._examples import synthetic_run

runner = CliRunner()


def test_report_commands_write_html_and_xlsx(tmp_path):
    county = simulate_county(students=200, years=1, seed=5, attendance=False)
    data = tmp_path / "county"
    write_county(county, data)
    tables = tables_from_frames(simulate_county(students=200, years=1, seed=5).frames).tables
    run = synthetic_run(tables, "2023-03-13", seed=5)
    snap, cases = tmp_path / "snap.parquet", tmp_path / "cases.csv"
    run.snapshot.to_parquet(snap)
    run.cases.to_csv(cases, index=False)
    common = [
        "--data",
        str(data),
        "--snapshot",
        str(snap),
        "--cases",
        str(cases),
        "--out",
        str(tmp_path / "r"),
    ]
    class_id = str(run.snapshot["class_id"].iloc[0])
    res = runner.invoke(app, ["report", "weekly", "--class", class_id, *common])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / f"{class_id}.html").is_file() and (tmp_path / "r" / f"{class_id}.xlsx").is_file()
    res = runner.invoke(app, ["report", "monthly", "--month", "2023-03", *common])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "monthly-2023-03.xlsx").is_file()
    res = runner.invoke(app, ["report", "statistics", "--day", "2023-03-13", *common])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "statistics-2023-03-10.xlsx").is_file()  # the period 03-01..03-10
    res = runner.invoke(app, ["report", "weekly", "--class", "nope", *common])
    assert res.exit_code == 2 and "class_id 'nope' is not in the snapshot" in res.output
    res = runner.invoke(app, ["report", "--all", "--students", "none", *common])
    assert res.exit_code == 0, res.output
    assert "open first:" in res.output and (tmp_path / "r" / "reports-2023-03-13" / "index.html").is_file()
    assert (tmp_path / "r" / "reports-2023-03-13" / "statistics-2023-03-10.html").is_file()


def test_report_options_given_before_the_subcommand_count(tmp_path, monkeypatch):
    """Issue 19: `baoxue report --data X student S` ignored --data; --as-of 2025/4/21 failed."""
    import jobs.cli.report as report

    def load_county(data, config):  # the data folder the command would load, said in the error
        raise ValueError(f"would load {data}")

    monkeypatch.setattr(report, "load_county", load_county)
    res = runner.invoke(app, ["report", "--data", "/nowhere/county", "--as-of", "2025/4/21", "student", "S1"])
    assert res.exit_code == 2 and "would load /nowhere/county" in res.output
    res = runner.invoke(app, ["report", "--as-of", "2025/4/41", "student", "S1", "--data", "/x"])
    assert res.exit_code == 2 and "not a date" in res.output
