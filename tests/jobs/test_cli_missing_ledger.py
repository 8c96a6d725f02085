"""A command that reads the ledger never creates one (issue 19: `baoxue runs` without --db
silently created ./baoxue.db): a SQLite file that does not exist is one line and exit 5, and
nothing is written; `baoxue db upgrade` creates a ledger on purpose."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jobs.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [["runs"], ["cases", "list", "--school", "s1"], ["cases", "show", "C1"], ["users", "list"]],
    ids=["runs", "cases list", "cases show", "users list"],
)
def test_reading_a_missing_ledger_is_exit_5_and_creates_nothing(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)  # the default [job] db_url: ./baoxue.db
    assert res.exit_code == 5, res.output
    assert "no ledger at baoxue.db" in res.output and "baoxue db upgrade" in res.output
    assert len(res.output.strip().splitlines()) <= 3  # one message, no traceback
    assert not (tmp_path / "baoxue.db").exists()
    explicit = runner.invoke(app, [*args, "--db", f"sqlite:///{tmp_path / 'typo.db'}"])
    assert explicit.exit_code == 5 and not (tmp_path / "typo.db").exists()


def test_db_upgrade_creates_the_ledger_that_runs_then_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "baoxue.db").exists()
    res = runner.invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
