"""What every report needs: its settings, names for rendering, risk bands, open cases, owners."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import Tables, spec
from risk.reporting.labels import ROLE_LABELS, STAGE_LABELS, Language, label

__all__ = ["ReportConfig", "risk_band", "month_period"]

#: case types that mean "out of school" (the ledger 台账 of suspected dropouts and dropouts)
OUT_OF_SCHOOL = ("suspected_dropout", "dropout")
#: statuses that close a case as 劝返销号 (back in school or lawfully placed)
RETURN_STATUSES = ("returned", "placed")

CASE_COLUMNS = tuple(c.name for c in spec("cases").columns)  # the data contract's order
EVENT_COLUMNS = ("event_id", "case_id", "ts", "event_type", "actor_role", "outcome", "next_due")


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """Settings of the reports (defaults; a county may change each one).

    Parameters
    ----------
    risk_bands : tuple of float
        Edges of the percentage bands a calibrated probability is shown in (a list shows a
        band, not a number, so that nobody reads a ranking into the third decimal).
    steady_points : float
        A weekly change smaller than this many percentage points shows as "→".
    top_reasons : int
        Reasons in words shown per student on the weekly list.
    review_days : int
        A plan's first review is this many days after the report date.
    first_contact_days : int
        An open case with no recorded event this many days after it opened is overdue.
    case_age_days : tuple of int
        Edges of the case-age columns of the school summary (days since opened).
    attendance_days : int
        School days shown in the attendance calendar of the 一生一案 sheet.
    waterfall_features : int
        Drivers shown one by one in the waterfall; the rest are summed into one bar.
    """

    risk_bands: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50)
    steady_points: float = 1.0
    top_reasons: int = 3
    review_days: int = 14
    first_contact_days: int = 7
    case_age_days: tuple[int, ...] = (7, 30)
    attendance_days: int = 90
    waterfall_features: int = 8

    def __post_init__(self) -> None:
        bands = list(self.risk_bands)
        if not bands or bands != sorted(bands) or bands[0] <= 0 or bands[-1] >= 1:
            raise ValueError(f"risk_bands must increase strictly inside (0, 1), got {self.risk_bands}")
        for name in ("top_reasons", "review_days", "first_contact_days", "attendance_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def risk_band(probability: float, bands: tuple[float, ...] = ReportConfig().risk_bands) -> str:
    """The band a calibrated probability falls in, as a teacher reads it.

    >>> risk_band(0.03), risk_band(0.12), risk_band(0.7), risk_band(float("nan"))
    ('<5%', '10–25%', '≥50%', '')
    """
    if probability is None or not np.isfinite(probability):
        return ""
    if probability < bands[0]:
        return f"<{_pct(bands[0])}"
    for lo, hi in zip(bands[:-1], bands[1:], strict=True):
        if probability < hi:
            return f"{lo * 100:.0f}–{_pct(hi)}"
    return f"≥{_pct(bands[-1])}"


def month_period(month: str | dt.date | pd.Period) -> pd.Period:
    """A month as a monthly Period.

    >>> month_period("2025-03"), month_period(dt.date(2025, 3, 9))
    (Period('2025-03', 'M'), Period('2025-03', 'M'))
    """
    if isinstance(month, pd.Period):
        return month.asfreq("M")
    try:
        return pd.Period(month, freq="M")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}") from exc


def sid(s: pd.Series) -> pd.Series:
    """Student ids as plain strings (loaded tables carry them as categories)."""
    return s.astype("str")


def names(tables: Tables | None) -> pd.Series:
    """``student_id`` -> name, from ``student_names`` (empty when the table is absent).

    Used only to render reports; never joined into features.
    """
    if tables is None or tables.student_names is None:
        return pd.Series(dtype="str")
    t = tables.student_names
    return pd.Series(t["name"].astype("str").to_numpy(), index=sid(t["student_id"]).to_numpy())


def name_of(ids: pd.Series, tables: Tables | None) -> pd.Series:
    """Names of ``ids``; a student without a name shows as ``(id)``."""
    lookup = names(tables)
    out = ids.map(lookup)
    return out.where(out.notna(), "(" + ids.astype("str") + ")").astype("str")


def empty_cases() -> pd.DataFrame:
    """A ``cases`` frame with no rows."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in CASE_COLUMNS})
    for c in ("opened_at", "closed_at"):
        frame[c] = pd.Series(dtype="datetime64[s]")
    return frame


def empty_events() -> pd.DataFrame:
    """A ``case_events`` frame with no rows."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS})
    for c in ("ts", "next_due"):
        frame[c] = pd.Series(dtype="datetime64[s]")
    return frame


def normalise_cases(cases: pd.DataFrame | None) -> pd.DataFrame:
    """``cases`` with every contract column, ids and codes as strings, dates as datetimes.

    Optional columns that are missing are added empty; the input is not changed.
    """
    if cases is None:
        return empty_cases()
    out = cases.copy()
    for c in CASE_COLUMNS:
        if c not in out.columns:
            out[c] = pd.NA
    if "returned_at" not in out.columns:  # the ledger's extra column: back at school, 销号 proposed
        out["returned_at"] = pd.NaT
    for c in ("opened_at", "closed_at", "returned_at"):
        out[c] = pd.to_datetime(out[c])
    for c in ("case_id", "student_id", "trigger", "case_type", "reason_primary", "reason_secondary"):
        out[c] = out[c].astype("str").where(out[c].notna(), "")
    for c in ("owner_staff_id", "status", "placement", "closure_reason"):
        out[c] = out[c].astype("str").where(out[c].notna(), "")
    out["four_step_stage"] = pd.to_numeric(out["four_step_stage"], errors="coerce").fillna(0).astype("int64")
    return out.reset_index(drop=True)


def normalise_events(events: pd.DataFrame | None) -> pd.DataFrame:
    """``case_events`` with every contract column, codes as strings, dates as datetimes."""
    if events is None:
        return empty_events()
    out = events.copy()
    for c in EVENT_COLUMNS:
        if c not in out.columns:
            out[c] = pd.NA
    for c in ("ts", "next_due"):
        out[c] = pd.to_datetime(out[c])
    for c in ("event_id", "case_id", "event_type", "actor_role", "outcome"):
        out[c] = out[c].astype("str").where(out[c].notna(), "")
    return out.reset_index(drop=True)


def owner_text(staff_ids: pd.Series, tables: Tables | None, language: Language = "zh") -> pd.Series:
    """An owner as "role staff_id" (staff has no names in the contract), '' when none."""
    ids = staff_ids.astype("str").where(staff_ids.notna(), "")
    if tables is None or tables.staff is None:
        return ids
    staff = tables.staff
    roles = pd.Series(
        staff["role"].astype("str").to_numpy(), index=staff["staff_id"].astype("str").to_numpy()
    )
    roles = roles[~roles.index.duplicated()]
    role = ids.map(roles).map(lambda r: label(ROLE_LABELS, r, language) if isinstance(r, str) else "")
    return (role + " " + ids).str.strip().where(ids != "", "")


def stage_text(stage: pd.Series, language: Language = "zh") -> pd.Series:
    """Four-step stage numbers in words."""
    return stage.map(lambda s: label(STAGE_LABELS, s, language) if pd.notna(s) else "")


def open_case_per_student(cases: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The open case of each student on ``as_of`` (the latest opened if several), indexed by student_id."""
    c = cases.loc[(cases["status"] == "open") & (cases["opened_at"] <= as_of)]
    c = c.sort_values(["student_id", "opened_at", "case_id"])
    return c.drop_duplicates("student_id", keep="last").set_index("student_id")


def split_text(text: object, sep: str) -> list[str]:
    """A joined snapshot cell as a list ('' and NaN give [])."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [p.strip() for p in text.split(sep) if p.strip()]


def school_info(tables: Tables | None) -> pd.DataFrame:
    """``school_id`` -> township (from ``schools``; '' when unknown)."""
    if tables is None or tables.schools is None:
        return pd.DataFrame({"township": pd.Series(dtype="str")}, index=pd.Index([], name="school_id"))
    s = tables.schools
    return pd.DataFrame(
        {"township": s["township"].astype("str").where(s["township"].notna(), "").to_numpy()},
        index=pd.Index(s["school_id"].astype("str").to_numpy(), name="school_id"),
    )


def student_at(tables: Tables, ids: pd.Series, days: pd.Series) -> pd.DataFrame:
    """The ``students`` version of each (id, day): school_id, class_id, grade, sex, birth_ym.

    The version in force on the day; the student's first version when the day is before it.
    Row order follows the inputs.
    """
    st = tables.students
    keep = ["student_id", "valid_from", "school_id", "class_id", "grade", "sex", "birth_ym"]
    keep = [c for c in keep if c in st.columns]
    versions = st[keep].copy()
    versions["student_id"] = sid(versions["student_id"])
    versions["valid_from"] = pd.to_datetime(versions["valid_from"]).astype("datetime64[s]")
    versions = versions.sort_values("valid_from")
    query = pd.DataFrame({"student_id": ids.astype("str").to_numpy(), "day": pd.to_datetime(days).to_numpy()})
    query["day"] = query["day"].astype("datetime64[s]")
    query["_row"] = np.arange(len(query))
    known = query.dropna(subset=["day"]).sort_values("day")
    merged = pd.merge_asof(
        known, versions, left_on="day", right_on="valid_from", by="student_id", direction="backward"
    )
    first = versions.drop_duplicates("student_id", keep="first").set_index("student_id")
    out = query[["_row", "student_id"]].merge(
        merged.drop(columns=["day"]), on=["_row", "student_id"], how="left"
    )
    out = out.sort_values("_row").reset_index(drop=True)
    missing = out["school_id"].isna()
    for c in keep[2:]:
        if c in out.columns:
            if missing.any():
                out[c] = out[c].where(~missing, lookup(out["student_id"], first[c]))
    return out.drop(columns=["_row", "valid_from"])


def lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``values`` looked up by ``keys`` (a ``map`` that also works when ``values`` is empty).

    >>> lookup(pd.Series(["b", "z"]), pd.Series([1.5, 2.5], index=["a", "b"])).tolist()
    [2.5, nan]
    """
    values = values[~values.index.duplicated(keep="last")]
    return values.reindex(keys.to_numpy()).set_axis(keys.index)


def closed_as_returned(cases: pd.DataFrame) -> pd.Series:
    """Cases closed because the student is back or placed (劝返销号).

    Contract statuses ``returned`` / ``placed``, or the ledger's ``closed`` with
    ``closure_reason`` returned / placed.
    """
    return cases["status"].isin(RETURN_STATUSES) | (
        cases["status"].eq("closed") & cases["closure_reason"].isin(RETURN_STATUSES)
    )
