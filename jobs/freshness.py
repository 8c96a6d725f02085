"""Is tonight's export fresh and complete? The checks a night passes before it writes.

An empty or stale export used to become a successful night: nobody absent, no rule fired, no
missed day caught up, and the night could not be redone. :func:`check_inputs` looks at the
loaded tables before the night computes anything:

- **empty**: a required table (:data:`features.contract.REQUIRED_TABLES`) with no row;
- **stale**: a school whose attendance does not reach the night: its first school day without
  a row (by the school calendar, :func:`features.time.school_days`: weekends and holidays never
  count) lies ``[data] max_staleness_days`` calendar days or more before the night; a school with
  enrolled students and no attendance row in the window is stale too;
- **incomplete**: a school whose latest school days (up to its last attendance day) hold fewer
  than ``[data] min_rows_share`` of its usual attendance rows per school day (the median of the
  school days before them, at least :data:`MIN_BASELINE_DAYS` of them).

The findings name the table and the schools. :func:`jobs.nightly.compute_night` raises
:class:`StaleInputError` on any (exit code 4) unless the night is run with ``--accept-stale``,
which the run records (``runs.stale_override``, :func:`override_record`).

:func:`check_as_of` refuses a night dated after the export's last date plus one (the latest
dated row of any table, :func:`last_data_date`: a mistyped year would commit a night that
blocks every later one); ``--force-date`` skips it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.contract import REQUIRED_TABLES, TABLES
from features.time import day_numbers, school_days
from jobs.exits import StaleInput

__all__ = [
    "Finding",
    "StaleInputError",
    "WINDOW_DAYS",
    "RECENT_DAYS",
    "MIN_BASELINE_DAYS",
    "check_inputs",
    "check_as_of",
    "last_data_date",
    "override_record",
]

#: calendar days before the night that the checks look at
WINDOW_DAYS = 60
#: the latest school days (up to a school's last attendance day) compared with its usual rows
RECENT_DAYS = 3
#: school days of history a school needs before its rows per day are judged
MIN_BASELINE_DAYS = 5
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Finding:
    """One problem of tonight's input: ``problem`` is empty, stale or incomplete."""

    table: str
    problem: str
    schools: tuple[str, ...]
    detail: str

    def message(self) -> str:
        shown = ", ".join(self.schools[:20]) + (
            f" and {len(self.schools) - 20} more" if len(self.schools) > 20 else ""
        )
        where = f" at {len(self.schools)} school(s): {shown}" if self.schools else ""
        return f"{self.table} is {self.problem}{where} ({self.detail})"


class StaleInputError(StaleInput):
    """Tonight's input is empty, stale or incomplete (:func:`check_inputs`); the CLI exits 4."""

    def __init__(self, findings: list[Finding], as_of: dt.date):
        self.findings = list(findings)
        lines = "; ".join(f.message() for f in self.findings)
        super().__init__(
            f"the input of the night {as_of} is stale or incomplete: {lines}. Nothing was written; "
            "fix the export and run again, or pass --accept-stale to run on it anyway (recorded)"
        )


def _day(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(n))


def _student_schools(students: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Each student's school on ``as_of`` (the latest row starting on or before it)."""
    if students is None or students.empty:
        return pd.Series([], dtype="str")
    frame = students[["student_id", "school_id", "valid_from"]].copy()
    if "valid_to" in students:
        frame["valid_to"] = students["valid_to"]
    start = pd.to_datetime(frame["valid_from"])
    keep = start.isna() | (start <= pd.Timestamp(as_of))
    if "valid_to" in frame:
        end = pd.to_datetime(frame["valid_to"])
        keep &= end.isna() | (end >= pd.Timestamp(as_of))
    frame = frame.loc[keep].assign(_start=start[keep]).sort_values("_start", kind="stable")
    last = frame.drop_duplicates("student_id", keep="last")
    return pd.Series(
        last["school_id"].astype("str").to_numpy(), index=last["student_id"].astype("str").to_numpy()
    )


def last_data_date(tables) -> tuple[dt.date, str] | None:
    """The export's last date and the table that holds it: the latest known date
    (``TableSpec.known_date``: attendance days, calendar days, exam dates, registry events…) of
    any loaded table; ``None``: no dated row. The school calendar usually runs to the end of
    the term, so an attendance feed that lags is stale input (:func:`check_inputs`), not a
    wrong date."""
    best: tuple[dt.date, str] | None = None
    for name, spec in TABLES.items():
        frame = getattr(tables, name, None)
        col = spec.known_date
        if (
            col is None
            or frame is None
            or not isinstance(frame, pd.DataFrame)
            or col not in frame
            or frame.empty
        ):
            continue
        top = pd.to_datetime(frame[col], errors="coerce").max()
        if pd.notna(top) and (best is None or top.date() > best[0]):
            best = (pd.Timestamp(top).date(), name)
    return best


def check_as_of(tables, as_of: dt.date) -> None:
    """Refuse (``ValueError``, exit 2) a night after the export's last date plus one
    (:func:`last_data_date`): a mistyped year would commit a night that blocks every later one."""
    last = last_data_date(tables)
    if last is not None and as_of > last[0] + dt.timedelta(days=1):
        raise ValueError(
            f"--as-of {as_of} is after the data's last date ({last[0]}, in {last[1]}) plus one: a night "
            "that far ahead would block every night before it. Check the date, or pass --force-date"
        )


def check_inputs(
    tables,
    as_of: dt.date,
    *,
    max_staleness_days: int = 3,
    min_rows_share: float = 0.5,
    required: tuple[str, ...] = REQUIRED_TABLES,
) -> list[Finding]:
    """The problems of tonight's input (empty: nothing wrong). See the module docstring."""
    findings: list[Finding] = []
    empty = [name for name in required if getattr(tables, name, None) is None or getattr(tables, name).empty]
    for name in empty:
        findings.append(Finding(name, "empty", (), "the table has no row"))
    if "attendance" in empty or "students" in empty or "attendance" not in required:
        return findings
    findings += _attendance_findings(tables, as_of, max_staleness_days, min_rows_share)
    return findings


def _attendance_findings(tables, as_of: dt.date, max_staleness_days: int, share: float) -> list[Finding]:
    school_of = _student_schools(tables.students, as_of)
    att = tables.attendance
    dates = pd.to_datetime(att["date"])
    start = pd.Timestamp(as_of - dt.timedelta(days=WINDOW_DAYS))
    recent = (dates > start) & (dates <= pd.Timestamp(as_of))
    schools = pd.Index(sorted(set(school_of.unique())), dtype="str")
    if not len(schools):
        return []
    sd = school_days(getattr(tables, "calendar", None), schools, as_of, history_days=WINDOW_DAYS - 1)
    sid = att.loc[recent, "student_id"]
    if isinstance(sid.dtype, pd.CategoricalDtype):  # the loader's: map the categories once
        per_cat = sd.code_of(
            np.asarray(pd.Index(sid.cat.categories, dtype="str").map(school_of), dtype=object)
        )
        codes = sid.cat.codes.to_numpy()
        code = (
            np.where(codes >= 0, per_cat[np.maximum(codes, 0)], -1)
            if len(per_cat)
            else np.full(len(codes), -1)
        )
    else:
        code = sd.code_of(sid.astype("str").map(school_of).to_numpy(dtype=object))
    day = day_numbers(dates[recent].to_numpy()) - sd.d0
    ok = (code >= 0) & (day >= 0) & (day < sd.n_days)
    counts = np.zeros((len(sd.schools), sd.n_days), dtype="int64")
    np.add.at(counts, (code[ok], day[ok]), 1)
    is_school = sd.table >= 0
    stale: list[str] = []
    stale_detail: list[str] = []
    thin: list[str] = []
    thin_detail: list[str] = []
    for i, school in enumerate(sd.schools):
        with_rows = np.flatnonzero(counts[i] > 0)
        last = int(with_rows[-1]) if len(with_rows) else -1
        missing = np.flatnonzero(is_school[i, last + 1 :]) + last + 1
        if len(missing):
            first_missing = _day(sd.d0 + int(missing[0]))
            if (as_of - first_missing).days >= max_staleness_days:
                stale.append(str(school))
                ends = "no row" if last < 0 else f"ends {_day(sd.d0 + last)}"
                stale_detail.append(f"{school}: {ends}, {len(missing)} school day(s) missing")
        if last < 0:
            continue
        days = np.flatnonzero(is_school[i, : last + 1])
        if len(days) < RECENT_DAYS + MIN_BASELINE_DAYS:
            continue
        latest, before = days[-RECENT_DAYS:], days[:-RECENT_DAYS]
        base = counts[i, before]
        base = base[base > 0]
        if len(base) < MIN_BASELINE_DAYS:
            continue
        usual = float(np.median(base))
        low = [d for d in latest if counts[i, d] < share * usual]
        if low:
            thin.append(str(school))
            shown = ", ".join(f"{_day(sd.d0 + int(d))}: {int(counts[i, d])}" for d in low)
            thin_detail.append(f"{school}: {shown} rows, usually {usual:g} a school day")

    def finding(problem: str, schools: list[str], setting: str, details: list[str]) -> Finding:
        shown = "; ".join(details[:5]) + ("; …" if len(details) > 5 else "")
        return Finding("attendance", problem, tuple(schools), f"[data] {setting}; {shown}")

    out = []
    if stale:
        out.append(finding("stale", stale, f"max_staleness_days = {max_staleness_days}", stale_detail))
    if thin:
        out.append(finding("incomplete", thin, f"min_rows_share = {share:g}", thin_detail))
    return out


def override_record(findings: list[Finding]) -> str | None:
    """``runs.stale_override`` of a night run with ``--accept-stale`` (JSON; ``None``: nothing
    was overridden)."""
    if not findings:
        return None
    return json.dumps({"accepted": [asdict(f) | {"schools": list(f.schools)} for f in findings]})
