"""``baoxue nightly`` and ``db``: the nightly job and its ledger database (``runs``: :mod:`jobs.cli.runs`)."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli._common import App, ConfigOpt, DbOpt, config_with_db, console, open_ledger, parse_day

__all__ = ["BUSY", "db_app", "nightly"]

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
    replace_night: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="redo the night with tonight's inputs (a corrected export, a retrained model): a new "
            "version supersedes the night's current one and fires its rules again; no event is deleted",
        ),
    ] = False,
    accept_stale: Annotated[
        bool,
        typer.Option(
            "--accept-stale",
            help="run on an empty, stale or thin export anyway (recorded in the run: runs.stale_override)",
        ),
    ] = False,
    force_date: Annotated[
        bool,
        typer.Option("--force-date", help="run a night after today or after the data's last day plus one"),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="validate every row of the export again and rebuild the validated store (a night "
            "otherwise validates only new or changed rows, with the same result)",
        ),
    ] = False,
) -> None:
    """The nightly run: load, features, score, rules, tiers, diff, snapshot, cases, run record.

    One transaction: a failure leaves the database as it was. The same night with the same inputs
    (the model's and the data's content) does nothing the second time; with other inputs it stops
    (exit 2) until --replace. An empty, stale or thin export stops the night (exit 4) until
    --accept-stale; a date after today or after the data's last day plus one stops it (exit 2)
    until --force-date. A second run started meanwhile waits for the lock, then stops (exit 3).
    A province folder (county=<code>/) runs every county (\\[compute] engine), one ledger and one
    transaction per county; exit 1 when a county failed (rerun those with --resume).
    """
    import datetime as dt
    from dataclasses import replace

    from features.province import county_partitions
    from jobs.nightly import run_nightly

    if log_json:
        import logging

        from jobs.logs import configure

        configure(min(logging.getLogger().getEffectiveLevel(), logging.INFO), json=True)
    day = parse_day(as_of)
    if day > dt.date.today() and not force_date:
        raise ValueError(
            f"--as-of {day} is after today ({dt.date.today()}): a night in the future would block "
            "every night before it. Check the date, or pass --force-date"
        )
    cfg = config_with_db(config, db)
    if model:
        cfg = replace(cfg, job=replace(cfg.job, model_uri=model))
    if not cfg.job.model_uri:
        raise ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config")
    if county_partitions(data or cfg.data.source):
        if replace_night or accept_stale or force_date or full:
            raise ValueError("--replace, --accept-stale, --force-date and --full are for one county's folder")
        _nightly_province(cfg, day, data, resume)
        return
    if resume:
        raise ValueError("--resume is for a province folder (county=<code>/ partitions)")
    engine = open_ledger(cfg, create=True)
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
        result = run_nightly(
            cfg,
            day,
            engine=engine,
            source=data,
            on_stage=on_stage,
            replace=replace_night,
            accept_stale=accept_stale,
            force_date=force_date,
            full=full,
        )
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
    if result.supersedes_run_id:
        console.print(f"it supersedes run {result.supersedes_run_id} (kept, no longer read)", markup=False)
    if result.stale_override:
        console.print("warning: run on a stale or incomplete export (--accept-stale, recorded)", markup=False)
    if c["n_unowned"]:
        console.print(f"warning: {c['n_unowned']} new cases have no owner: add staff to the staff table")
    for line in result.store_lines:
        console.print(line, markup=False, highlight=False)
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
