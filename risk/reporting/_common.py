"""What every report needs: its settings, names for rendering, the county average, open cases, owners."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import Tables, spec
from features.tiering import WATCHED
from risk.reporting.labels import ROLE_LABELS, STAGE_LABELS, Language, label

__all__ = ["ReportConfig", "county_mean", "month_period"]

#: case types that mean "out of school" (the ledger 台账 of suspected dropouts and dropouts)
OUT_OF_SCHOOL = ("suspected_dropout", "dropout")
#: statuses that close a case as 劝返销号 (back in school or lawfully placed)
RETURN_STATUSES = ("returned", "placed")

CASE_COLUMNS = tuple(c.name for c in spec("cases").columns)  # the data contract's order
EVENT_COLUMNS = ("event_id", "case_id", "ts", "event_type", "actor_role", "outcome", "next_due")
#: statuses of a case still being followed (one per student and kind; ``risk.cases.OPEN_STATUSES``)
FOLLOWED_STATUSES = ("open", "returned")
#: events that move a case to a four-step stage (the formal documents); ``step`` carries its stage
EVENT_STAGE = {"persuasion": 1, "deadline_notice": 2, "penalty": 3, "court": 4}


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """Settings of the reports (defaults; a county may change each one).

    Parameters
    ----------
    steady_ratio : float
        A weekly change of risk by less than this factor either way shows as "→" (risk is
        shown as a multiple of the county average, :func:`risk.reporting.labels.risk_words`).
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

    steady_ratio: float = 1.25
    top_reasons: int = 3
    review_days: int = 14
    first_contact_days: int = 7
    case_age_days: tuple[int, ...] = (7, 30)
    attendance_days: int = 90
    waterfall_features: int = 8

    def __post_init__(self) -> None:
        if not self.steady_ratio >= 1:
            raise ValueError(f"steady_ratio must be >= 1, got {self.steady_ratio}")
        for name in ("top_reasons", "review_days", "first_contact_days", "attendance_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def county_mean(snapshot: pd.DataFrame | None) -> float:
    """The county average of a night: the mean calibrated probability over the snapshot's students
    (NaN when there is none). Risks are shown as multiples of it
    (:func:`risk.reporting.labels.risk_words`).

    >>> county_mean(pd.DataFrame({"probability": [0.01, 0.03, float("nan")]}))
    0.02
    """
    if snapshot is None or not len(snapshot) or "probability" not in snapshot:
        return float("nan")
    return float(pd.to_numeric(snapshot["probability"], errors="coerce").mean())


def school_places(rows: pd.DataFrame) -> tuple[int, int]:
    """(red + yellow students, prevention places) of one school's snapshot rows: the places are
    the snapshot's ``capacity`` (yellow fills them after red; red is never capped).

    >>> school_places(pd.DataFrame({"tier": ["red", "yellow", "blue", "none"], "capacity": [8] * 4}))
    (2, 8)
    """
    on = int(rows["tier"].astype("str").isin(["red", "yellow"]).sum())
    cap = pd.to_numeric(rows["capacity"], errors="coerce").dropna() if "capacity" in rows else pd.Series()
    return on, int(cap.max()) if len(cap) else 0


def watched_tags(tags: pd.Series) -> pd.Series:
    """Whether each student carries a watched-group tag (the snapshot's ``tags``, ';'-joined).

    >>> watched_tags(pd.Series(["left_behind;poor", "", None])).tolist()
    [True, False, False]
    """
    return tags.fillna("").astype("str").str.strip().ne("")


def tags_text(tags: object, language: Language = "zh") -> str:
    """The watched groups of a ``tags`` cell in words (留守儿童、家庭经济困难).

    >>> tags_text("left_behind;poor"), tags_text("migrant", "en"), tags_text("")
    ('留守儿童、家庭经济困难', 'migrant child', '')
    """
    words = []
    for code in split_text(tags, ";"):
        names = WATCHED.get(code)
        words.append(code if names is None else names[1 if language == "zh" else 2])
    return ("、" if language == "zh" else ", ").join(words)


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
    if "four_step_stage" in out.columns:
        out["four_step_stage"] = pd.to_numeric(out["four_step_stage"], errors="coerce")
    return out.reset_index(drop=True)


def stage_at(cases: pd.DataFrame, events: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """The four-step stage each case had reached on ``day`` (indexed like ``cases``).

    Events up to ``day`` move a case to a stage (persuasion 1, deadline notice 2, penalty 3,
    court 4, or a ``step`` event's ``four_step_stage``). When a case has no event after ``day``,
    its recorded ``four_step_stage`` counts too (a stage set without an event record is not
    lost); when it has later events, the recorded stage may be newer than ``day`` and is ignored.

    Examples
    --------
    >>> cases = normalise_cases(pd.DataFrame({"case_id": ["k1", "k2"], "student_id": ["a", "b"],
    ...     "opened_at": ["2025-01-05"] * 2, "status": "open", "four_step_stage": [3, 1]}))
    >>> events = normalise_events(pd.DataFrame({"event_id": ["e1", "e2"], "case_id": ["k1", "k1"],
    ...     "ts": ["2025-02-10", "2025-03-05"], "event_type": ["deadline_notice", "penalty"]}))
    >>> stage_at(cases, events, pd.Timestamp("2025-02-28")).tolist()
    [2, 1]
    """
    staged = events["event_type"].map(EVENT_STAGE)
    if "four_step_stage" in events.columns:
        step = pd.to_numeric(events["four_step_stage"], errors="coerce")
        staged = staged.where(events["event_type"] != "step", step)
    ev = events.assign(_stage=staged.fillna(0).astype("int64"))
    before = ev.loc[ev["ts"] <= day].groupby("case_id")["_stage"].max()
    later = set(ev.loc[ev["ts"] > day, "case_id"])
    from_events = lookup(cases["case_id"], before).fillna(0).astype("int64")
    recorded = cases["four_step_stage"].where(~cases["case_id"].isin(later), 0).astype("int64")
    return pd.concat([from_events, recorded], axis=1).max(axis=1).astype("int64")


def ledger_on(
    cases: pd.DataFrame | None, events: pd.DataFrame | None, day: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger as it stood at the end of ``day``: nothing recorded after it shows.

    The ledger keeps each case's *current* state; a report as of ``day`` must show the state
    on ``day``. Cases opened later are dropped, events dated later are dropped, and what a
    later event changed is undone: a closing after ``day`` (the case is open again, or
    ``returned`` when the student was back by then), a return after ``day``, a four-step step
    after ``day`` (:func:`stage_at`). A return is read from the ``returned`` / ``reopened``
    events when the case has them, else from ``returned_at``.

    Examples
    --------
    >>> cases = pd.DataFrame({"case_id": ["k1", "k2"], "student_id": ["a", "b"],
    ...     "opened_at": ["2025-04-07", "2025-04-22"], "status": ["closed", "open"],
    ...     "closed_at": ["2025-04-24", None], "closure_reason": ["returned", None],
    ...     "returned_at": ["2025-04-14", None]})
    >>> c, _ = ledger_on(cases, None, pd.Timestamp("2025-04-21"))
    >>> c[["case_id", "status", "closed_at", "closure_reason"]].values.tolist()
    [['k1', 'returned', NaT, '']]
    """
    day = pd.Timestamp(day).normalize()
    c = normalise_cases(cases)
    ev_all = normalise_events(events)
    c = c.loc[c["opened_at"] <= day].reset_index(drop=True)
    ev = ev_all.loc[ev_all["ts"] <= day].reset_index(drop=True)
    if c.empty:
        return c, ev
    c["four_step_stage"] = stage_at(c, ev_all, day)
    turns = ev_all["event_type"].isin(["returned", "reopened"])
    has_turns = c["case_id"].isin(ev_all.loc[turns, "case_id"])
    last_turn = (
        ev.loc[ev["event_type"].isin(["returned", "reopened"])]
        .sort_values(["ts", "event_id"])
        .drop_duplicates("case_id", keep="last")
        .set_index("case_id")
    )
    back_since = last_turn["ts"].where(last_turn["event_type"] == "returned")
    returned_at = c["returned_at"].where(c["returned_at"] <= day)
    returned_at = pd.to_datetime(returned_at.where(~has_turns, lookup(c["case_id"], back_since)))
    closed_later = c["closed_at"] > day
    followed = is_followed(c) | closed_later
    c["status"] = c["status"].where(~followed, np.where(returned_at.notna(), "returned", "open"))
    c["returned_at"] = returned_at.where(followed, c["returned_at"])
    c["closed_at"] = c["closed_at"].where(~closed_later)
    for col in ("closure_reason", "placement"):
        c[col] = c[col].where(~closed_later, "")
    if "close_proposed_at" in c.columns:
        proposed = pd.to_datetime(c["close_proposed_at"])
        c["close_proposed_at"] = proposed.where(proposed <= day)
    return c, ev


def _names_of(frame: pd.DataFrame | None, key: str) -> pd.Series:
    """``key`` -> the table's optional ``name`` column (present names only; first row per key)."""
    if frame is None or "name" not in frame.columns or key not in frame.columns:
        return pd.Series(dtype="str")
    f = frame.loc[frame["name"].notna() & (frame["name"].astype("str").str.strip() != ""), [key, "name"]]
    out = pd.Series(f["name"].astype("str").str.strip().to_numpy(), index=f[key].astype("str").to_numpy())
    return out[~out.index.duplicated(keep="last")]


def class_text(
    class_ids: pd.Series, tables: Tables | None, language: Language = "zh", grades: pd.Series | None = None
) -> pd.Series:
    """Classes as people say them: the ``classes.name`` of the contract where it is given
    ("六年级(1)班"), else :func:`risk.reporting.labels.class_label` from the grade ("六年级1班"),
    else the id; '' for a missing id. ``grades`` (aligned with ``class_ids``) is used where the
    classes table has no grade for a class."""
    from risk.reporting.labels import class_label

    ids = class_ids.astype("str").where(class_ids.notna(), "")
    classes = getattr(tables, "classes", None) if tables is not None else None
    names = _names_of(classes, "class_id") if language == "zh" else pd.Series(dtype="str")
    grade = pd.Series(np.nan, index=ids.index, dtype="float64")
    if classes is not None and len(classes):
        g = pd.Series(pd.to_numeric(classes["grade"], errors="coerce").to_numpy(),
                      index=classes["class_id"].astype("str").to_numpy())  # fmt: skip
        grade = lookup(ids, g).astype("float64")
    if grades is not None:
        grade = grade.fillna(pd.to_numeric(pd.Series(grades.to_numpy(), index=ids.index), errors="coerce"))
    fallback = pd.Series(
        [class_label(i, None if pd.isna(g) else int(g), language) if i else "" for i, g in zip(ids, grade, strict=True)],
        index=ids.index, dtype="object",
    )  # fmt: skip
    return ids.map(names).where(lambda x: x.notna(), fallback).astype("object")


def school_text(school_ids: pd.Series, tables: Tables | None) -> pd.Series:
    """Schools by the contract's optional ``schools.name``, else their id; '' for a missing id."""
    ids = school_ids.astype("str").where(school_ids.notna(), "")
    names = _names_of(getattr(tables, "schools", None) if tables is not None else None, "school_id")
    return ids.map(names).where(lambda x: x.notna(), ids).astype("object")


def owner_text(staff_ids: pd.Series, tables: Tables | None, language: Language = "zh") -> pd.Series:
    """Staff as their colleagues name them: "班主任 王丽" from the contract's optional
    ``staff.name``; without a name a head teacher is their class's ("六年级1班班主任"), others
    "role staff_id" (心理教师 SCH00007-CO3); the id alone without a staff table; '' when none.
    Staff names are staff data shown to staff: never a feature, never logged."""
    ids = staff_ids.astype("str").where(staff_ids.notna(), "")
    if tables is None or tables.staff is None:
        return ids
    staff = tables.staff.drop_duplicates("staff_id", keep="last")
    key = staff["staff_id"].astype("str").to_numpy()
    roles = pd.Series(staff["role"].astype("str").to_numpy(), index=key)
    role = ids.map(roles).map(lambda r: label(ROLE_LABELS, r, language) if isinstance(r, str) else "")
    names = ids.map(_names_of(staff, "staff_id"))
    who = names.where(names.notna(), ids)
    text = (role + " " + who).str.strip()
    if "class_id" in staff.columns:
        klass = ids.map(pd.Series(staff["class_id"].to_numpy(), index=key))
        head = names.isna() & ids.map(roles).eq("head_teacher") & klass.notna()
        if head.any():
            lab = class_text(klass[head], tables, language)
            text[head] = lab + ("班主任" if language == "zh" else " head teacher")
    return text.where(ids != "", "")


def stage_text(stage: pd.Series, language: Language = "zh") -> pd.Series:
    """Four-step stage numbers in words."""
    return stage.map(lambda s: label(STAGE_LABELS, s, language) if pd.notna(s) else "")


def is_followed(cases: pd.DataFrame) -> pd.Series:
    """Cases still followed: ``open``, or the ledger's ``returned`` (back at school, not yet
    closed). A contract file's ``returned`` with a ``closed_at`` is closed (劝返销号)."""
    return cases["status"].eq("open") | (cases["status"].eq("returned") & cases["closed_at"].isna())


def open_case_per_student(cases: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The followed case of each student on ``as_of`` (``open``, or ``returned`` and waiting to be
    closed; the latest opened if several), indexed by student_id. ``cases`` is the ledger on
    ``as_of`` (:func:`ledger_on`)."""
    c = cases.loc[is_followed(cases) & (cases["opened_at"] <= as_of)]
    c = c.sort_values(["student_id", "opened_at", "case_id"])
    return c.drop_duplicates("student_id", keep="last").set_index("student_id")


#: the groups of :func:`list_group`, in the order lists show them: the list (red, yellow, selected
#: by the model), then the watch tier, then students kept only by a case
LIST_GROUPS: tuple[str, ...] = ("red", "yellow", "selected", "blue", "case", "none")


def list_group(tier: pd.Series, listed: pd.Series, has_case: pd.Series | None = None) -> pd.Series:
    """Where each student stands on the list: the one word every report counts by.

    ``red`` / ``yellow`` for a listed student of that tier, ``selected`` for a listed student
    with no tier condition (chosen by the model's rank), ``blue`` for the watch tier (蓝色关注:
    rising fast or a trigger; not on the list, shown after it), ``case`` for a student neither
    listed nor blue but with a case still followed, ``none`` otherwise. A watched group
    (留守, 随迁, ... the ``tags``) is no group here: a tag, never a colour
    (:func:`watched_tags`).

    >>> list_group(pd.Series(["red", "none", "blue", "blue", "none", "none"]),
    ...            pd.Series([True, True, True, False, False, False]),
    ...            pd.Series([False, False, False, True, True, False])).tolist()
    ['red', 'selected', 'blue', 'blue', 'case', 'none']
    """
    t = tier.astype("str")
    on = listed.astype(bool).to_numpy()
    group = np.where(on, np.where(t.isin(["red", "yellow", "blue"]), t, "selected"), "none")
    if has_case is not None:
        group = np.where(~on & has_case.astype(bool).to_numpy(), "case", group)
    group = np.where(~on & (t == "blue").to_numpy(), "blue", group)
    return pd.Series(group, index=tier.index, dtype="str")


def split_text(text: object, sep: str) -> list[str]:
    """A joined snapshot cell as a list ('' and NaN give [])."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [p.strip() for p in text.split(sep) if p.strip()]


def school_info(tables: Tables | None) -> pd.DataFrame:
    """``school_id`` -> township and name (from ``schools``; '' when unknown, the name the
    contract's optional ``schools.name``)."""
    if tables is None or tables.schools is None:
        empty = pd.Series(dtype="str")
        return pd.DataFrame({"township": empty, "name": empty}, index=pd.Index([], name="school_id"))
    s = tables.schools
    name = s["name"] if "name" in s.columns else pd.Series(None, index=s.index, dtype="object")
    return pd.DataFrame(
        {
            "township": s["township"].astype("str").where(s["township"].notna(), "").to_numpy(),
            "name": name.astype("str").where(name.notna(), "").to_numpy(),
        },
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


def recent_family_events(
    tables: Tables | None,
    student_ids: pd.Series,
    as_of: pd.Timestamp,
    *,
    days: int = 90,
    language: Language = "zh",
    show_restricted: bool = False,
) -> pd.Series:
    """What happened and when, for each student: the family events of the last ``days`` calendar
    days up to ``as_of`` (the window of the ``hard_family_event_90d`` feature and the
    ``family_event`` trigger, ``[features] recent_change_days``), latest first, as
    "2025-03-02 搬家、2025-01-20 父母离异"; '' when none. Restricted events (incarceration) only
    with ``show_restricted``. Indexed like ``student_ids``."""
    from risk.reporting.labels import FAMILY_EVENT_LABELS

    ids = student_ids.astype("str")
    empty = pd.Series("", index=student_ids.index, dtype="object")
    fe = getattr(tables, "family_events", None) if tables is not None else None
    if fe is None or not len(fe) or not len(ids):
        return empty
    day = pd.Timestamp(as_of).normalize()
    when = pd.to_datetime(fe["event_date"])
    keep = (
        fe["student_id"].astype("str").isin(set(ids)) & (when <= day) & (when > day - pd.Timedelta(days=days))
    )
    if not show_restricted:
        keep &= fe["event_type"].astype("str") != "incarceration"
    rows = fe.loc[keep].assign(_when=when[keep]).sort_values("_when", ascending=False)
    if rows.empty:
        return empty
    sep = "、" if language == "zh" else ", "
    text = (
        rows.assign(
            _t=[
                f"{d:%Y-%m-%d} {label(FAMILY_EVENT_LABELS, str(t), language)}"
                for d, t in zip(rows["_when"], rows["event_type"], strict=True)
            ]
        )  # fmt: skip
        .groupby(rows["student_id"].astype("str"), sort=False)["_t"]
        .agg(sep.join)
    )
    return ids.map(text).fillna("").astype("object")


def with_family_events(
    rows: pd.DataFrame,
    tables: Tables | None,
    *,
    config=None,
    show_restricted: bool = False,
) -> pd.DataFrame:
    """Snapshot rows whose reasons and tier reason say *what* happened and *when* (issue 19: "近90天
    家庭发生变故" said neither): the family-event reason (``family_feature`` in ``reason_codes``,
    its sentence at the same position of ``reasons_zh``/``_en``) and the ``trigger:family_event``
    tier reason get "（2025-03-02 搬家）" after the fact, from :func:`recent_family_events`. The
    feature's name and window follow ``config`` (a :class:`features.config.BaoxueConfig`). Rows
    without such an event are unchanged; a copy is returned."""
    from features.config import BaoxueConfig
    from features.names import feature_names
    from risk.tiers import trigger_words

    cfg = config if isinstance(config, BaoxueConfig) else None
    names_ = feature_names(cfg)
    family_feature, days, trigger = (
        names_.family_event,
        names_.recent_days,
        trigger_words("family_event", cfg),
    )
    if tables is None or getattr(tables, "family_events", None) is None or rows.empty:
        return rows
    out = rows.copy()
    as_of = pd.to_datetime(out["as_of"])
    for language, sep, (lb, rb) in (("zh", "；", ("（", "）")), ("en", ";", (" (", ")"))):
        what = pd.Series("", index=out.index, dtype="object")
        for day in as_of.dropna().unique():
            at = as_of == day
            what[at] = recent_family_events(tables, out.loc[at, "student_id"], pd.Timestamp(day), days=days,
                                            language=language, show_restricted=show_restricted)  # fmt: skip
        col = f"reasons_{language}"
        if col in out and "reason_codes" in out:
            fixed = []
            for text, codes, w in zip(out[col], out["reason_codes"], what, strict=True):
                parts = split_text(text, sep if language == "zh" else ";")
                names = split_text(codes, ";")
                if w and family_feature in names and names.index(family_feature) < len(parts):
                    k = names.index(family_feature)
                    parts[k] = f"{parts[k]}{lb}{w}{rb}"
                    text = (sep if language == "zh" else "; ").join(parts)
                fixed.append(text)
            out[col] = fixed
        tcol = f"tier_reason_{language}"
        if tcol in out and "tier_condition" in out:
            words = trigger[0 if language == "zh" else 1]
            trig = out["tier_condition"].astype("str").str.contains("trigger:family_event", regex=False)
            for i in out.index[trig & (what != "")]:
                t, w = str(out.at[i, tcol]), f"{lb}{what[i]}{rb}"
                out.at[i, tcol] = t.replace(words, words + w, 1) if words in t else t + w
    return out
