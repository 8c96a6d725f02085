"""A simulated county with stand-in run inputs, and one rendered report set shared by the
browser and workbook tests (rendered once per session to keep CI short)."""

from __future__ import annotations

import pytest

from features.load import tables_from_frames
from features.sim import simulate_county
from jobs.reports.bundle import ReportInputs, ReportSet, write_all
from risk.reporting._examples import SyntheticRun, synthetic_run

AS_OF = "2024-03-18"


@pytest.fixture(scope="session")
def sim():
    """(tables, run): 600 simulated students over two school years, the run of AS_OF."""
    county = simulate_county(students=600, years=2, seed=3)
    tables = tables_from_frames(county.frames).tables
    run: SyntheticRun = synthetic_run(tables, AS_OF, seed=3)
    return tables, run


@pytest.fixture(scope="session")
def inputs(sim) -> ReportInputs:
    tables, run = sim
    return ReportInputs(
        snapshot=run.snapshot, tables=tables, previous=run.previous, history=run.history, cases=run.cases,
        case_events=run.case_events, interventions=run.interventions, contributions=run.contributions,
    )  # fmt: skip


@pytest.fixture(scope="session")
def report_set(inputs, tmp_path_factory) -> ReportSet:
    """Every report of the run, students' sheets for the red tier only."""
    return write_all(inputs, tmp_path_factory.mktemp("reports"), month="2024-03", students="red")


@pytest.fixture(scope="session")
def busiest_class(inputs) -> str:
    """The class with the most listed students (ties: smallest id)."""
    s = inputs.snapshot
    counts = s.loc[s["listed"]].groupby("class_id").size()
    return str(counts.sort_index().idxmax())
