"""Red / yellow / blue (红黄蓝三色预警) with the condition that set each, and the watched-group tags.

The policy is :func:`features.tiering.list_tiers` (read its notes): red = a rule fired or the
calibrated risk reaches the red threshold; yellow = the school's prevention list, the
highest-risk students at or above the yellow threshold (or with a trigger of measured lift) up
to the school's capacity, kept stable by ``[risk] exit_margin``; blue = watch, rising fast or a
trigger of measured lift, at most ``[risk] blue_max_share`` of the cohort. The thresholds and
trigger lifts come from the model bundle (chosen on its evaluation year, :mod:`training.thresholds`)
or from ``[risk]``. This module adds the words (``tier_condition`` code and a sentence in zh /
en; a fired rule is named in the words of ``[rules]``, :meth:`risk.rules.Rule.label`, in the one
severity order :data:`risk.rules.RULE_SEVERITY`) and the ``tags`` column (watched groups:
left-behind, migrant, poor, ...; a tag alone flags no one).

Examples
--------
>>> f = pd.DataFrame({"att_unexcused_days_10d": [0.0, 3.0, 0.0, 0.0], "lb_status": [0.0, 0.0, 1.0, 0.0]},
...                  index=["a", "b", "c", "d"])
>>> p = pd.Series([0.30, 0.02, 0.05, 0.01], index=f.index)
>>> t = assign_tiers(p, pd.Series(["", "", "", ""], index=f.index), f)
>>> t[["tier", "tier_condition", "tags"]].values.tolist()
[['red', 'risk>=0.1', ''], ['none', '', ''], ['yellow', 'risk>=0.03', 'left_behind'], ['none', '', '']]

Student b's two unexcused days are a fact, not a colour: no model measured that trigger's lift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, RiskConfig, RulesConfig
from features.names import feature_names
from features.tiering import (
    TRIGGERS,
    WATCHED,
    Thresholds,
    list_tiers,
    trigger_masks,
    watched_group_masks,
)
from risk.rules import RULE_SEVERITY, RULEBOOK
from risk.snapshot import TIERS

__all__ = ["TIER_COLUMNS", "Thresholds", "assign_tiers", "watched_group_masks", "tags_of", "trigger_words"]

#: columns of :func:`assign_tiers`
TIER_COLUMNS = ("tier", "tier_condition", "tier_reason_zh", "tier_reason_en", "tags")


def _config(config: BaoxueConfig | RiskConfig | None) -> RiskConfig:
    if config is None:
        return RiskConfig()
    return config if isinstance(config, RiskConfig) else config.risk


def tags_of(features: pd.DataFrame, groups: tuple[str, ...]) -> pd.Series:
    """';'-joined watched-group codes of every student ('' when none), in ``groups`` order.

    >>> tags_of(pd.DataFrame({"lb_status": [1.0, 0.0], "hard_is_poor_any": [1.0, np.nan]}), ("left_behind", "poor")).tolist()
    ['left_behind;poor', '']
    """
    masks = watched_group_masks(features, groups)
    out = np.full(len(features), "", dtype=object)
    for g in groups:
        m = masks[g]
        out[m] = np.where(out[m] == "", g, out[m] + ";" + g)
    return pd.Series(pd.array(out, dtype="str"), index=features.index, name="tags")


def trigger_words(name: str, config: BaoxueConfig | None = None) -> tuple[str, str]:
    """A trigger (:data:`features.tiering.TRIGGERS`) in words, zh and en, under ``config``'s names.

    >>> trigger_words("unexcused_10d")[0]
    '近10个上课日无故缺勤≥2天'
    """
    rc = _config(config)
    names = feature_names(config if isinstance(config, BaoxueConfig) else None)
    if name == "unexcused_10d":
        d = rc.yellow_unexcused_days
        return f"近10个上课日无故缺勤≥{d}天", f"≥{d} unexcused days in the last 10 school days"
    if name == "academic_fall":
        b = names.bottom_percent.replace("_", ".")
        return f"成绩明显下滑或新落入班级后{b}%", f"grades fell (a level down or into the bottom {b}%)"
    if name == "family_event":
        d = names.recent_days
        return f"近{d}天家庭发生变故", f"a family event in the last {d} days"
    raise KeyError(f"unknown trigger {name!r}; known: {', '.join(TRIGGERS)}")


def _words(code: str, th: Thresholds, rc: RiskConfig, config: BaoxueConfig | None) -> tuple[str, str]:
    if code.startswith("risk>=") and code == f"risk>={th.red_risk:g}":
        return f"风险≥{th.red_risk:.1%}（立即处理）", f"risk ≥ {th.red_risk:.1%} (act today)"
    if code.startswith("risk>="):
        return (f"风险≥{th.yellow_risk:.1%}，位于本校预防名单内", f"risk ≥ {th.yellow_risk:.1%}, within the school's prevention list")  # fmt: skip
    if code.startswith("trigger:"):
        z, e = trigger_words(code.split(":", 1)[1], config)
        return z + "（经验证的预警信号）", e + " (a trigger with measured lift)"
    if code == "held:within_margin":
        return (
            "上周在名单上，排名和风险仍在余量内，继续跟进",
            "on last week's list and still within the rank and risk margins",
        )
    if code == "held:beyond_margin":
        return (
            "上周在名单上，本周排名或风险超出余量（下周仍超出则移出名单）",
            "on last week's list, now beyond the rank or risk margin (leaves if still beyond next week)",
        )
    if code.startswith("risk_x"):
        r = rc.blue_risk_ratio
        return f"风险4周内升至{r:g}倍以上", f"risk up {r:g}x or more in 4 weeks"
    return "", ""


def assign_tiers(
    probability: pd.Series,
    rules: pd.Series,
    features: pd.DataFrame,
    *,
    school: pd.Series | None = None,
    capacity: pd.Series | None = None,
    previous: pd.Series | None = None,
    prior: pd.DataFrame | None = None,
    thresholds: Thresholds | None = None,
    tie: np.ndarray | None = None,
    config: BaoxueConfig | RiskConfig | None = None,
    rules_config: RulesConfig | None = None,
) -> pd.DataFrame:
    """The tier of every student, the condition that set it, and the watched-group tags.

    Parameters
    ----------
    probability : Series
        Calibrated risk, indexed by ``student_id``.
    rules : Series
        ';'-joined rule codes per student ('' when none), same index.
    features : DataFrame
        The feature matrix (same index); missing columns count as unknown (never a trigger).
    school : Series, optional
        Each student's school (default: one school for the whole run).
    capacity : Series, optional
        Prevention places per school (:func:`risk.rank.school_capacity`; default
        ``[risk] capacity_per_school`` each).
    previous : Series, optional
        Risk of the same students about 4 weeks earlier (for "risk doubled").
    prior : DataFrame, optional
        ``tier`` and ``tier_condition`` of the snapshot about a week earlier (stable lists).
    thresholds : Thresholds, optional
        Red / yellow thresholds and trigger lifts (default: ``[risk]``, no trigger lift).
    tie : uint64 array, optional
        Orders equal risks (:func:`risk.rank.tie_keys`).
    config : BaoxueConfig or RiskConfig, optional
    rules_config : RulesConfig, optional
        ``[rules]``, for the words of a fired rule; by default ``config.rules`` when ``config``
        is a :class:`BaoxueConfig`, else the defaults.

    Returns
    -------
    DataFrame
        Same index; columns :data:`TIER_COLUMNS` (``tier`` is a category of :data:`TIERS`).
    """
    rc = _config(config)
    full = config if isinstance(config, BaoxueConfig) else None
    if rules_config is None and full is not None:
        rules_config = full.rules
    th = thresholds or Thresholds.from_config(rc)
    idx = probability.index
    feats = features.reindex(idx)
    p = probability.to_numpy(dtype="float64")
    n = len(idx)
    fired = rules.reindex(idx).fillna("").astype("str").to_numpy()
    sch = np.full(n, "", dtype=object) if school is None else school.reindex(idx).astype("str").to_numpy()
    if capacity is None:
        cap = np.full(n, rc.capacity_per_school, dtype="int64")
    else:
        cap = capacity.reindex(pd.Index(sch)).fillna(rc.capacity_per_school).to_numpy(dtype="int64")
    before = None if previous is None else previous.reindex(idx).to_numpy(dtype="float64", na_value=np.nan)
    p_tier = p_cond = None
    if prior is not None:
        p_tier = prior["tier"].astype("object").reindex(idx).to_numpy()
        p_cond = prior["tier_condition"].astype("object").reindex(idx).to_numpy()
    tier, code = list_tiers(
        p, fired != "", sch, cap, trigger_masks(feats, full), th, rc,
        previous=before, prior_tier=p_tier, prior_condition=p_cond, tie=tie,
    )  # fmt: skip

    zh = np.full(n, "", dtype=object)
    en = np.full(n, "", dtype=object)
    # a red rule: named by the most serious fired rule
    alerted = np.flatnonzero(code == "rule")
    for i in alerted:
        have = set(fired[i].split(";"))
        rule = next((r for r in RULE_SEVERITY if r in have), None)
        if rule is None:  # a code outside the registry still fired
            code[i], zh[i], en[i] = f"rule:{fired[i]}", "规则触发", "rule fired"
            continue
        code[i] = f"rule:{rule}"
        zh[i] = f"规则触发: {RULEBOOK[rule].label(rules_config, 'zh')}"
        en[i] = f"rule fired: {RULEBOOK[rule].label(rules_config, 'en')}"
    for c in pd.unique(code[(code != "") & (zh == "")]):
        m = (code == c) & (zh == "")
        zh[m], en[m] = _words(str(c), th, rc, full)
    return pd.DataFrame(
        {
            "tier": pd.Categorical(tier, categories=list(TIERS)),
            "tier_condition": pd.array(code, dtype="str"),
            "tier_reason_zh": pd.array(zh, dtype="str"),
            "tier_reason_en": pd.array(en, dtype="str"),
            "tags": tags_of(feats, rc.watched_groups).to_numpy(),
        },
        index=idx,
    )


#: watched group -> (zh, en) names (the tags' words)
TAG_WORDS: dict[str, tuple[str, str]] = {g: (z, e) for g, (_, z, e) in WATCHED.items()}
__all__ += ["TAG_WORDS"]
