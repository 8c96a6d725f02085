"""``baoxue demo``: the whole loop on the built-in simulated county (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import PresetName, choice, console, summary_table

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for everything the demo writes")] = Path(
        "demo_out"
    ),
    students: Annotated[
        int | None,
        typer.Option(help="students in the simulated county (default: jobs.demo.DEMO_STUDENTS)"),
    ] = None,
    years: Annotated[
        int | None, typer.Option(help="school years simulated (default: jobs.demo.DEMO_YEARS)")
    ] = None,
    preset: Annotated[
        PresetName | None,
        typer.Option(
            parser=choice(PresetName, "preset"), help="calibration preset (default: jobs.demo.DEMO_PRESET)"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="simulation seed (default: jobs.demo.DEMO_SEED)")] = None,
) -> None:
    """The main job on the built-in simulated county (what `make demo` runs)."""
    from jobs import demo as d

    result = d.run_demo(
        out,
        students=d.DEMO_STUDENTS if students is None else students,
        years=d.DEMO_YEARS if years is None else years,
        preset=d.DEMO_PRESET if preset is None else preset,
        seed=d.DEMO_SEED if seed is None else seed,
    )
    console.print(
        summary_table(
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
