"""Issue 19: ``--help`` shows help texts as written. Rich markup ate config section names
("([compute] engine)" printed as "( engine)") and every flag showed a ``<bool>`` type."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from jobs.cli import app
from jobs.cli._common import App

runner = CliRunner()
WIDE = {"COLUMNS": "250"}
SECTION = re.compile(r"\[[a-z_]+\](?: [a-z_]+)?")


def _tree(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _tree(sub, (*path, name))


TREE = list(_tree(typer.main.get_command(app)))


def _flat(text: str) -> str:
    """The rendered help without rich's box lines and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_the_tree_holds_every_command():
    names = {" ".join(p) for p, _ in TREE}
    assert {"nightly", "runs", "score", "report student", "cases import", "db upgrade", "users add"} <= names


@pytest.mark.parametrize("path, command", TREE, ids=[" ".join(p) or "baoxue" for p, _ in TREE])
def test_help_shows_section_names_and_no_bool_type(path, command):
    result = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    wanted = {m.group(0) for t in texts for m in SECTION.finditer(t.replace("\\[", "["))}
    missing = sorted(w for w in wanted if _flat(w) not in shown)
    assert not missing, f"baoxue {' '.join(path)} --help lost {missing}"
    assert "<bool>" not in result.output


def test_the_commands_that_name_sections_are_checked():
    """The check above is not empty: these help texts name config sections."""
    shown = {
        " ".join(p): _flat(runner.invoke(app, [*p, "--help"], env=WIDE).output)
        for p in (("nightly",), ("score",), ("train",), ("runs",))
    }
    assert "([compute] engine)" in shown["nightly"]
    assert "default [job] model_uri" in shown["score"]
    assert "[train] promote_tolerance" in shown["train"]
    assert "(default [job] db_url)" in shown["runs"]


def test_an_unescaped_section_name_is_shown_as_written():
    """A new command's help need not escape brackets for rich."""
    demo = App(name="x")

    @demo.command()
    def go(
        fast: bool = typer.Option(False, "--fast", help="skip checks ([compute] engine)"),
    ) -> None:
        """Run it; see [job] db_url and [red]not a style[/red]."""

    @demo.callback()
    def main() -> None:
        pass

    out = _flat(runner.invoke(demo, ["go", "--help"], env=WIDE).output)
    assert "([compute] engine)" in out and "see [job] db_url and [red]not a style[/red]." in out
    assert "<bool>" not in out


def test_the_readme_command_table_lists_every_command():
    """Issue 19: nightly, runs, cases, report and db were once missing from the README's table,
    which gave no run time for `make test` either."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`baoxue ([a-z-]+)", table))
    commands = {path[0] for path, _ in TREE if len(path) == 1}
    assert commands - listed == set(), f"README's command table lacks {sorted(commands - listed)}"
    assert "`make test` takes about" in readme and "`make test-fast` skips" in readme
