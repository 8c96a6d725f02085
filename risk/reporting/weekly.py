"""The head teacher's weekly class list (班主任周报): who is on the list, why, what changed.

Only the class's own students ever appear: rows come from the snapshot rows whose
``class_id`` is the class. Students who were on last week's list of this class and have
moved to another class are counted, never named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.config import RulesConfig
from features.contract import Tables
from risk.reporting._common import (
    LIST_GROUPS,
    ReportConfig,
    class_text,
    county_mean,
    ledger_on,
    list_group,
    lookup,
    name_of,
    open_case_per_student,
    owner_text,
    school_info,
    school_places,
    school_text,
    split_text,
    stage_text,
    tags_text,
    watched_tags,
    with_family_events,
)
from risk.reporting.labels import (
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    LIST_GROUP_LABELS,
    ROLE_LABELS,
    TIER_LABELS,
    Language,
    label,
    risk_words,
)
from risk.rules import rule_labels
from risk.snapshot import TIERS

__all__ = ["WeeklyClassList", "weekly_class_list", "WEEKLY_COLUMNS", "WATCH_COLUMNS", "tier_order"]

#: columns of :attr:`WeeklyClassList.students`
WEEKLY_COLUMNS: tuple[str, ...] = (
    "student_id",
    "name",
    "tier",
    "tier_label",
    "group",
    "group_label",
    "tier_reason",
    "probability",
    "risk_multiple",
    "risk_text",
    "previous_multiple",
    "change_arrow",
    "new_on_list",
    "rules",
    "reasons",
    "protective",
    "case_id",
    "case_type",
    "case_status",
    "case_owner",
    "case_stage",
    "case_stage_label",
    "case_opened_at",
    "measures",
    "tags",
    "tags_label",
    "notes",
)

#: columns of :attr:`WeeklyClassList.watch` (the collapsed 关注 section)
WATCH_COLUMNS: tuple[str, ...] = ("student_id", "name", "tags", "tags_label", "probability", "risk_text")

#: the order of the class list's cards: the list (red, yellow, selected by the model), then the
#: watch tier (blue), then students kept only by a followed case
_CARD_ORDER = {"red": 0, "yellow": 1, "selected": 2, "blue": 3, "case": 4}


def tier_order(tier: pd.Series) -> pd.Series:
    """0 for red, 1 yellow, 2 blue, 3 none (and 4 for an unknown code)."""
    return tier.astype("str").map({t: i for i, t in enumerate(TIERS)}).fillna(len(TIERS)).astype("int64")


@dataclass(frozen=True)
class WeeklyClassList:
    """What goes into one class's weekly list.

    Attributes
    ----------
    class_id, school_id, township : str
        The class, its school and township ('' when unknown).
    grade : int or None
        The class's grade.
    head_teacher_id : str
        The class's head teacher (班主任), '' when unknown.
    class_name, school_name, head_teacher : str
        The class, school and head teacher as people name them (the contract's optional
        ``classes.name``, ``schools.name`` and ``staff.name``; readable labels without them:
        "六年级1班", the school id, "六年级1班班主任"; :func:`risk.reporting._common.class_text`).
    as_of, previous_as_of : Timestamp
        The snapshot day and last week's (NaT when there is no previous snapshot).
    students : DataFrame
        One row per card with :data:`WEEKLY_COLUMNS`: the listed students first (red, yellow,
        selected by the model), then the watch tier (blue), then students kept only by a case;
        within each, by risk descending (ties: student_id). ``risk_text`` is the risk as a
        multiple of the county average with last week's (:func:`risk.reporting.labels.risk_words`);
        ``notes`` is empty: it is the teacher's column.
    watch : DataFrame
        The collapsed 关注 section: students of a watched group (the ``tags``: 留守, 随迁, 困难,
        残疾...) who have no card, by risk descending, with :data:`WATCH_COLUMNS`.
    left_list : DataFrame
        Students of this class who were listed last week and are not listed now:
        ``student_id, name, previous_tier, previous_tier_label, tier_label, risk_text``.
    moved_out : int
        Students listed last week in this class who are now in another class or gone
        (counted only: the list never names another class's students).
    class_size : int
        Students of the class in the snapshot.
    tier_counts : dict
        Students shown per group of :func:`risk.reporting._common.list_group` (red, yellow,
        blue, selected, case): the counts add up to the rows of ``students``.
    watched : int
        Students in the 关注 section (``len(watch)``).
    county_mean, previous_county_mean : float
        The county average that night and last week (mean calibrated probability).
    school_on_list, school_places : int
        The school's red + yellow students this week and its prevention places (``capacity``):
        yellow fills the places after red, red is never capped.
    model_version : str
        The model the snapshot was scored with.
    language : {"zh", "en"}
        Language of the text columns.
    """

    class_id: str
    school_id: str
    township: str
    grade: int | None
    head_teacher_id: str
    as_of: pd.Timestamp
    previous_as_of: pd.Timestamp
    students: pd.DataFrame
    left_list: pd.DataFrame
    moved_out: int
    class_size: int
    tier_counts: dict[str, int] = field(default_factory=dict)
    watched: int = 0
    model_version: str = ""
    language: Language = "zh"
    watch: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(WATCH_COLUMNS)))
    county_mean: float = float("nan")
    previous_county_mean: float = float("nan")
    school_on_list: int = 0
    school_places: int = 0
    class_name: str = ""
    school_name: str = ""
    head_teacher: str = ""


def _head_text(head: str, tables: Tables | None, language: Language) -> str:
    """The head teacher as the list names them: "班主任 王丽" ('' when unknown)."""
    if not head:
        return ""
    text = owner_text(pd.Series([head], dtype="object"), tables, language).iloc[0]
    role = label(ROLE_LABELS, "head_teacher", language)
    return text if role in text else f"{role} {text}"


def _snapshot_rows(snapshot: pd.DataFrame) -> pd.DataFrame:
    s = snapshot.copy()
    for c in ("student_id", "class_id", "school_id", "tier"):
        s[c] = s[c].astype("str")
    s["as_of"] = pd.to_datetime(s["as_of"])
    return s


def _change(now: pd.Series, before: pd.Series, steady: float) -> pd.Series:
    """↑ / ↓ when the risk moved by at least the factor ``steady`` since last week, → otherwise,
    新 when there is no last week."""
    ratio = now / before
    arrow = pd.Series(
        np.where(ratio >= steady, "↑", np.where(ratio <= 1 / steady, "↓", "→")), index=now.index
    )
    return arrow.where(before.notna() & (before > 0), "新")


def _tags(rows: pd.DataFrame) -> pd.Series:
    """The ``tags`` column ('' when the snapshot has none)."""
    if "tags" not in rows:
        return pd.Series("", index=rows.index, dtype="str")
    return rows["tags"].fillna("").astype("str")


def _now_label(tags: str, language: Language) -> str:
    """What a student who left the list is now: not listed (and, if so, in the 关注 section of a
    watched group)."""
    off = label(LIST_GROUP_LABELS, "none", language)
    if not tags.strip():
        return off
    return (
        f"{off} (关注：{tags_text(tags, language)})"
        if language == "zh"
        else f"{off} (watched: {tags_text(tags, language)})"
    )


def weekly_class_list(
    snapshot: pd.DataFrame,
    class_id: str,
    *,
    previous: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
    case_events: pd.DataFrame | None = None,
    tables: Tables | None = None,
    config: ReportConfig | None = None,
    rules_config: RulesConfig | None = None,
    language: Language = "zh",
) -> WeeklyClassList:
    """The weekly list of one class from this week's (and last week's) risk snapshot.

    Parameters
    ----------
    snapshot : DataFrame
        This week's risk snapshot (:data:`risk.snapshot.SNAPSHOT_COLUMNS`), all classes.
    class_id : str
        The class the list is for.
    previous : DataFrame, optional
        Last week's snapshot (for the change column and the "left the list" section).
    cases : DataFrame, optional
        The ``cases`` table (ledger); a student's case still followed on the snapshot day
        shows with owner, stage and status (the ledger as it stood that day: :func:`ledger_on`).
    case_events : DataFrame, optional
        The ``case_events`` table: what happened after the snapshot day is undone.
    tables : Tables, optional
        Loaded tables: ``student_names`` for names, ``classes``, ``schools``, ``staff``.
    config : ReportConfig, optional
        Bands and the number of reasons shown.
    rules_config : RulesConfig, optional
        The county's ``[rules]``: the fired rules are named with its thresholds
        (:func:`risk.rules.rule_labels`; the defaults when omitted).
    language : {"zh", "en"}
        Language of the text columns.

    Returns
    -------
    WeeklyClassList

    Raises
    ------
    ValueError
        When ``class_id`` is not in the snapshot.

    Examples
    --------
    >>> from risk.reporting._examples import example_snapshot
    >>> wl = weekly_class_list(example_snapshot(), "c1")
    >>> wl.students["student_id"].tolist(), wl.tier_counts
    (['a', 'b'], {'red': 1, 'yellow': 1, 'selected': 0, 'blue': 0, 'case': 0})
    """
    cfg = config or ReportConfig()
    snap = _snapshot_rows(snapshot)
    mine = snap.loc[snap["class_id"] == str(class_id)]
    if mine.empty:
        known = sorted(snap["class_id"].unique())[:5]
        raise ValueError(f"class_id {class_id!r} is not in the snapshot (classes include {known})")
    as_of = mine["as_of"].max()
    cases_n, _ = ledger_on(cases, case_events, as_of)
    open_case = open_case_per_student(cases_n, as_of)
    group = list_group(mine["tier"], mine["listed"], mine["student_id"].isin(open_case.index))
    rows = mine.assign(_group=group).loc[group != "none"].copy()
    rows = rows.assign(_order=rows["_group"].map(_CARD_ORDER)).sort_values(
        ["_order", "probability", "student_id"], ascending=[True, False, True]
    )
    mean_now = county_mean(snap)

    prev_prob = pd.Series(dtype="float64")
    prev_as_of = pd.NaT
    prev_listed = pd.Index([])
    mean_before = float("nan")
    if previous is not None and len(previous):
        prev = _snapshot_rows(previous)
        prev_as_of = prev["as_of"].max()
        mean_before = county_mean(prev)
        prev_prob = prev.set_index("student_id")["probability"].astype("float64")
        prev_listed_rows = prev.loc[prev["listed"].astype(bool) & (prev["class_id"] == str(class_id))]
        prev_listed = pd.Index(prev_listed_rows["student_id"])
        prev_tier = list_group(prev_listed_rows["tier"], prev_listed_rows["listed"])
        prev_tier.index = pd.Index(prev_listed_rows["student_id"])
    zh = language == "zh"
    sep = "；" if zh else "; "
    rule_names = rule_labels(rules_config, language)
    prob = rows["probability"].astype("float64")
    before = lookup(rows["student_id"], prev_prob).astype("float64")
    arrow = _change(prob, before, cfg.steady_ratio)
    if not zh:
        arrow = arrow.replace("新", "new")

    def words(p: pd.Series, b: pd.Series) -> np.ndarray:
        return np.array(
            [
                risk_words(x, mean_now, y, previous_mean=mean_before, language=language)
                for x, y in zip(p, b, strict=True)
            ],
            dtype=object,
        )

    rows = with_family_events(rows, tables)  # what happened and when, not just "家庭发生变故"
    case = open_case.reindex(rows["student_id"])
    out = pd.DataFrame(
        {
            "student_id": rows["student_id"].to_numpy(),
            "name": name_of(rows["student_id"], tables).to_numpy(),
            "tier": rows["tier"].to_numpy(),
            "tier_label": rows["tier"].map(lambda t: label(TIER_LABELS, t, language)).to_numpy(),
            "group": rows["_group"].to_numpy(),
            "group_label": rows["_group"].map(lambda g: label(LIST_GROUP_LABELS, g, language)).to_numpy(),
            "tier_reason": rows[f"tier_reason_{language}"].fillna("").astype("str").to_numpy(),
            "probability": prob.to_numpy(),
            "risk_multiple": (prob / mean_now).to_numpy(),
            "risk_text": words(prob, before),
            "previous_multiple": (before / mean_before).to_numpy(),
            "change_arrow": arrow.to_numpy(),
            "new_on_list": (rows["listed"].astype(bool) & ~rows["student_id"].isin(prev_listed)).to_numpy()
            if previous is not None
            else False,
            "rules": rows["rules"]
            .map(lambda r: sep.join(rule_names.get(c, c) for c in split_text(r, ";")))
            .to_numpy(),
            "reasons": rows[f"reasons_{language}"]
            .map(lambda r: sep.join(split_text(r, "；" if zh else ";")[: cfg.top_reasons]))
            .to_numpy(),
            "protective": rows[f"protective_{language}"]
            .map(lambda r: sep.join(split_text(r, "；" if zh else ";")[:2]))
            .to_numpy(),
            "case_id": case["case_id"].fillna("").to_numpy(),
            "case_type": case["case_type"]
            .map(lambda t: label(CASE_TYPE_LABELS, t, language) if isinstance(t, str) else "")
            .to_numpy(),
            "case_status": case["status"]
            .map(lambda t: label(CASE_STATUS_LABELS, t, language) if isinstance(t, str) else "")
            .to_numpy(),
            "case_owner": owner_text(case["owner_staff_id"], tables, language).fillna("").to_numpy(),
            "case_stage": case["four_step_stage"].to_numpy(),
            "case_stage_label": stage_text(case["four_step_stage"], language).to_numpy(),
            "case_opened_at": case["opened_at"].to_numpy(),
            "measures": rows[f"measures_{language}"].fillna("").astype("str").to_numpy(),
            "tags": _tags(rows).to_numpy(),
            "tags_label": _tags(rows).map(lambda t: tags_text(t, language)).to_numpy(),
            "notes": "",
        }
    )

    left = pd.DataFrame(
        columns=["student_id", "name", "previous_tier", "previous_tier_label", "tier_label", "risk_text"]
    )
    moved_out = 0
    if len(prev_listed):
        still_here = mine.set_index("student_id")
        gone = prev_listed.difference(still_here.index)
        moved_out = len(gone)
        dropped = prev_listed.intersection(still_here.index).difference(pd.Index(out["student_id"]))
        if len(dropped):
            d = still_here.loc[dropped]
            ids = pd.Series(dropped, index=dropped)
            left = pd.DataFrame(
                {
                    "student_id": dropped,
                    "name": name_of(ids, tables).to_numpy(),
                    "previous_tier": prev_tier.reindex(dropped).to_numpy(),
                    "previous_tier_label": prev_tier.reindex(dropped)
                    .map(lambda t: label(LIST_GROUP_LABELS, t, language))
                    .to_numpy(),
                    "tier_label": _tags(d).map(lambda t: _now_label(t, language)).to_numpy(),
                    "risk_text": words(
                        d["probability"].astype("float64"), prev_prob.reindex(dropped).astype("float64")
                    ),
                }
            ).sort_values("name", kind="stable", ignore_index=True)

    school_id = str(mine["school_id"].iloc[0])
    grade = int(mine["grade"].iloc[0]) if "grade" in mine and pd.notna(mine["grade"].iloc[0]) else None
    head = ""
    if tables is not None and tables.classes is not None:
        c = tables.classes.loc[tables.classes["class_id"].astype("str") == str(class_id)]
        if len(c) and pd.notna(c["head_teacher_id"].iloc[-1]):
            head = str(c["head_teacher_id"].iloc[-1])
    township = school_info(tables)["township"].get(school_id, "")
    counts = {g: int((out["group"] == g).sum()) for g in LIST_GROUPS[:-1]}
    w = mine.loc[(group == "none").to_numpy() & watched_tags(_tags(mine)).to_numpy()]
    w = w.sort_values(["probability", "student_id"], ascending=[False, True])
    wp = w["probability"].astype("float64")
    watch = pd.DataFrame(
        {
            "student_id": w["student_id"].to_numpy(),
            "name": name_of(w["student_id"], tables).to_numpy(),
            "tags": _tags(w).to_numpy(),
            "tags_label": _tags(w).map(lambda t: tags_text(t, language)).to_numpy(),
            "probability": wp.to_numpy(),
            "risk_text": words(wp, lookup(w["student_id"], prev_prob).astype("float64")),
        },
        columns=list(WATCH_COLUMNS),
    )
    on_list, places = school_places(snap.loc[snap["school_id"] == school_id])
    version = str(mine["model_version"].iloc[0]) if "model_version" in mine else ""
    return WeeklyClassList(
        class_id=str(class_id),
        school_id=school_id,
        township=township,
        grade=grade,
        head_teacher_id=head,
        as_of=as_of,
        previous_as_of=prev_as_of,
        students=out.reset_index(drop=True),
        left_list=left,
        moved_out=moved_out,
        class_size=len(mine),
        tier_counts=counts,
        watched=len(watch),
        model_version=version,
        language=language,
        watch=watch,
        county_mean=mean_now,
        previous_county_mean=mean_before,
        school_on_list=on_list,
        school_places=places,
        class_name=class_text(pd.Series([str(class_id)]), tables, language, pd.Series([grade])).iloc[0],
        school_name=school_text(pd.Series([school_id]), tables).iloc[0],
        head_teacher=_head_text(head, tables, language),
    )
