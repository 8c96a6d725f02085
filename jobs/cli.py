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
) -> None:
    """Simulate a county: every contract table, plus the truth in OUT/truth/."""
    from features.simulate import simulate_county, write_county

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
    for name, path in result.artefacts.items():
        console.print(f"{name}: {path}")


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
) -> None:
    """Fit, calibrate and save the risk model on every labelled month (a joblib bundle)."""
    from features.simulate import read_truth
    from training.bundle import save_bundle
    from training.evaluate import train_tables
    from training.tracking import log_run

    cfg, loaded = _load(data_dir, config)
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
