"""The ``baoxue`` command line (typer). Each command is a few lines that call the library.

Only this module decides what "today" is; library code always takes ``as_of``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="baoxue",
    help="保学 baoxue: dropout early warning for compulsory school.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="baoxue.toml (defaults when absent)")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


# --- commands are added below; keep each one thin -------------------------------------------------


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write <table>.parquet and truth/ into")],
    students: Annotated[int, typer.Option(help="students enrolled at the start")] = 3000,
    years: Annotated[int, typer.Option(help="school years (>= 3 for temporal validation)")] = 3,
    seed: Annotated[int, typer.Option(help="same seed, same county, byte for byte")] = 0,
    preset: Annotated[str, typer.Option(help="calibration preset: reap_2010 or current")] = "current",
    start_year: Annotated[int | None, typer.Option(help="first school year (default: the preset's)")] = None,
    messy: Annotated[bool, typer.Option("--messy", help="inject the faults real exports have")] = False,
    counties: Annotated[
        int, typer.Option(help="> 1: a province of this many counties (OUT/county=<code>/), STUDENTS in all")
    ] = 1,
) -> None:
    """Simulate a county: every contract table, plus the truth in OUT/truth/."""
    from features.simulate import simulate_county, write_county

    if counties > 1:
        from features.sim_province import simulate_province

        try:
            metas = simulate_province(
                out, counties=counties, students=students, years=years, seed=seed, preset=preset,
                start_year=start_year,
            )  # fmt: skip
        except ValueError as exc:
            raise _error(exc) from exc
        console.print(
            f"simulated a province of {len(metas)} counties, {sum(m['students_total'] for m in metas):,} "
            f"students in {sum(m['schools'] for m in metas)} schools -> {out}/county=<code>/",
            markup=False,
        )
        return
    try:
        county = simulate_county(
            students=students, years=years, seed=seed, preset=preset, start_year=start_year,
            attendance=messy, messy=messy,
        )  # fmt: skip
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    rows = write_county(county, out)
    meta = county.meta
    console.print(
        f"simulated {meta['students_total']} students in {meta['schools']} schools, "
        f"{meta['years']} school years from {meta['start_year']} ({meta['preset']}): "
        f"{sum(rows.values()):,} rows in {len(rows)} tables -> {out}"
    )
    if messy:
        console.print(f"messy export: {len(county.faults)} injected faults listed in {out}/truth/faults.csv; "
                      f"load it with --config {out}/baoxue.toml")  # fmt: skip


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for everything the demo writes")] = Path(
        "demo_out"
    ),
    students: Annotated[int, typer.Option(help="students in the simulated county")] = 3000,
    seed: Annotated[int, typer.Option(help="simulation seed")] = 0,
) -> None:
    """The main job on the built-in simulated county (what `make demo` runs)."""
    from jobs.demo import run_demo

    result = run_demo(out, students=students, seed=seed)
    console.print(
        _summary_table(
            result.summary, f"simulated county, loaded through the data contract ({result.data_dir})"
        )
    )
    console.print(f"rejects file: {result.rejects_file}")
    if result.headline is not None:
        console.print("model against the baselines on the last school year (test months):")
        console.print(result.headline.round(3).to_string(), markup=False, highlight=False)
    if result.runs is not None and len(result.runs):
        cols = ["as_of", "n_students", "n_red", "n_listed", "n_cases_opened", "n_cases_closed", "n_escalations",
                "n_returned", "n_open_cases", "missed_days", "seconds"]  # fmt: skip
        console.print("nightly replay (one run per Monday; missed nights caught up):")
        console.print(result.runs[cols].to_string(index=False), markup=False, highlight=False)
    for name, path in result.artefacts.items():
        console.print(f"{name}: {path}", markup=False, highlight=False)


@app.command()
def validate(
    data_dir: Annotated[
        str, typer.Argument(help="data folder of <table>.parquet|.csv|.xlsx, or a SQLAlchemy URL")
    ],
    config: ConfigOpt = None,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects CSV to write (default DATA_DIR/rejects.csv)")
    ] = None,
) -> None:
    """Load and validate a county's tables: print a summary per table and write the rejects file."""
    from features.load import summarize, write_rejects

    cfg, result = _load(data_dir, config)
    console.print(_summary_table(summarize(result), f"data contract check: {data_dir}"))
    default_dir = Path(data_dir) if Path(data_dir).is_dir() else Path(".")
    path = write_rejects(result.rejects, rejects or default_dir / cfg.data.rejects_file)
    console.print(f"rejects file: {path} ({len(result.rejects):,} rows)")


def _isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _error(exc: BaseException) -> typer.Exit:
    """Print a contract, config or argument error as plain text; the command exits with 2."""
    console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _load(data_dir: str, config: Path | None):
    """The config and the loaded county; a contract or config error ends the command (exit 2)."""
    from features.config import load_config
    from features.errors import ConfigError, DataContractError
    from features.load import load_tables

    try:
        cfg = load_config(config)
        return cfg, load_tables(cfg.data, data_dir)
    except (DataContractError, ConfigError) as exc:
        raise _error(exc) from exc


def _summary_table(summary, title: str):
    """The per-table load summary (``features.load.summarize``) as a rich table."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for col in ("table", "read", "loaded", "rejected", "by reason", "dates", "students"):
        table.add_column(col)
    for name, row in summary.iterrows():
        dates = "" if _isna(row.first_date) else f"{row.first_date:%Y-%m-%d} … {row.last_date:%Y-%m-%d}"
        reasons = escape("\n".join(f"{n} × {r}" for r, n in row.rejected_by_reason.items()))
        students = "" if _isna(row.students) else f"{int(row.students):,}"
        table.add_row(
            str(name),
            f"{row.rows_read:,}",
            f"{row.rows_loaded:,}",
            f"{row.rows_rejected:,}",
            reasons,
            dates,
            students,
        )
    return table


@app.command()
def train(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="model bundle to write")] = Path(
        "model/bundle.joblib"
    ),
    evaluate_first: Annotated[
        bool, typer.Option(help="evaluate the recipe on the last school year first")
    ] = True,
    track: Annotated[bool, typer.Option(help="log to MLflow and alias the model 'champion'")] = True,
    negative_sample: Annotated[
        float | None,
        typer.Option(
            help="share of negatives kept (every positive is), at any panel size; 1 = every row "
            "(default: [train] negative_sample above [train] sample_above_rows fit rows)"
        ),
    ] = None,
) -> None:
    """Fit, calibrate and save the risk model on every labelled month (a joblib bundle)."""
    from dataclasses import replace

    from features.simulate import read_truth
    from training.bundle import save_bundle
    from training.pipeline import train_tables
    from training.tracking import log_run

    cfg, loaded = _load(data_dir, config)
    if negative_sample is not None:
        from features.errors import ConfigError

        try:
            train_cfg = replace(cfg.train, negative_sample=negative_sample, sample_above_rows=0)
        except ConfigError as exc:
            raise _error(exc) from exc
        cfg = replace(cfg, train=train_cfg)
    tables = loaded.tables
    bundle, report = train_tables(tables, cfg, truth=read_truth(data_dir), evaluate_first=evaluate_first)
    console.print(f"model bundle: {save_bundle(bundle, out)} (window {bundle.window})")
    if report is not None:
        console.print(report.headline().round(3).to_string())
    if track:
        console.print(f"MLflow run {log_run(bundle, cfg.train, report=report)} -> alias 'champion'")


@app.command()
def evaluate(
    data_dir: Annotated[
        str, typer.Argument(help="data folder (or SQLAlchemy URL); truth/ is used when present")
    ],
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.md and tables")] = Path(
        "evaluation"
    ),
    track: Annotated[bool, typer.Option(help="log the evaluation run to MLflow")] = True,
) -> None:
    """Model against the county rule, logistic regression, school context (and the oracle)."""
    from features.simulate import read_truth
    from training.evaluate import evaluate_tables, write_report
    from training.tracking import log_run

    cfg, loaded = _load(data_dir, config)
    tables = loaded.tables
    report = evaluate_tables(tables, cfg, truth=read_truth(data_dir))
    console.print(report.headline().round(3).to_string())
    console.print(f"report: {write_report(report, out) / 'report.md'}")
    if track:
        console.print(f"MLflow run {log_run(report.bundle, cfg.train, report=report, register=False)}")


@app.command()
def features(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    as_of: Annotated[str, typer.Option("--as-of", help="the date the features describe (YYYY-MM-DD)")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    config: ConfigOpt = None,
) -> None:
    """Write the feature matrix of one as-of date: one row per cohort student, student_id a column."""
    import datetime as dt

    from features.build import build_features

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError as exc:
        raise _error(exc) from exc
    cfg, loaded = _load(data_dir, config)
    frame = build_features(loaded.tables, day, cfg).reset_index()
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(f"{out}: {len(frame):,} students × {frame.shape[1] - 1} features on {day}")


@app.command()
def score(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    as_of: Annotated[str, typer.Option("--as-of", help="the day to score (YYYY-MM-DD)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="snapshot file: .parquet, .csv or .xlsx")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="bundle file or MLflow URI (models:/baoxue@champion); default [job] model_uri",
        ),
    ] = None,
    explain: Annotated[
        str | None, typer.Option("--explain", help="'listed' (default) or 'all': whose reasons to compute")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Score one day: risk, ranks, tier with its condition, rules, reasons (zh, en), measures."""
    import datetime as dt
    import time

    from features.errors import DataContractError
    from risk.assess import assess
    from risk.score import load_model

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError as exc:
        raise _error(exc) from exc
    if explain not in (None, "listed", "all"):
        raise _error(ValueError(f"--explain must be 'listed' or 'all', got {explain!r}"))
    if out.suffix.lower() not in (".parquet", ".csv", ".xlsx"):
        raise _error(ValueError(f"--out {out}: write .parquet, .csv or .xlsx"))
    cfg, loaded = _load(data_dir, config)
    uri = model or cfg.job.model_uri
    if not uri:
        raise _error(ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config"))
    start = time.perf_counter()
    try:
        scoring = load_model(uri, tracking_uri=cfg.train.tracking_uri)
        snap = assess(loaded.tables, day, scoring, cfg, explain=explain)  # type: ignore[arg-type]
    except (DataContractError, FileNotFoundError) as exc:
        raise _error(exc) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = snap.reset_index(drop=True)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    elif out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False, encoding="utf-8-sig")  # Excel opens UTF-8 with a BOM
    else:
        frame.assign(as_of=frame["as_of"].dt.date).to_excel(out, index=False, sheet_name="risk")
    tiers = snap["tier"].value_counts().reindex(["red", "yellow", "blue", "none"]).fillna(0).astype(int)
    console.print(
        f"{out}: {len(snap):,} students on {day} in {time.perf_counter() - start:.1f} s; "
        + ", ".join(f"{t} {n:,}" for t, n in tiers.items())
        + f"; {int(snap['selected'].sum()):,} selected for a case, {int(snap['explained'].sum()):,} explained; "
        f"model {scoring.version}",
        markup=False,
        highlight=False,
    )


# --- the nightly job and its ledger (issue 6) ------------------------------------------------------

db_app = typer.Typer(help="The ledger database (runs, risk snapshots, cases).", no_args_is_help=True)
cases_app = typer.Typer(
    help="The case ledger (台账): list, show, import staff updates.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(cases_app, name="cases")

DbOpt = Annotated[str | None, typer.Option("--db", help="ledger database URL (default [job] db_url)")]


def _config(config: Path | None, db: str | None = None):
    from dataclasses import replace

    from features.config import load_config
    from features.errors import ConfigError

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _error(exc) from exc
    return replace(cfg, job=replace(cfg.job, db_url=db)) if db else cfg


def _ledger(cfg):
    from jobs.nightly import open_database

    try:
        return open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    except RuntimeError as exc:
        raise _error(exc) from exc


def _day(text: str | None):
    import datetime as dt

    try:
        return dt.date.today() if text is None else dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _error(exc) from exc


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or migrate the ledger database to the newest schema (Alembic)."""
    from jobs.storage import connect, current_revision, upgrade

    cfg = _config(config, db)
    engine = connect(cfg.job.db_url)
    before = current_revision(engine)
    upgrade(engine)
    console.print(
        f"database {engine.url.render_as_string()}: {before or 'empty'} -> {current_revision(engine)}"
    )


@app.command()
def nightly(
    config: ConfigOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the night's date (default: today)")] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="data folder or URL (default: the config's data source)")
    ] = None,
    db: DbOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="bundle file or MLflow URI ([job] model_uri)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="a province: rerun only the counties that failed that night")
    ] = False,
) -> None:
    """The nightly run: load, features, score, rules, tiers, diff, snapshot, cases, run record.

    One transaction: a failure leaves the database as it was. The same night twice does nothing
    the second time. A second run started meanwhile waits for the lock, then stops (exit 3).
    A province folder (county=<code>/) runs every county ([compute] engine), one ledger and one
    transaction per county; exit 1 when a county failed (rerun those with --resume).
    """
    from dataclasses import replace

    from features.errors import ConfigError, DataContractError
    from jobs.nightly import InjectedFault, LockTimeout, run_nightly

    day = _day(as_of)
    cfg = _config(config, db)
    if model:
        cfg = replace(cfg, job=replace(cfg.job, model_uri=model))
    if not cfg.job.model_uri:
        raise _error(ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config"))
    from features.province import county_partitions

    try:
        province = county_partitions(data or cfg.data.source)
    except (DataContractError, ValueError) as exc:
        raise _error(exc) from exc
    if province:
        _nightly_province(cfg, day, data, resume)
        return
    if resume:
        raise _error(ValueError("--resume is for a province folder (county=<code>/ partitions)"))
    engine = _ledger(cfg)
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
    except LockTimeout as exc:
        console.print(
            f"another nightly run is writing to this database ({exc}); this one stops", markup=False
        )
        raise typer.Exit(3) from exc
    except (DataContractError, ConfigError, FileNotFoundError, ValueError) as exc:
        raise _error(exc) from exc
    except InjectedFault as exc:
        console.print(f"stopped: {exc}; the database is unchanged", markup=False)
        raise typer.Exit(1) from exc
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
    from features.errors import ConfigError, DataContractError
    from jobs.nightly import InjectedFault
    from jobs.province import run_province

    def on_county(code: str, o) -> None:
        c = o.counts
        what = o.error if o.status == "failed" else f"{c.get('n_students', 0):,} students, " \
            f"{c.get('n_cases_opened', 0):,} cases opened, {sum(o.stage_seconds.values()):.1f} s"  # fmt: skip
        console.print(f"  county {code}: {o.status} {what if o.status != 'skipped' else ''}", markup=False)

    try:
        result = run_province(cfg, day, source=data, resume=resume, on_county=on_county)
    except (DataContractError, ConfigError, FileNotFoundError, ValueError, InjectedFault) as exc:
        raise _error(exc) from exc
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


@app.command()
def runs(
    config: ConfigOpt = None,
    db: DbOpt = None,
    last: Annotated[int, typer.Option(help="show the latest N runs")] = 20,
) -> None:
    """Past nightly runs with their counts and timings."""
    from rich.table import Table

    from jobs.storage import read_runs

    frame = read_runs(_ledger(_config(config, db)), last=last)
    table = Table(title=f"nightly runs (latest {last})")
    cols = {"run_id": "run", "as_of": "as of", "n_students": "students", "n_red": "red", "n_listed": "listed",
            "n_new": "new", "n_cases_opened": "opened", "n_cases_closed": "closed", "n_escalations": "escal.",
            "n_open_cases": "open", "missed_days": "missed", "seconds": "seconds"}  # fmt: skip
    for label in cols.values():
        table.add_column(label)
    for _, r in frame.iterrows():
        table.add_row(*(f"{r[c]:%Y-%m-%d}" if c == "as_of" else f"{r[c]:,.1f}" if c == "seconds" else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)


@cases_app.command("list")
def cases_list(
    config: ConfigOpt = None,
    db: DbOpt = None,
    school: Annotated[str | None, typer.Option(help="school_id")] = None,
    class_id: Annotated[str | None, typer.Option("--class", help="class_id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="closed cases too")] = False,
) -> None:
    """The ledger of a school or class: open cases (with --all, every case)."""
    from rich.table import Table

    from jobs.storage import read_cases

    if school is None and class_id is None:
        raise _error(ValueError("name a --school or a --class: lists go only to the staff responsible"))
    frame = read_cases(_ledger(_config(config, db)), school_id=school, class_id=class_id, open_only=not all_)
    table = Table(title=f"cases: {school or ''} {class_id or ''} ({len(frame)})")
    cols = ["case_id", "student_id", "case_type", "trigger", "opened_at", "owner_staff_id", "four_step_stage",
            "status", "tier_last", "last_seen"]  # fmt: skip
    for c in cols:
        table.add_column(c)
    for _, r in frame.iterrows():
        table.add_row(*("" if _isna(r[c]) else f"{r[c]:%Y-%m-%d}" if "_at" in c or c == "last_seen" else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)


@cases_app.command("show")
def cases_show(
    case_id: Annotated[str, typer.Argument(help="the case's id")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """One case and its history (events in order)."""
    from rich.table import Table

    from jobs.storage import read_case_events, read_cases

    engine = _ledger(_config(config, db))
    cases = read_cases(engine)
    if case_id not in set(cases["case_id"]):
        raise _error(ValueError(f"no case {case_id!r} in the ledger (see `baoxue cases list`)"))
    case = cases.set_index("case_id").loc[case_id]
    for k, v in case.items():
        if not _isna(v):
            console.print(f"{k}: {v}", markup=False, highlight=False)
    table = Table(title="history")
    cols = ["ts", "event_type", "source", "actor_role", "outcome", "four_step_stage", "owner_staff_id", "next_due",
            "detail"]  # fmt: skip
    for c in cols:
        table.add_column(c)
    for _, r in read_case_events(engine, case_id=case_id).iterrows():
        table.add_row(*("" if _isna(r[c]) else f"{r[c]:%Y-%m-%d}" if c in ("ts", "next_due") else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)


@cases_app.command("import")
def cases_import(
    file: Annotated[Path, typer.Argument(help="staff updates, CSV or XLSX (case_id, ts, event_type, ...)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the import's date (default: today)")] = None,
    rejects: Annotated[Path | None, typer.Option(help="rejects CSV (default FILE.rejects.csv)")] = None,
) -> None:
    """Import staff updates (home visits, outcomes, steps, placements, closing) as case events."""
    from features.errors import DataContractError
    from jobs.ledger import import_updates
    from jobs.storage import LockTimeout

    day = _day(as_of)
    cfg = _config(config, db)
    engine = _ledger(cfg)
    try:
        res = import_updates(
            engine, file, as_of=day, rejects_file=rejects, lock_timeout_s=cfg.job.lock_timeout_s
        )
    except DataContractError as exc:
        raise _error(exc) from exc
    except LockTimeout as exc:
        console.print(f"the database is busy ({exc}); try again", markup=False)
        raise typer.Exit(3) from exc
    n_bad = res.rejects["file_row"].nunique() if len(res.rejects) else 0
    console.print(
        f"{file}: {res.rows} rows; imported {res.imported}, imported before {res.already}, rejected {n_bad} "
        f"(rejects file: {res.rejects_file})",
        markup=False,
        highlight=False,
    )


# --- baoxue report: the reports people use (issue 7) ----------------------------------------------

report_app = typer.Typer(
    help="Reports: weekly class list, 一生一案, school summary, county monthly report (HTML + XLSX).",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(report_app, name="report")

DataOpt = Annotated[
    str | None, typer.Option("--data", help="data folder or URL (default: the config's data source)")
]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the run's date (default: the latest run)")]
SnapOpt = Annotated[
    Path | None,
    typer.Option("--snapshot", help="a snapshot file from `baoxue score` instead of the database"),
]
CasesOpt = Annotated[Path | None, typer.Option("--cases", help="with --snapshot: a cases CSV/XLSX/Parquet")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="folder to write into")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh (default) or en")]


def _report_inputs(config, db, data, as_of, snapshot, cases):
    """Tables from the data source, the run from the ledger database (or a snapshot file)."""
    from jobs.reports.bundle import inputs_from_db, inputs_from_files

    cfg = _config(config, db)
    _, loaded = _load(data or cfg.data.source, config)
    try:
        if snapshot is not None:
            return inputs_from_files(snapshot, loaded.tables, cases=cases)
        return inputs_from_db(_ledger(cfg), loaded.tables, as_of=as_of)
    except (ValueError, FileNotFoundError) as exc:
        raise _error(exc) from exc


def _lang(text: str):
    if text not in ("zh", "en"):
        raise _error(ValueError(f"--lang must be zh or en, got {text!r}"))
    return text


def _written(paths) -> None:
    for p in paths:
        console.print(str(p), markup=False, highlight=False)


@report_app.callback()
def report_main(
    ctx: typer.Context,
    all_: Annotated[
        bool, typer.Option("--all", help="every class and school of the run into a dated folder")
    ] = False,
    out: OutOpt = Path("reports"),
    month: Annotated[str | None, typer.Option("--month", help="monthly report month (YYYY-MM)")] = None,
    students: Annotated[str, typer.Option(help="一生一案 sheets for: red, listed or none")] = "red",
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """`baoxue report --all` writes the whole set; the subcommands write one report each."""
    if ctx.invoked_subcommand is not None:
        return
    if not all_:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    from jobs.reports.bundle import write_all

    if students not in ("red", "listed", "none"):
        raise _error(ValueError(f"--students must be red, listed or none, got {students!r}"))
    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    res = write_all(inputs, out, month=month, language=_lang(lang), students=students)  # type: ignore[arg-type]
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items())
    console.print(f"{len(res.files)} files in {res.folder} ({secs}); open first: {res.index}", markup=False)


@report_app.command("weekly")
def report_weekly(
    class_id: Annotated[str, typer.Option("--class", help="the class's class_id")],
    out: OutOpt = Path("reports"),
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The head teacher's weekly list of one class (HTML + XLSX)."""
    from jobs.reports.bundle import write_weekly

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    try:
        _written(write_weekly(inputs, class_id, out, _lang(lang)))
    except ValueError as exc:
        raise _error(exc) from exc


@report_app.command("student")
def report_student(
    student_id: Annotated[str, typer.Argument(help="the student's student_id")],
    out: OutOpt = Path("reports"),
    restricted: Annotated[
        bool, typer.Option(help="include restricted fields (authorised roles only)")
    ] = False,
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """One student's 一生一案 sheet (HTML with charts)."""
    from jobs.reports.bundle import write_student

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    try:
        _written(write_student(inputs, student_id, out, _lang(lang), show_restricted=restricted))
    except ValueError as exc:
        raise _error(exc) from exc


@report_app.command("school")
def report_school(
    school_id: Annotated[str, typer.Argument(help="the school's school_id")],
    out: OutOpt = Path("reports"),
    month: Annotated[str | None, typer.Option("--month", help="month whose returns are listed")] = None,
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The principal's school summary (HTML + XLSX)."""
    from jobs.reports.bundle import write_school

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    try:
        _written(write_school(inputs, school_id, out, _lang(lang), month))
    except ValueError as exc:
        raise _error(exc) from exc


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="the month reported, YYYY-MM")],
    out: OutOpt = Path("reports"),
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The county monthly report 月报 by township and school, with zero-report rows (HTML + XLSX)."""
    from jobs.reports.bundle import write_monthly

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    try:
        _written(write_monthly(inputs, month, out, _lang(lang)))
    except ValueError as exc:
        raise _error(exc) from exc


# --- evidence: what the supports achieved -------------------------------------------------------


@app.command("replay-policy")
def replay_policy_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the county, snapshots.parquet and truth/")
    ],
    students: Annotated[int, typer.Option(help="students in the simulated county")] = 3000,
    years: Annotated[int, typer.Option(help="school years; the policy runs in the last one")] = 2,
    seed: Annotated[int, typer.Option(help="county, lottery and effect seed")] = 0,
    preset: Annotated[
        str, typer.Option(help="reap_2010 (more dropouts to learn from) or current")
    ] = "reap_2010",
    band: Annotated[
        int, typer.Option(help="ranks either side of each school's cut-off decided by lottery")
    ] = 5,
    config: ConfigOpt = None,
) -> None:
    """Simulate a county, run the job's policy on it with the borderline lottery on, and apply
    the true intervention effects (truth/intervention_effects.parquet)."""
    from features.load import tables_from_frames
    from features.simulate import simulate_county
    from risk.evidence.replay import replay_policy, write_replay
    from training.pipeline import train_tables

    cfg = _config(config)
    try:
        neighbour = simulate_county(students=students, years=years, seed=seed + 10_000, preset=preset)
        county = simulate_county(students=students, years=years, seed=seed, preset=preset)
    except ValueError as exc:
        raise _error(exc) from exc
    with console.status("training the job's model on a neighbouring simulated county"):
        bundle, _ = train_tables(tables_from_frames(neighbour.frames).tables, cfg, evaluate_first=False)
    with console.status("replaying the policy"):
        rep = replay_policy(county, bundle, config=cfg, borderline_band=band, seed=seed)
    rows = write_replay(rep, county, out)
    iv = rep.frames["interventions"]
    console.print(
        f"policy replayed on {rep.meta['decision_dates']}: {len(iv):,} supports "
        f"({', '.join(f'{k} {v}' for k, v in iv['assignment_mechanism'].value_counts().items())}), "
        f"{rep.meta['n_averted']} dropouts averted, {rep.meta['n_returned_after_visit']} of "
        f"{rep.meta['n_home_visits']} suspected dropouts back after a home visit; {sum(rows.values()):,} rows -> {out}",
        markup=False,
        highlight=False,
    )
    console.print(f"next: baoxue evaluate-interventions --data {out}", markup=False, highlight=False)


@app.command("evaluate-interventions")
def evaluate_interventions_cmd(
    data: DataOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    snapshots: Annotated[
        Path | None,
        typer.Option(
            "--snapshots", help="snapshot file(s) instead of the database (default DATA/snapshots.parquet)"
        ),
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="first run date (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last run date (YYYY-MM-DD)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML report")] = Path("evidence_report.html"),
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object instead of the table")
    ] = False,
    seed: Annotated[int, typer.Option(help="bootstrap / permutation / cross-fitting seed")] = 0,
) -> None:
    """Estimate what the supports achieved (lottery, discontinuity, doubly robust, event study, subgroups)."""
    import warnings

    import pandas as pd

    from jobs.reports.evidence import write_evidence_report
    from risk.evidence import EstimationError
    from risk.evidence.evaluate import (
        evaluate_interventions,
        evaluation_decisions,
        event_panel,
        read_snapshots,
    )

    cfg = _config(config, db)
    source = data or cfg.data.source
    _, loaded = _load(source, config)
    folder = Path(str(source))
    snap_file = snapshots or (
        folder / "snapshots.parquet" if (folder / "snapshots.parquet").exists() else None
    )
    if snap_file is not None:
        snaps = read_snapshots(snap_file)
    else:
        from jobs.storage import read_runs, read_snapshot

        engine = _ledger(cfg)
        runs = read_runs(engine)
        snaps = (
            pd.concat([read_snapshot(engine, run_id=r) for r in runs["run_id"]], ignore_index=True)
            if len(runs)
            else pd.DataFrame()
        )
    if not len(snaps):
        raise _error(ValueError("no risk snapshots: run the nightly job first, or pass --snapshots"))
    truth_file = folder / "truth" / "intervention_effects.parquet"
    truth = pd.read_parquet(truth_file) if truth_file.exists() else None
    weeks_file = folder / "truth" / "home_visit_weeks.parquet"
    visit_weeks = pd.read_parquet(weeks_file) if weeks_file.exists() else None
    first, last = (_day(text) if text else None for text in (start, end))
    try:
        decisions, notes = evaluation_decisions(snaps, loaded.tables, cfg, start=first, end=last, truth=truth)
        try:
            panel = event_panel(loaded.tables, start=first, end=last, seed=seed)
        except EstimationError as exc:
            panel, notes = None, [*notes, f"event study: {exc}"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate_interventions(decisions, panel=panel, visit_weeks=visit_weeks, seed=seed)
    except (EstimationError, ValueError) as exc:
        raise _error(exc) from exc
    ev.notes = notes + ev.notes
    path = write_evidence_report(ev, out)
    if as_json:
        print(ev.to_json())
        return
    cols = ["estimator", "intervention_type", "outcome", "estimate", "ci_low", "ci_high", "n", "n_treated"]
    if ev.simulated:
        cols += ["true_effect", "covers"]
    typer.echo(ev.table[cols].round(4).to_string(index=False))
    for n in ev.notes:
        console.print(f"- {n}", markup=False, highlight=False)
    console.print(f"report: {path}", markup=False, highlight=False)
