"""Wiring: read a run's inputs (database or files), build each report, write its files.

Files are named by opaque ids (class, school, student ids), never by names. A full set
(:func:`write_all`) goes into one dated folder with an ``index.html`` to open first::

    reports-2025-03-10/
      index.html
      classes/<class_id>.html, .xlsx         weekly class lists (班主任周报)
      schools/<school_id>.html, .xlsx        school summaries (校长)
      monthly-2025-03.html, .xlsx            county monthly report (月报)
      students/<student_id>.html             一生一案 sheets (red tier by default)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from features.config import RulesConfig
from features.contract import Tables
from jobs.reports import html, xlsx
from risk.reporting import (
    ReportConfig,
    month_period,
    monthly_report,
    school_summary,
    student_plan,
    weekly_class_list,
)
from risk.reporting._common import class_text
from risk.reporting.labels import Language

__all__ = [
    "ReportInputs",
    "ReportSet",
    "inputs_from_db",
    "inputs_from_files",
    "write_weekly",
    "write_school",
    "write_monthly",
    "write_student",
    "write_all",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportInputs:
    """Everything the reports of one run read."""

    snapshot: pd.DataFrame
    tables: Tables
    previous: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    cases: pd.DataFrame | None = None
    case_events: pd.DataFrame | None = None
    interventions: pd.DataFrame | None = None
    contributions: pd.DataFrame | None = None
    config: ReportConfig = field(default_factory=ReportConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)  # [rules]: the words of fired rules

    @property
    def as_of(self) -> pd.Timestamp:
        """The snapshot day."""
        return pd.Timestamp(self.snapshot["as_of"].max())


@dataclass
class ReportSet:
    """Files written by :func:`write_all`."""

    folder: Path
    index: Path
    files: list[Path]
    seconds: dict[str, float]


def _previous_as_of(runs: pd.DataFrame, as_of: pd.Timestamp, days: int = 7) -> pd.Timestamp | None:
    before = runs.loc[runs["as_of"] <= as_of - pd.Timedelta(days=days), "as_of"]
    if before.empty:
        before = runs.loc[runs["as_of"] < as_of, "as_of"]
    return None if before.empty else pd.Timestamp(before.max())


def inputs_from_db(
    engine,
    tables: Tables,
    *,
    as_of: str | None = None,
    history_runs: int = 16,
    rules: RulesConfig | None = None,
) -> ReportInputs:
    """A run's snapshot (latest, or the latest of ``as_of``), last week's, the history and the ledger
    (``rules``: the county's ``[rules]``, for the words of fired rules; defaults when omitted)."""
    from jobs import storage

    snapshot = storage.read_snapshot(engine, as_of=as_of)
    if snapshot.empty:
        raise ValueError("no stored run" + (f" on {as_of}" if as_of else "") + ": run `baoxue nightly` first")
    day = pd.Timestamp(snapshot["as_of"].max())
    runs = storage.read_runs(engine)
    runs = runs.loc[runs["as_of"] <= day]
    prev_day = _previous_as_of(runs, day)
    previous = storage.read_snapshot(engine, as_of=prev_day.date()) if prev_day is not None else None
    keep = ["student_id", "as_of", "probability", "tier"]
    past = runs.loc[runs["as_of"] < day].drop_duplicates("as_of", keep="last").tail(history_runs)
    history = pd.concat(
        [storage.read_snapshot(engine, run_id=r)[keep] for r in past["run_id"]]
        or [pd.DataFrame(columns=keep)],
        ignore_index=True,
    )
    return ReportInputs(
        snapshot=snapshot,
        tables=tables,
        previous=previous,
        history=history,
        cases=storage.read_cases(engine),
        case_events=storage.read_case_events(engine),
        interventions=storage.read_interventions(engine),
        rules=rules or RulesConfig(),
    )


def _read(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, encoding="utf-8-sig")
    if suffix == ".xlsx":
        return pd.read_excel(path)
    raise ValueError(f"{path}: read .parquet, .csv or .xlsx")


def inputs_from_files(
    snapshot: Path,
    tables: Tables,
    *,
    previous: Path | None = None,
    cases: Path | None = None,
    case_events: Path | None = None,
    rules: RulesConfig | None = None,
) -> ReportInputs:
    """Inputs from a snapshot file (``baoxue score``) and optional ledger exports.

    Without ``cases``, the loaded tables' ``cases`` / ``case_events`` / ``interventions`` are used;
    ``rules`` is the county's ``[rules]`` (the words of fired rules; defaults when omitted).
    """
    snap = _read(snapshot)
    assert snap is not None
    snap["as_of"] = pd.to_datetime(snap["as_of"])
    prev = _read(previous)
    return ReportInputs(
        snapshot=snap,
        tables=tables,
        previous=prev,
        history=prev,
        cases=_read(cases) if cases is not None else tables.cases,
        case_events=_read(case_events) if case_events is not None else tables.case_events,
        interventions=tables.interventions,
        rules=rules or RulesConfig(),
    )


def _school_label(inputs: ReportInputs, school_id: str, zh: bool) -> str:
    """The school as its staff know it: its name and township when the schools table has them."""
    schools = getattr(inputs.tables, "schools", None) if inputs.tables is not None else None
    label = school_id
    if schools is not None and len(schools):
        row = schools.loc[schools["school_id"].astype("str") == school_id]
        if len(row):
            r = row.iloc[0]
            name = next((str(r[c]) for c in ("name", "school_name") if c in row and pd.notna(r[c])), "")
            town = str(r["township"]) if "township" in row and pd.notna(r["township"]) else ""
            label = " · ".join(x for x in (name or school_id, town) if x)
    return ("学校 " if zh else "School ") + label


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_weekly(inputs: ReportInputs, class_id: str, out: Path, language: Language = "zh") -> list[Path]:
    """The weekly list of one class: ``out/<class_id>.html`` and ``.xlsx``."""
    return _weekly(inputs, class_id, out, language)[1]


def _weekly(inputs: ReportInputs, class_id: str, out: Path, language: Language):
    """The weekly list of one class and its files (the index counts what the list counts)."""
    wl = weekly_class_list(
        inputs.snapshot, class_id, previous=inputs.previous, cases=inputs.cases,
        case_events=inputs.case_events, tables=inputs.tables, config=inputs.config, rules_config=inputs.rules, language=language,
    )  # fmt: skip
    return wl, [
        _write(out / f"{class_id}.html", html.weekly_html(wl)),
        xlsx.weekly_xlsx(wl, out / f"{class_id}.xlsx"),
    ]


def write_school(
    inputs: ReportInputs, school_id: str, out: Path, language: Language = "zh", month: str | None = None
) -> list[Path]:
    """The summary of one school: ``out/<school_id>.html`` and ``.xlsx``."""
    s = school_summary(
        inputs.snapshot, school_id, cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables,
        month=month, config=inputs.config, language=language,
    )  # fmt: skip
    return [
        _write(out / f"{school_id}.html", html.school_html(s)),
        xlsx.school_xlsx(s, out / f"{school_id}.xlsx"),
    ]


def write_monthly(
    inputs: ReportInputs, month: str | None, out: Path, language: Language = "zh"
) -> list[Path]:
    """The county monthly report: ``out/monthly-YYYY-MM.html`` and ``.xlsx``."""
    period = month_period(month if month is not None else inputs.as_of)
    m = monthly_report(
        period, cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables,
        snapshot=inputs.snapshot, as_of=inputs.as_of, language=language,
    )  # fmt: skip
    stem = f"monthly-{period}"
    return [_write(out / f"{stem}.html", html.monthly_html(m)), xlsx.monthly_xlsx(m, out / f"{stem}.xlsx")]


def write_statistics(
    inputs: ReportInputs,
    day: str | None,
    out: Path,
    language: Language = "zh",
    *,
    days: tuple[int, ...] = (10, 20, 30),
) -> list[Path]:
    """The township's 《新增疑似辍学学生情况统计表》 of the statistics period ending on the latest
    of ``days`` (``[reports] statistics_days``) on or before ``day`` (default: the data date):
    ``out/statistics-YYYY-MM-DD.html`` and ``.xlsx``, the county form with zero-report rows."""
    from risk.reporting.monthly import statistics_window

    start, end = statistics_window(day if day is not None else inputs.as_of, days)
    m = monthly_report(
        end.strftime("%Y-%m"), cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables,
        snapshot=inputs.snapshot, as_of=inputs.as_of, language=language, window=(start, end),
    )  # fmt: skip
    stem = f"statistics-{end:%Y-%m-%d}"
    return [_write(out / f"{stem}.html", html.monthly_html(m)), xlsx.monthly_xlsx(m, out / f"{stem}.xlsx")]


def write_student(
    inputs: ReportInputs,
    student_id: str,
    out: Path,
    language: Language = "zh",
    *,
    show_restricted: bool = False,
) -> list[Path]:
    """The 一生一案 sheet of one student: ``out/<student_id>.html``."""
    contrib = values = None
    base = 0.0
    if inputs.contributions is not None and student_id in inputs.contributions.index:
        row = inputs.contributions.loc[student_id]
        base = float(row.get("expected_value", 0.0))
        contrib = row.drop(labels=["expected_value"], errors="ignore")
    p = student_plan(
        inputs.snapshot, student_id, tables=inputs.tables, history=inputs.history, cases=inputs.cases,
        case_events=inputs.case_events, interventions=inputs.interventions, contributions=contrib,
        feature_values=values, base_value=base, show_restricted=show_restricted, config=inputs.config,
        language=language,
    )  # fmt: skip
    return [_write(out / f"{student_id}.html", html.student_html(p))]


def write_all(
    inputs: ReportInputs,
    out: Path,
    *,
    month: str | None = None,
    language: Language = "zh",
    students: Literal["red", "listed", "none"] = "red",
    statistics_days: tuple[int, ...] = (10, 20, 30),
) -> ReportSet:
    """Every class list and school summary of the run, the monthly report and the 一生一案 sheets.

    Parameters
    ----------
    inputs : ReportInputs
    out : Path
        Parent folder; the set goes into ``out/reports-<as_of>/``.
    month : str, optional
        Month of the monthly report (default: the snapshot's month).
    language : {"zh", "en"}
    students : {"red", "listed", "none"}
        Whose 一生一案 sheet to write.
    statistics_days : tuple of int
        ``[reports] statistics_days``: the statistics table of the period ending on or before
        the data date is written beside the monthly report.
    """
    zh = language == "zh"
    folder = Path(out) / f"reports-{inputs.as_of:%Y-%m-%d}"
    snap = inputs.snapshot
    files: list[Path] = []
    seconds: dict[str, float] = {}
    links: list[tuple[str, list[tuple[str, str]]]] = []

    start = time.perf_counter()
    m = write_monthly(inputs, month, folder, language)
    files += m
    seconds["monthly"] = time.perf_counter() - start
    links.append(("县月报" if zh else "County monthly report", [(p.name, p.name) for p in m]))
    st = write_statistics(inputs, None, folder, language, days=statistics_days)
    files += st
    links.append(("新增疑似辍学学生情况统计表（每月10、20、30日）" if zh and statistics_days == (10, 20, 30)
                  else "新增疑似辍学学生情况统计表" if zh else "New suspected dropouts (statistics period)",
                  [(p.name, p.name) for p in st]))  # fmt: skip

    start = time.perf_counter()
    by_school: dict[str, dict] = {}
    for school in sorted(snap["school_id"].astype("str").unique()):
        written = write_school(inputs, school, folder / "schools", language, month)
        files += written
        by_school[school] = {
            "school_id": school,
            "label": _school_label(inputs, school, zh),
            "summary_label": "学校汇总" if zh else "school summary",
            "links": [(p.suffix.lstrip(".").upper(), f"schools/{p.name}") for p in written],
            "classes": [],
            "students": [],
        }
    seconds["schools"] = time.perf_counter() - start

    start = time.perf_counter()
    for class_id in sorted(snap["class_id"].astype("str").unique()):
        wl, written = _weekly(inputs, class_id, folder / "classes", language)
        files += written
        by_school[wl.school_id]["classes"].append({
            "class_id": class_id,
            "label": wl.class_name or class_id,
            # the counts at the head of that class's list (the same groups, the same students)
            **{t: int(wl.tier_counts.get(t, 0)) for t in ("red", "yellow", "blue")},
            "n": int(wl.class_size),
            "links": [(p.suffix.lstrip(".").upper(), f"classes/{p.name}") for p in written],
        })  # fmt: skip
    seconds["classes"] = time.perf_counter() - start

    start = time.perf_counter()
    if students != "none":
        mask = snap["tier"].astype("str").eq("red") if students == "red" else snap["listed"].astype(bool)
        chosen = snap.loc[mask].sort_values(["school_id", "class_id", "student_id"])
        for sid, school, class_id, grade in (
            chosen[["student_id", "school_id", "class_id", "grade"]].astype("str").itertuples(index=False)
        ):
            written = write_student(inputs, sid, folder / "students", language)
            files += written
            where = class_text(pd.Series([class_id]), inputs.tables, language, pd.Series([grade])).iloc[0]
            by_school[school]["students"] += [(f"{where} · {sid}", f"students/{p.name}") for p in written]
    seconds["students"] = time.perf_counter() - start

    title = f"保学报告 {inputs.as_of:%Y-%m-%d}" if zh else f"baoxue reports {inputs.as_of:%Y-%m-%d}"
    subtitle = (f"{len(files)}个文件；每份名单只发给负责的老师。" if zh
                else f"{len(files)} files; send each list only to the staff responsible.")  # fmt: skip
    index = _write(
        folder / "index.html",
        html.index_html(links, title, subtitle, language, schools=list(by_school.values())),
    )
    log.info("wrote %d report files in %.1f s", len(files), sum(seconds.values()))
    return ReportSet(folder=folder, index=index, files=files, seconds=seconds)
