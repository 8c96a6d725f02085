"""Lookups the report tests share."""

from __future__ import annotations

from pathlib import Path

from jobs.reports.bundle import ReportInputs, ReportSet


def class_names(inputs: ReportInputs, class_id: str, *, listed: bool = True) -> set[str]:
    """Names of the class's (listed) students."""
    s = inputs.snapshot
    ids = s.loc[(s["class_id"] == class_id) & (s["listed"] | (not listed)), "student_id"]
    names = inputs.tables.student_names
    return set(names.loc[names["student_id"].astype("str").isin(ids), "name"].astype("str"))


def other_names(inputs: ReportInputs, class_id: str) -> set[str]:
    """Names of listed students of other classes that no student of ``class_id`` shares."""
    s = inputs.snapshot
    mine = class_names(inputs, class_id, listed=False)
    ids = s.loc[(s["class_id"] != class_id) & s["listed"], "student_id"]
    names = inputs.tables.student_names
    return set(names.loc[names["student_id"].astype("str").isin(ids), "name"].astype("str")) - mine


def path_of(report_set: ReportSet, name: str) -> Path:
    return next(p for p in report_set.files if p.name == name)
