"""The ``baoxue`` command line (typer). Each command is a few lines that call the library.

One module per command group: :mod:`~jobs.cli.data` (simulate, validate, features),
:mod:`~jobs.cli.demo`, :mod:`~jobs.cli.model` (train, evaluate, promote, score), :mod:`~jobs.cli.table`
(train-table), :mod:`~jobs.cli.nightly` (nightly, db), :mod:`~jobs.cli.runs`, :mod:`~jobs.cli.monitor`, :mod:`~jobs.cli.cases`,
:mod:`~jobs.cli.report`, :mod:`~jobs.cli.users`, :mod:`~jobs.cli.serve` and :mod:`~jobs.cli.evidence` (replay-policy,
evaluate-interventions). :mod:`~jobs.cli._common` holds the shared options, the fixed
choices and the one error path (:func:`~jobs.cli._common.errors`) every command goes through.

Only the CLI decides what "today" is; library code always takes ``as_of``.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from jobs.cli import data, demo, evidence, model, monitor, nightly, serve, table
from jobs.cli._common import App
from jobs.cli.cases import cases_app
from jobs.cli.rehash import db_rehash
from jobs.cli.report import report_app
from jobs.cli.runs import runs_app
from jobs.cli.users import users_app

__all__ = ["app"]

app = App(
    name="baoxue",
    help="保学 baoxue: dropout early warning for compulsory school.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress")] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="keep the traceback of an error (default: one line and an exit code)"),
    ] = False,
) -> None:
    import os

    from jobs.cli._common import DEBUG_ENV
    from jobs.logs import configure

    if debug:
        os.environ[DEBUG_ENV] = "1"
    configure(logging.INFO if verbose or debug else logging.WARNING)


# in the order `baoxue --help` lists them
app.command()(data.simulate)
app.command()(demo.demo)
app.command()(data.validate)
app.command()(model.train)
app.command()(model.evaluate)
app.command("train-table")(table.train_table)
app.command()(model.promote)
app.command()(data.features)
app.command()(model.score)
app.command(busy=nightly.BUSY)(nightly.nightly)
app.add_typer(runs_app, name="runs")
app.command()(monitor.monitor)
app.command("replay-policy")(evidence.replay_policy_cmd)
app.command("evaluate-interventions")(evidence.evaluate_interventions_cmd)
nightly.db_app.command("rehash")(db_rehash)
app.add_typer(nightly.db_app, name="db")
app.add_typer(cases_app, name="cases")
app.add_typer(report_app, name="report")
app.add_typer(users_app, name="users")
app.command()(serve.serve)
