"""``baoxue simulate``, ``validate`` and ``features``: a county's tables in, checked, as features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import ConfigOpt, PresetName, choice, console, load_county, parse_day, summary_table

__all__ = ["features", "simulate", "validate"]


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write <table>.parquet and truth/ into")],
    students: Annotated[int, typer.Option(help="students enrolled at the start")] = 3000,
    years: Annotated[int, typer.Option(help="school years (>= 3 for temporal validation)")] = 3,
    seed: Annotated[int, typer.Option(help="same seed, same county, byte for byte")] = 0,
    preset: Annotated[
        PresetName, typer.Option(parser=choice(PresetName, "preset"), help="calibration preset")
    ] = "current",
    start_year: Annotated[int | None, typer.Option(help="first school year (default: the preset's)")] = None,
    messy: Annotated[bool, typer.Option("--messy", help="inject the faults real exports have")] = False,
    counties: Annotated[
        int, typer.Option(help="> 1: a province of this many counties (OUT/county=<code>/), STUDENTS in all")
    ] = 1,
) -> None:
    """Simulate a county: every contract table, plus the truth in OUT/truth/."""
    from features.sim import simulate_county, write_county

    if counties > 1:
        from features.sim import simulate_province

        metas = simulate_province(
            out, counties=counties, students=students, years=years, seed=seed, preset=preset,
            start_year=start_year,
        )  # fmt: skip
        console.print(
            f"simulated a province of {len(metas)} counties, {sum(m['students_total'] for m in metas):,} "
            f"students in {sum(m['schools'] for m in metas)} schools -> {out}/county=<code>/",
            markup=False,
        )
        return
    county = simulate_county(
        students=students, years=years, seed=seed, preset=preset, start_year=start_year,
        attendance=messy, messy=messy,
    )  # fmt: skip
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


def validate(
    data_dir: Annotated[
        str, typer.Argument(help="data folder of <table>.parquet|.csv|.xlsx, or a SQLAlchemy URL")
    ],
    config: ConfigOpt = None,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects CSV to write (default DATA_DIR/rejects.csv)")
    ] = None,
) -> None:
    """Load and validate a county's tables: print a summary per table, the sheets read and
    skipped, values set to missing, duplicates repaired and the calendar used, and write the
    rejects file (also when the reject share stops the load)."""
    from features.config import load_config
    from features.load import default_rejects_path, load_tables, summarize, write_rejects

    cfg = load_config(config)
    path = rejects or default_rejects_path(cfg.data, data_dir)
    result = load_tables(cfg.data, data_dir, rejects_path=path)
    console.print(summary_table(summarize(result), f"data contract check: {data_dir}"))
    for line in result.report():
        console.print(line, markup=False)
    path = write_rejects(result.rejects, path)
    console.print(f"rejects file: {path} ({len(result.rejects):,} rows)", markup=False)


def features(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    as_of: Annotated[str, typer.Option("--as-of", help="the date the features describe (YYYY-MM-DD)")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    config: ConfigOpt = None,
) -> None:
    """Write the feature matrix of one as-of date: one row per cohort student, student_id a column."""
    from features.build import build_features

    day = parse_day(as_of)
    cfg, loaded = load_county(data_dir, config)
    frame = build_features(loaded.tables, day, cfg).reset_index()
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(f"{out}: {len(frame):,} students × {frame.shape[1] - 1} features on {day}")
