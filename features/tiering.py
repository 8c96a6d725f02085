"""The list policy (红黄蓝三色预警) on arrays: which students are red, yellow or blue, and why.

The policy lives here, in ``features``, for the reason the rulebook does
(:mod:`features.rulebook`): training measures it on its evaluation year
(:mod:`training.thresholds`) and scoring applies it (:func:`risk.tiers.assign_tiers`, its public
home with the words), and ``training`` may not import ``risk``. It reads only feature columns
and numbers, never a table.

==========  ====================================================================================
red         a rule fired, or calibrated risk >= the red threshold (act today; never a top share)
yellow      this week's prevention list, per school: the highest-risk students up to the school's
            capacity (minus its red students), each at or above the yellow threshold, or carrying
            a trigger whose measured lift reaches ``[risk] min_trigger_lift``. A student already on
            the list (red or yellow a week earlier) stays while inside both margins: the school
            rank within capacity x ``[risk] exit_margin`` and the risk at or above the exit risk
            (``[risk] yellow_exit_risk``, default the yellow threshold / exit_margin). Outside
            either, the student stays one more week (``held:beyond_margin``) and leaves only after
            two weekly looks outside. Students held take places first: capacity stays a ceiling
blue        watch (关注): not listed, and risk doubled in 4 weeks above ``blue_min_risk``, or a
            trigger with measured lift; at most ``blue_max_share`` of the cohort (highest risk first)
none        the rest; a watched group (留守, 随迁, 困难, 残疾, ...) is a tag, never a colour
==========  ====================================================================================

A trigger (:data:`TRIGGERS`) without a measured lift (no thresholds from a model, or too few
students to measure it) is a fact in the reasons, not a condition.

>>> t = Thresholds(red_risk=0.2, yellow_risk=0.05, trigger_lift={"unexcused_10d": 3.0})
>>> sorted(t.lifted(2.0)), Thresholds.from_dict(t.as_dict()) == t
(['unexcused_10d'], True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, RiskConfig
from features.names import feature_names

__all__ = [
    "TRIGGERS",
    "WATCHED",
    "Thresholds",
    "column",
    "watched_group_masks",
    "trigger_masks",
    "rule_flag_mask",
    "exit_risk",
    "list_tiers",
]

#: deterministic triggers, in the order a condition names them
TRIGGERS: tuple[str, ...] = ("unexcused_10d", "academic_fall", "family_event")

#: watched group -> (features any of which > 0 puts a student in it, zh, en)
WATCHED: dict[str, tuple[tuple[str, ...], str, str]] = {
    "left_behind": (("lb_status",), "留守儿童", "left-behind child"),
    "migrant": (("lb_migrant_child",), "随迁子女", "migrant child"),
    "poor": (("hard_is_poor_any",), "家庭经济困难", "family in poverty"),
    "disabled_household": (
        ("hard_is_disabled_household", "hard_parent_ill"),
        "残疾或患病家庭",
        "disabled or ill parent",
    ),
    "orphan": (("hard_orphan", "hard_parent_died"), "孤儿或单亲", "orphan or bereaved"),
    "unsupported": (("hard_is_de_facto_unsupported",), "事实无人抚养", "de-facto unsupported"),
}


@dataclass(frozen=True)
class Thresholds:
    """The numbers the tiers use: red and yellow risk thresholds, and each trigger's measured lift
    (NaN or absent: not measured). ``source`` says where they come from ('model': chosen on the
    bundle's evaluation year; 'config': the ``[risk]`` defaults)."""

    red_risk: float
    yellow_risk: float
    trigger_lift: Mapping[str, float] = field(default_factory=dict)
    base_rate: float = float("nan")
    source: str = "config"

    def lifted(self, min_lift: float) -> frozenset[str]:
        """Triggers whose measured lift is at least ``min_lift``."""
        return frozenset(
            k for k, v in self.trigger_lift.items() if v is not None and not math.isnan(v) and v >= min_lift
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the bundle and MLflow keep this)."""
        return {
            "red_risk": float(self.red_risk),
            "yellow_risk": float(self.yellow_risk),
            "trigger_lift": {k: float(v) for k, v in self.trigger_lift.items()},
            "base_rate": float(self.base_rate),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Thresholds:
        return cls(
            red_risk=float(d["red_risk"]),
            yellow_risk=float(d["yellow_risk"]),
            trigger_lift={k: float(v) for k, v in dict(d.get("trigger_lift", {})).items()},
            base_rate=float(d.get("base_rate", float("nan"))),
            source=str(d.get("source", "model")),
        )

    @classmethod
    def from_config(cls, config: RiskConfig) -> Thresholds:
        """The ``[risk]`` defaults: no trigger has a measured lift."""
        return cls(red_risk=config.red_risk, yellow_risk=config.yellow_risk, source="config")


def column(features: pd.DataFrame, name: str) -> np.ndarray:
    """A feature as float64 (all-NaN when the column is absent, e.g. an optional table is missing)."""
    if name not in features:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def watched_group_masks(features: pd.DataFrame, groups: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Boolean mask per watched group, from the features (missing facts are not membership)."""
    out = {}
    for g in groups:
        cols, _, _ = WATCHED[g]
        mask = np.zeros(len(features), dtype=bool)
        for c in cols:
            mask |= np.nan_to_num(column(features, c), nan=0.0) > 0
        out[g] = mask
    return out


def trigger_masks(features: pd.DataFrame, config: BaoxueConfig | None = None) -> dict[str, np.ndarray]:
    """Each :data:`TRIGGERS` entry as a mask (missing columns never trigger).

    - ``unexcused_10d``: >= ``[risk] yellow_unexcused_days`` unexcused days in the last 10 school days;
    - ``academic_fall``: newly in the class's bottom share, or the grade percentile down by
      ``[risk] yellow_grade_drop`` since the last exam;
    - ``family_event``: a parent newly migrated, a bereavement or illness, a hardship status
      change in the last ``[features] recent_change_days``.

    >>> f = pd.DataFrame({"att_unexcused_days_10d": [3.0, 0.0], "acad_composite_pct_change": [-30.0, np.nan]})
    >>> {k: v.tolist() for k, v in trigger_masks(f).items()}
    {'unexcused_10d': [True, False], 'academic_fall': [True, False], 'family_event': [False, False]}
    """
    rc = config.risk if isinstance(config, BaoxueConfig) else RiskConfig()
    names = feature_names(config)
    with np.errstate(invalid="ignore"):
        unex = column(features, "att_unexcused_days_10d") >= rc.yellow_unexcused_days
        fall = (column(features, names.bottom_new) == 1) | (
            column(features, "acad_composite_pct_change") <= -rc.yellow_grade_drop
        )
        event = (
            (np.nan_to_num(column(features, names.family_event)) > 0)
            | (column(features, names.parent_left) == 1)
            | (column(features, names.status_change) == 1)
        )
    return {"unexcused_10d": unex, "academic_fall": fall, "family_event": event}


def rule_flag_mask(features: pd.DataFrame) -> np.ndarray:
    """True where an attendance rule flag (``att_rule_*``) is set: the red rules as a feature
    panel knows them (a registry mark needs the registry, so the evaluation year sees fewer)."""
    mask = np.zeros(len(features), dtype=bool)
    for c in features.columns:
        if str(c).startswith("att_rule_"):
            mask |= np.nan_to_num(column(features, c), nan=0.0) > 0
    return mask


def exit_risk(thresholds: Thresholds, config: RiskConfig | None = None) -> float:
    """The risk under which a listed student is outside the list's margin: ``[risk]
    yellow_exit_risk`` when set (never above the yellow threshold), else the yellow threshold /
    ``exit_margin``.

    >>> exit_risk(Thresholds(0.2, 0.05), RiskConfig()), exit_risk(Thresholds(0.2, 0.05), RiskConfig(yellow_exit_risk=0.03))
    (0.04, 0.03)
    """
    rc = config or RiskConfig()
    if rc.yellow_exit_risk > 0:
        return min(rc.yellow_exit_risk, thresholds.yellow_risk)
    return thresholds.yellow_risk / rc.exit_margin


def _rank_in(groups: np.ndarray, order: np.ndarray, member: np.ndarray) -> np.ndarray:
    """1-based position of each ``member`` row within its group along ``order`` (0 elsewhere)."""
    out = np.zeros(len(groups), dtype="int64")
    rows = order[member[order]]
    if len(rows):
        out[rows] = pd.Series(groups[rows]).groupby(groups[rows], sort=False).cumcount().to_numpy() + 1
    return out


def list_tiers(
    probability: np.ndarray,
    red_rule: np.ndarray,
    school: np.ndarray,
    capacity: np.ndarray,
    triggers: Mapping[str, np.ndarray],
    thresholds: Thresholds,
    config: RiskConfig | None = None,
    *,
    previous: np.ndarray | None = None,
    prior_tier: np.ndarray | None = None,
    prior_condition: np.ndarray | None = None,
    tie: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tier and condition code of every student (the policy of the module notes).

    Parameters
    ----------
    probability : array
        Calibrated risk.
    red_rule : bool array
        A red rule fired.
    school, capacity : arrays
        Each student's school and that school's capacity (prevention places).
    triggers : mapping
        :func:`trigger_masks`.
    thresholds : Thresholds
    config : RiskConfig, optional
        ``min_trigger_lift``, ``exit_margin``, ``blue_*``.
    previous : array, optional
        Risk ~4 weeks earlier (NaN: unknown), for "risk doubled".
    prior_tier, prior_condition : arrays of str, optional
        Tier and tier condition in the snapshot about a week earlier ('' when not scored then);
        a student red or yellow there is a candidate to stay on the list.
    tie : uint64 array, optional
        Orders equal risks (:func:`risk.rank.tie_keys`); default the row order.

    Returns
    -------
    tier, condition : object arrays
        ``tier`` in red / yellow / blue / none; ``condition`` codes: ``rule`` (the caller names the
        rule), ``risk>=T``, ``trigger:NAME``, ``held:within_margin``, ``held:beyond_margin``,
        ``risk_xR_4w``, ``''``.

    Examples
    --------
    >>> p = np.array([0.5, 0.2, 0.06, 0.04, 0.01, 0.01])
    >>> th = Thresholds(red_risk=0.3, yellow_risk=0.05, trigger_lift={"unexcused_10d": 4.0})
    >>> trig = {"unexcused_10d": np.array([0, 0, 0, 0, 1, 0], bool)}
    >>> tier, cond = list_tiers(p, np.zeros(6, bool), np.array(["A"] * 6), np.full(6, 3), trig, th,
    ...                         RiskConfig(blue_max_share=0.5))
    >>> tier.tolist(), cond.tolist()
    (['red', 'yellow', 'yellow', 'none', 'blue', 'none'], ['risk>=0.3', 'risk>=0.05', 'risk>=0.05', '', 'trigger:unexcused_10d', ''])

    Capacity 3 with one red student leaves two places, for the two students above the yellow
    threshold; the student with a lifted trigger finds no place and is blue; 0.04 is below the
    threshold and no place is given to it (a free place stays free). Blue may cover half of this
    tiny cohort here (the default is 10%).
    """
    rc = config or RiskConfig()
    p = np.asarray(probability, dtype="float64")
    n = len(p)
    school = np.asarray(school).astype(str)
    cap = np.asarray(capacity, dtype="float64")
    tier = np.full(n, "none", dtype=object)
    cond = np.full(n, "", dtype=object)
    if n == 0:
        return tier, cond
    tie = np.arange(n, dtype="uint64") if tie is None else np.asarray(tie)
    order = np.lexsort((tie, -p))

    red = np.asarray(red_rule, dtype=bool) | (p >= thresholds.red_risk)
    tier[red] = "red"
    cond[red] = np.where(np.asarray(red_rule, dtype=bool)[red], "rule", f"risk>={thresholds.red_risk:g}")

    lifted = thresholds.lifted(rc.min_trigger_lift)
    trig_name = np.full(n, "", dtype=object)
    for name in reversed(TRIGGERS):  # the first trigger in TRIGGERS order names the condition
        if name in lifted and name in triggers:
            trig_name[np.asarray(triggers[name], dtype=bool)] = name
    has_trig = trig_name != ""
    by_risk = p >= thresholds.yellow_risk
    eligible = ~red & (by_risk | has_trig)

    # per school: places left after red; the school rank of the non-red students
    red_in_school = pd.Series(red).groupby(school).transform("sum").to_numpy()
    places = np.maximum(cap - red_in_school, 0)
    rank_nr = _rank_in(school, order, ~red)
    margin = np.floor(cap * rc.exit_margin)
    if prior_tier is not None:
        before_tier = pd.Series(prior_tier, dtype="object").fillna("").astype(str).to_numpy()
        before_cond = (
            np.full(n, "", dtype=object)
            if prior_condition is None
            else pd.Series(prior_condition, dtype="object").fillna("").astype(str).to_numpy()
        )
        was_listed = np.isin(before_tier, ["red", "yellow"]) & ~red
        was_beyond = before_cond == "held:beyond_margin"
        # inside both margins: the school rank within capacity x exit_margin, and the risk at or
        # above the exit risk (or a lifted trigger); outside either, one more week, then off
        inside = ((p >= exit_risk(thresholds, rc)) | has_trig) & (rank_nr <= margin)
        stays = was_listed & (inside | ~was_beyond)
    else:
        inside = np.ones(n, dtype=bool)
        stays = np.zeros(n, dtype=bool)

    # fill each school's places: students staying first (highest rank first), then the eligible
    taken = np.zeros(n, dtype=bool)
    pos_stay = _rank_in(school, order, stays)
    taken |= stays & (pos_stay <= places)
    n_stay = pd.Series(taken).groupby(school).transform("sum").to_numpy()
    pos_new = _rank_in(school, order, eligible & ~taken)
    taken |= eligible & ~taken & (pos_new <= places - n_stay)

    yellow = taken
    tier[yellow] = "yellow"
    beyond = yellow & stays & ~inside
    held = yellow & stays & ~eligible & ~beyond | (yellow & stays & (rank_nr > places) & ~beyond)
    cond[yellow] = np.where(
        by_risk[yellow], f"risk>={thresholds.yellow_risk:g}", "trigger:" + trig_name[yellow]
    )
    cond[held] = "held:within_margin"
    cond[beyond] = "held:beyond_margin"

    # blue: rising fast or a lifted trigger, not listed; at most blue_max_share, highest risk first
    rest = ~red & ~yellow
    doubled = np.zeros(n, dtype=bool)
    if previous is not None:
        before = np.asarray(previous, dtype="float64")
        with np.errstate(invalid="ignore"):
            doubled = (p >= rc.blue_min_risk) & (before > 0) & (p >= rc.blue_risk_ratio * before)
    blue_cand = rest & (doubled | has_trig)
    k = int(np.floor(rc.blue_max_share * n))
    pos_blue = _rank_in(np.zeros(n, dtype="int64"), order, blue_cand)
    blue = blue_cand & (pos_blue <= k)
    tier[blue] = "blue"
    cond[blue] = np.where(doubled[blue], f"risk_x{rc.blue_risk_ratio:g}_4w", "trigger:" + trig_name[blue])
    return tier, cond
