"""``baoxue nightly``, ``runs`` and ``db``: the nightly job and its ledger database."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli._common import App, ConfigOpt, DbOpt, config_with_db, console, open_ledger, parse_day

__all__ = ["BUSY", "db_app", "nightly", "runs"]

db_app = App(help="The ledger database (runs, risk snapshots, cases).", no_args_is_help=True)

#: what a second nightly run says when the first holds the lock
BUSY = "another nightly run is writing to this database ({exc}); this one stops"


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or migrate the ledger database to the newest schema (Alembic)."""
    from jobs.storage import connect, current_revision, upgrade

    cfg = config_with_db(config, db)
    engine = connect(cfg.job.db_url)
    before = current_revision(engine)
    upgrade(engine)
    console.print(
        f"database {engine.url.render_as_string()}: {before or 'empty'} -> {current_revision(engine)}"
    )


def nightly(
    config: ConfigOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the night's date (default: today)")] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="data folder or URL (default: the config's data source)")
    ] = None,
    db: DbOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="bundle file or MLflow URI (\\[job] model_uri)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="a province: rerun only the counties that failed that night")
    ] = False,
    log_json: Annotated[
        bool,
        typer.Option("--log-json", help="log to stderr as JSON lines (ts, level, run_id, stage, message)"),
    ] = False,
) -> None:
    """The nightly run: load, features, score, rules, tiers, diff, snapshot, cases, run record.

    One transaction: a failure leaves the database as it was. The same night twice does nothing
    the second time. A second run started meanwhile waits for the lock, then stops (exit 3).
    A province folder (county=<code>/) runs every county (\\[compute] engine), one ledger and one
    transaction per county; exit 1 when a county failed (rerun those with --resume).
    """
    from dataclasses import replace

    from features.province import county_partitions
    from jobs.nightly import run_nightly

    if log_json:
        import logging

        from jobs.logs import configure

        configure(min(logging.getLogger().getEffectiveLevel(), logging.INFO), json=True)
    day = parse_day(as_of)
    cfg = config_with_db(config, db)
    if model:
        cfg = replace(cfg, job=replace(cfg.job, model_uri=model))
    if not cfg.job.model_uri:
        raise ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config")
    if county_partitions(data or cfg.data.source):
        _nightly_province(cfg, day, data, resume)
        return
    if resume:
        raise ValueError("--resume is for a province folder (county=<code>/ partitions)")
    engine = open_ledger(cfg)
    if console.is_terminal:
        status = console.status(f"nightly run for {day}: load")

        def on_stage(stage: str, seconds: float) -> None:
            console.print(f"  {stage:<9} {seconds:7.1f} s")
            status.update(f"nightly run for {day}: after {stage}")

        status.start()
    else:
        status = None

        def on_stage(stage: str, seconds: float) -> None:
            console.print(f"stage {stage} done in {seconds:.1f} s", markup=False, highlight=False)

    try:
        result = run_nightly(cfg, day, engine=engine, source=data, on_stage=on_stage)
    finally:
        if status is not None:
            status.stop()
    if result.status == "skipped":
        console.print(f"run {result.run_id} for {day} exists already: nothing to do", markup=False)
        return
    c = result.counts
    console.print(
        f"run {result.run_id} for {day}: {c['n_students']:,} students; red {c['n_red']:,}, yellow "
        f"{c['n_yellow']:,}, blue {c['n_blue']:,}; {c['n_rules']:,} with a rule; new on the list {c['n_new']:,}, "
        f"rising {c['n_rising']:,}, left {c['n_left']:,}; cases opened {c['n_cases_opened']:,}, updated "
        f"{c['n_cases_updated']:,}, closed {c['n_cases_closed']:,}, escalations {c['n_escalations']:,}, "
        f"returned {c['n_returned']:,}; {c['n_open_cases']:,} open; missed days caught up {c['missed_days']}; "
        f"{sum(result.stage_seconds.values()):.1f} s",
        markup=False,
        highlight=False,
    )
    if c["n_unowned"]:
        console.print(f"warning: {c['n_unowned']} new cases have no owner: add staff to the staff table")
    console.print(f"rejects file: {result.rejects_file}", markup=False)


def _nightly_province(cfg, day, data: str | None, resume: bool) -> None:
    from jobs.province import run_province

    def on_county(code: str, o) -> None:
        c = o.counts
        what = o.error if o.status == "failed" else f"{c.get('n_students', 0):,} students, " \
            f"{c.get('n_cases_opened', 0):,} cases opened, {sum(o.stage_seconds.values()):.1f} s"  # fmt: skip
        console.print(f"  county {code}: {o.status} {what if o.status != 'skipped' else ''}", markup=False)

    result = run_province(cfg, day, source=data, resume=resume, on_county=on_county)
    n = len(result.counties)
    console.print(
        f"province night {day} ({result.engine}): {n - len(result.failed)} of {n} counties done or "
        f"skipped, ran {len(result.computed)} in {result.seconds:.1f} s; record {result.record_file}",
        markup=False,
    )
    if result.failed:
        console.print(
            f"failed: {', '.join(result.failed)} (their ledgers are unchanged); rerun them with "
            f"`baoxue nightly --resume --as-of {day}`",
            markup=False,
        )
        raise typer.Exit(1)


def runs(
    config: ConfigOpt = None,
    db: DbOpt = None,
    last: Annotated[int, typer.Option(help="show the latest N runs")] = 20,
) -> None:
    """Past nightly runs with their counts and timings."""
    from rich.table import Table

    from jobs.storage import read_runs

    frame = read_runs(open_ledger(config_with_db(config, db)), last=last, status=None)
    table = Table(title=f"nightly runs (latest {last})")
    cols = {"run_id": "run", "as_of": "as of", "n_students": "students", "n_red": "red", "n_listed": "listed",
            "n_new": "new", "n_cases_opened": "opened", "n_cases_closed": "closed", "n_escalations": "escal.",
            "n_open_cases": "open", "missed_days": "missed", "seconds": "seconds", "status": "status"}  # fmt: skip
    for label in cols.values():
        table.add_column(label)
    for _, r in frame.iterrows():
        table.add_row(*(f"{r[c]:%Y-%m-%d}" if c == "as_of" else f"{r[c]:,.1f}" if c == "seconds" else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)
    for _, r in frame[frame["status"] == "failed"].iterrows():  # what went wrong, one line each
        console.print(f"failed {r['run_id']} in stage {r['failed_stage']}: {r['error']}", markup=False)
