"""Every command's --help renders; a fixed choice outside its values is refused (exit 2) by name."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest
import typer
from typer.testing import CliRunner

from jobs.cli import app
from jobs.cli._common import ExplainMode, Language, PresetName, StudentSheets

runner = CliRunner()


def _command_paths(typer_app: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for info in typer_app.registered_commands:
        paths.append((*prefix, info.name or info.callback.__name__.replace("_", "-")))
    for group in typer_app.registered_groups:
        paths += _command_paths(group.typer_instance, (*prefix, group.name))
    return paths


PATHS = _command_paths(app)


def test_every_command_is_found():
    names = {" ".join(p) for p in PATHS}
    assert {"simulate", "demo", "validate", "train", "evaluate", "features", "score", "nightly", "runs",
            "replay-policy", "evaluate-interventions", "db upgrade", "cases list", "cases show", "cases import",
            "report weekly", "report student", "report school", "report monthly"} <= names  # fmt: skip


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "baoxue")
def test_help_renders(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_help_lists_the_choices():
    out = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"}).output
    assert "red|listed|none" in out and "zh|en" in out
    assert "reap_2010|current" in runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"}).output
    assert "[job] model_uri" in runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"}).output


@pytest.mark.parametrize(
    "args, option",
    [
        (["simulate", "--out", "x", "--preset", "reap2010"], "--preset"),
        (["score", "data", "--as-of", "2024-01-01", "--out", "x.parquet", "--explain", "some"], "--explain"),
        (["report", "weekly", "--class", "c1", "--lang", "fr"], "--lang"),
        (["report", "--all", "--students", "everyone"], "--students"),
        (["replay-policy", "--out", "x", "--preset", "2010"], "--preset"),
    ],
)
def test_a_bad_choice_exits_2_and_names_the_option(args, option):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "choose one of" in result.output


def test_the_choices_match_the_library():
    from features.config import RiskConfig
    from features.sim import PRESETS
    from jobs.reports.bundle import write_all
    from risk.reasons import Language as ReasonsLanguage

    assert set(get_args(PresetName)) == set(PRESETS)
    assert get_args(Language) == get_args(ReasonsLanguage)
    assert get_args(get_type_hints(RiskConfig)["explain"]) == get_args(ExplainMode)
    assert get_args(get_type_hints(write_all)["students"]) == get_args(StudentSheets)


def test_an_error_is_one_line_on_stderr_with_exit_2(tmp_path):
    result = runner.invoke(
        app, ["features", str(tmp_path), "--as-of", "20-11-2024", "--out", str(tmp_path / "f")]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
