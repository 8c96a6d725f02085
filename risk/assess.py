"""One scoring run: features → risk → rules → tiers → ranks under capacity → reasons → measures.

:func:`assess` is what ``baoxue score`` and the nightly job call; it returns the risk
snapshot (:data:`risk.snapshot.SNAPSHOT_COLUMNS`, one row per student in school on
``as_of``). :func:`assess_full` also returns the pieces a report or a researcher needs:
the feature matrix, the rule alerts and the SHAP contributions of the explained rows.

Whose reasons are computed: by default (``[risk] explain = "listed"``) the students on a
list — red and yellow tiers and every student selected for a case — because TreeSHAP costs
far more than scoring; ``explain="all"`` explains everyone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.build import build_features
from features.cohort import cohort as cohort_of
from features.config import BaoxueConfig
from features.contract import Tables
from risk.explain import contributions
from risk.plans import suggest_measures
from risk.rank import rank_students, school_capacity, tie_keys
from risk.reasons import REASON_COLUMNS, explain_reasons
from risk.rules import evaluate_rules, rules_by_student
from risk.score import ScoringModel, load_model, score
from risk.snapshot import SNAPSHOT_COLUMNS
from risk.tiers import Thresholds, assign_tiers
from training.bundle import ModelBundle

__all__ = ["Assessment", "assess", "assess_full", "empty_snapshot", "model_thresholds"]


@dataclass(frozen=True)
class Assessment:
    """A scoring run's snapshot and what it was computed from."""

    snapshot: pd.DataFrame  # SNAPSHOT_COLUMNS, indexed by student_id
    features: pd.DataFrame
    alerts: pd.DataFrame  # risk.rules.ALERT_COLUMNS
    contributions: pd.DataFrame  # explained rows only (risk.explain.contributions)
    model: ScoringModel


def empty_snapshot() -> pd.DataFrame:
    """A snapshot with no rows and the right columns and dtypes."""
    cols = {}
    for c, (dtype, _) in SNAPSHOT_COLUMNS.items():
        cols[c] = pd.Series(dtype="category" if dtype == "category" else dtype)
    return pd.DataFrame(cols, index=pd.Index([], dtype="str", name="student_id"))


def assess_full(
    tables: Tables,
    as_of: dt.date,
    model: ModelBundle | ScoringModel | str,
    config: BaoxueConfig | None = None,
    *,
    features: pd.DataFrame | None = None,
    explain: Literal["listed", "all"] | None = None,
    previous: pd.Series | None = None,
    prior: pd.DataFrame | None = None,
) -> Assessment:
    """Score, explain, apply the rules and tiers, and rank every student in school on ``as_of``.

    Parameters
    ----------
    tables : Tables
        Validated tables (:func:`features.load.load_tables`).
    as_of : date
        The day the run describes; only data known on it is used.
    model : ModelBundle, ScoringModel or str
        The model, or a bundle path / MLflow URI (:func:`risk.score.load_model`).
    config : BaoxueConfig, optional
        ``[rules]``, ``[features]`` and ``[risk]`` settings.
    features : DataFrame, optional
        The feature matrix of ``as_of`` if already built (indexed by ``student_id``).
    explain : {'listed', 'all'}, optional
        Whose reasons to compute (default ``[risk] explain``).
    previous : Series, optional
        Each student's risk about 4 weeks earlier (for "risk doubled").
    prior : DataFrame, optional
        ``tier`` and ``tier_condition`` of the snapshot about a week earlier, indexed by
        ``student_id`` (stable lists: ``[risk] exit_margin``).

    Returns
    -------
    Assessment
    """
    cfg = config or BaoxueConfig()
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    scoring = model if isinstance(model, ScoringModel) else load_model(model)
    spine = cohort_of(tables, as_of)
    if features is None:
        features = build_features(tables, as_of, cfg)
    features = features.reindex(spine.index)
    if not len(spine):
        return Assessment(empty_snapshot(), features, evaluate_rules(tables, as_of, features, cohort=spine),
                          pd.DataFrame(), scoring)  # fmt: skip

    probability = score(scoring, features)
    alerts = evaluate_rules(tables, as_of, features, cohort=spine, config=cfg)
    fired = rules_by_student(alerts, spine.index)
    school = spine["school_id"].astype("str")
    capacity = school_capacity(tables, school.unique(), cfg, sizes=school.value_counts())
    thresholds = model_thresholds(scoring, cfg)
    tie = tie_keys(probability.index, as_of)
    tiers = assign_tiers(
        probability,
        fired["rules"],
        features,
        school=school,
        capacity=capacity,
        previous=previous,
        prior=prior,
        thresholds=thresholds,
        tie=tie,
        config=cfg,
    )
    base = pd.DataFrame(
        {
            "probability": probability,
            "school_id": school,
            "class_id": spine["class_id"].astype("str") if "class_id" in spine else pd.NA,
            "tier": tiers["tier"],
            "rules": fired["rules"],
            "eligible": (probability >= thresholds.yellow_risk) & (tiers["tier"] != "red"),
        },
        index=spine.index,
    )
    ranks = rank_students(base, as_of, capacity=capacity, config=cfg)
    if cfg.risk.borderline_band > 0:  # the lottery decides who of the band is on the list
        tiers = _follow_lottery(tiers, ranks)
        base["tier"] = tiers["tier"]
    listed = base["tier"].isin(["red", "yellow"]).to_numpy() | ranks["selected"].to_numpy()

    scope = explain or cfg.risk.explain
    explained = np.ones(len(base), dtype=bool) if scope == "all" else listed
    who = base.index[explained]
    contrib = contributions(scoring, features.loc[who])
    reasons = explain_reasons(features, contrib, top=cfg.risk.top_reasons, config=cfg).reindex(base.index)
    for c in REASON_COLUMNS:
        reasons[c] = reasons[c].fillna("").astype("str")
    disabled = None
    if "inclusive_ed" in spine:
        disabled = spine["inclusive_ed"].astype("str").ne("none") & spine["inclusive_ed"].notna()
    measures = suggest_measures(reasons["reason_families"], fired["rules"], disabled=disabled)

    grade = pd.to_numeric(spine["grade"], errors="coerce").astype("int64")
    snap = pd.DataFrame(
        {
            "student_id": pd.array(spine.index.to_numpy(), dtype="str"),
            "as_of": pd.Series(pd.Timestamp(as_of), index=spine.index).astype("datetime64[s]"),
            "school_id": base["school_id"],
            "class_id": base["class_id"].astype("str"),
            "grade": grade,
            "probability": probability.astype("float64"),
            **{c: ranks[c] for c in ("rank_county", "rank_school", "rank_class", "tie_key")},
            **{c: tiers[c] for c in ("tier", "tier_condition", "tier_reason_zh", "tier_reason_en", "tags")},
            "rules": fired["rules"],
            "rule_evidence": fired["rule_evidence"],
            **{c: ranks[c] for c in ("capacity", "selected", "borderline", "assignment_mechanism")},
            "listed": listed,
            "explained": explained,
            **{c: reasons[c] for c in REASON_COLUMNS},
            **{c: measures[c] for c in ("measures", "measures_zh", "measures_en")},
            "model_version": scoring.version,
        },
        index=spine.index,
    )
    snap = snap[list(SNAPSHOT_COLUMNS)]
    return Assessment(snap, features, alerts, contrib, scoring)


def model_thresholds(model: ModelBundle | ScoringModel, config: BaoxueConfig) -> Thresholds:
    """The tiers' thresholds: the bundle's (chosen on its evaluation year) when ``[risk]
    threshold_source = "model"`` and it carries them, else the ``[risk]`` defaults."""
    bundle = model.bundle if isinstance(model, ScoringModel) else model
    carried = getattr(bundle, "thresholds", None) or {}
    if config.risk.threshold_source == "model" and carried:
        return Thresholds.from_dict(carried)
    return Thresholds.from_config(config.risk)


def _follow_lottery(tiers: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """Tiers after the borderline lottery: a band winner is yellow, a band loser off the list."""
    t = tiers.copy()
    won = ranks["borderline"] & ranks["selected"] & (t["tier"] != "yellow")
    lost = ranks["borderline"] & ~ranks["selected"] & (t["tier"] == "yellow")
    t.loc[won, ["tier", "tier_condition"]] = ["yellow", "borderline_lottery"]
    t.loc[won, ["tier_reason_zh", "tier_reason_en"]] = ["名单边界抽签入选", "drawn in the borderline lottery"]
    t.loc[lost, ["tier", "tier_condition", "tier_reason_zh", "tier_reason_en"]] = ["none", "", "", ""]
    return t


def assess(
    tables: Tables,
    as_of: dt.date,
    model: ModelBundle | ScoringModel | str,
    config: BaoxueConfig | None = None,
    *,
    features: pd.DataFrame | None = None,
    explain: Literal["listed", "all"] | None = None,
    previous: pd.Series | None = None,
    prior: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The risk snapshot of ``as_of`` (:data:`risk.snapshot.SNAPSHOT_COLUMNS`, indexed by
    ``student_id``); see :func:`assess_full` for the parameters."""
    return assess_full(
        tables, as_of, model, config, features=features, explain=explain, previous=previous, prior=prior
    ).snapshot
