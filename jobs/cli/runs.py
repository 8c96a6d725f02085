"""``baoxue runs``: the nightly runs of the ledger; ``runs list`` and ``runs void``."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli._common import App, ConfigOpt, DbOpt, config_with_db, console, open_ledger

__all__ = ["runs_app"]

runs_app = App(
    help="Past nightly runs (no subcommand: `runs list`); `runs void` makes a mistaken night harmless.",
    invoke_without_command=True,
)

LastOpt = Annotated[int, typer.Option(help="show the latest N runs")]
AllOpt = Annotated[
    bool, typer.Option("--all", help="every run: superseded, failed and void ones too, with their status")
]


@runs_app.callback()
def _runs(ctx: typer.Context, config: ConfigOpt = None, db: DbOpt = None, last: LastOpt = 20) -> None:
    """Past nightly runs with their counts and timings (the current version of each night)."""
    if ctx.invoked_subcommand is None:
        _show(config, db, last, every=False)


@runs_app.command("list")
def runs_list(config: ConfigOpt = None, db: DbOpt = None, last: LastOpt = 20, every: AllOpt = False) -> None:
    """Past nightly runs with their counts and timings; --all adds superseded, failed and void runs."""
    _show(config, db, last, every=every)


def _show(config, db, last: int, *, every: bool) -> None:
    from rich.table import Table

    from jobs.storage import read_runs

    engine = open_ledger(config_with_db(config, db))
    frame = read_runs(engine, last=last, every=every)
    table = Table(title=f"nightly runs (latest {last}{', every version' if every else ''})")
    cols = {"run_id": "run", "as_of": "as of", "n_students": "students", "n_red": "red", "n_listed": "listed",
            "n_new": "new", "n_cases_opened": "opened", "n_cases_closed": "closed", "n_escalations": "escal.",
            "n_open_cases": "open", "missed_days": "missed", "seconds": "seconds"}  # fmt: skip
    if every:
        cols |= {"status": "status", "supersedes_run_id": "supersedes"}
    for label in cols.values():
        table.add_column(label, overflow="fold")
    for _, r in frame.iterrows():
        table.add_row(*(f"{r[c]:%Y-%m-%d}" if c == "as_of" else f"{r[c]:,.1f}" if c == "seconds"
                        else "" if r[c] is None else str(r[c]) for c in cols))  # fmt: skip
    console.print(table)
    failed = read_runs(engine, last=last, status="failed")
    for _, r in failed.iterrows():  # what went wrong, one line each (the rows hold no snapshot)
        console.print(
            f"failed {r['run_id']} in stage {r['failed_stage']}: {r['error']}",
            markup=False,
            highlight=False,
        )


@runs_app.command("void")
def runs_void(
    run_id: Annotated[str, typer.Argument(help="the run to void (`baoxue runs list --all`)")],
    reason: Annotated[str, typer.Option("--reason", help="why the night is void (kept with the run)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Void a mistaken night: later nights run as if it never ran, reads ignore its snapshot, the
    cases it opened are closed and what it changed on other cases is given back; nothing is deleted."""
    import datetime as dt

    from jobs.void import void_run

    cfg = config_with_db(config, db)
    res = void_run(
        open_ledger(cfg), run_id, reason, now=dt.datetime.now(), lock_timeout_s=cfg.job.lock_timeout_s
    )
    console.print(
        f"run {res.run_id} for {res.as_of} is void: {res.cases_closed} case(s) it opened closed, "
        f"{res.cases_reopened} it closed reopened, {res.timers_restored} date(s) given back; "
        f"its {res.events_kept} event(s) are kept",
        markup=False,
        highlight=False,
    )
