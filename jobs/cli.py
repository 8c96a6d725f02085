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
    from rich.table import Table

    from jobs.demo import run_demo

    result = run_demo(out, students=students, seed=seed)
    table = Table(title=f"simulated county, loaded through the data contract ({result.data_dir})")
    for col in result.summary.columns:
        table.add_column(str(col))
    for row in result.summary.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console.print(table)
    console.print(f"rejects file: {result.rejects_file}")
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
    from rich.table import Table

    from features.config import load_config
    from features.errors import ConfigError, DataContractError
    from features.load import load_tables, summarize, write_rejects

    try:
        cfg = load_config(config)
        result = load_tables(cfg.data, data_dir)
    except (DataContractError, ConfigError) as exc:
        console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    table = Table(title=f"data contract check: {data_dir}")
    for col in ("table", "read", "loaded", "rejected", "by reason", "dates", "students"):
        table.add_column(col)
    for name, row in summarize(result).iterrows():
        dates = "" if _isna(row.first_date) else f"{row.first_date:%Y-%m-%d} … {row.last_date:%Y-%m-%d}"
        reasons = "\n".join(f"{n} × {r}" for r, n in row.rejected_by_reason.items())
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
    console.print(table)
    default_dir = Path(data_dir) if Path(data_dir).is_dir() else Path(".")
    path = write_rejects(result.rejects, rejects or default_dir / cfg.data.rejects_file)
    console.print(f"rejects file: {path} ({len(result.rejects):,} rows)")


def _isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
