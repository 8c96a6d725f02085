"""Red / yellow / blue (红黄蓝三色预警) as DOMAIN.md defines them, each with the condition that set it.

The conditions are checked in precedence order; the first that holds sets the tier and
is recorded (``tier_condition`` code and a sentence in zh / en). All thresholds are
``[risk]`` configuration; a fired rule is named in the words of ``[rules]``
(:meth:`risk.rules.Rule.label`).

==========  ====================================================================================
red         any rule fires (named in the one severity order :data:`risk.rules.RULE_SEVERITY`:
            registry mark, 5 days, >3 days, 48 h, unapproved long leave), or
            calibrated risk >= ``red_risk``, or among the run's top ``red_top_share``
yellow      >= ``yellow_unexcused_days`` unexcused days in the last 10 school days; or an
            academic fall (newly in the class's bottom 20%, or the grade percentile down by
            ``yellow_grade_drop`` — one level of four — since the last exam); or a new family
            event in the last 90 days (parent newly migrated, bereavement, illness, a hardship
            status change); or risk >= ``yellow_risk`` (or the next ``yellow_top_share``)
blue        no rule fires, and the student is in a watched group (``watched_groups``:
            left-behind, migrant, poor, disabled household, orphan, de-facto unsupported) or
            the risk is at least ``blue_risk_ratio`` times the risk ~4 weeks ago (and at
            least ``blue_min_risk``)
none        none of the above
==========  ====================================================================================

Examples
--------
>>> f = pd.DataFrame({"att_unexcused_days_10d": [0.0, 3.0, 0.0, 0.0], "lb_status": [0.0, 0.0, 1.0, 0.0]},
...                  index=["a", "b", "c", "d"])
>>> p = pd.Series([0.30, 0.02, 0.01, 0.01], index=f.index)
>>> t = assign_tiers(p, pd.Series(["", "", "", ""], index=f.index), f)
>>> t[["tier", "tier_condition"]].values.tolist()
[['red', 'risk>=0.25'], ['yellow', 'unexcused_days_10d>=2'], ['blue', 'watched:left_behind'], ['none', '']]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, RiskConfig, RulesConfig
from features.names import feature_names
from risk.rules import RULE_SEVERITY, RULEBOOK
from risk.snapshot import TIERS

__all__ = ["TIER_COLUMNS", "assign_tiers", "watched_group_masks"]

#: columns of :func:`assign_tiers`
TIER_COLUMNS = ("tier", "tier_condition", "tier_reason_zh", "tier_reason_en")

# watched group -> (features any of which == 1 / > 0 puts a student in it, zh, en)
_WATCHED: dict[str, tuple[tuple[str, ...], str, str]] = {
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


def _config(config: BaoxueConfig | RiskConfig | None) -> RiskConfig:
    if config is None:
        return RiskConfig()
    return config if isinstance(config, RiskConfig) else config.risk


def _col(features: pd.DataFrame, name: str) -> np.ndarray:
    """A feature as float64 (all-NaN when the column is absent, e.g. an optional table is missing)."""
    if name not in features:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def watched_group_masks(features: pd.DataFrame, groups: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Boolean mask per watched group, from the features (missing facts are not membership)."""
    out = {}
    for g in groups:
        cols, _, _ = _WATCHED[g]
        mask = np.zeros(len(features), dtype=bool)
        for c in cols:
            mask |= np.nan_to_num(_col(features, c), nan=0.0) > 0
        out[g] = mask
    return out


def _top_share(rank: np.ndarray, share: float) -> np.ndarray:
    """True for the ceil(share * n) first students in the county order (1-based ``rank``,
    ties already broken, so exactly that many even where calibrated risks tie)."""
    k = int(np.ceil(share * len(rank))) if share > 0 else 0
    return rank <= k


def assign_tiers(
    probability: pd.Series,
    rules: pd.Series,
    features: pd.DataFrame,
    *,
    previous: pd.Series | None = None,
    rank: pd.Series | None = None,
    config: BaoxueConfig | RiskConfig | None = None,
    rules_config: RulesConfig | None = None,
) -> pd.DataFrame:
    """The tier of every student and the condition that set it.

    Parameters
    ----------
    probability : Series
        Calibrated risk, indexed by ``student_id``.
    rules : Series
        ';'-joined rule codes per student ('' when none), same index.
    features : DataFrame
        The feature matrix (same index); missing columns count as unknown (never a trigger).
    previous : Series, optional
        Risk of the same students about 4 weeks earlier (for "risk doubled").
    rank : Series, optional
        County rank (1 = highest risk, ties broken; :func:`risk.rank.county_rank`) for the
        top shares; by default the order of ``probability`` with ties in index order.
    config : BaoxueConfig or RiskConfig, optional
    rules_config : RulesConfig, optional
        ``[rules]``, for the words of a fired rule (its configured threshold); by default
        ``config.rules`` when ``config`` is a :class:`BaoxueConfig`, else the defaults.
        Which fired rule a red tier names follows :data:`risk.rules.RULE_SEVERITY`.

    Returns
    -------
    DataFrame
        Same index; columns :data:`TIER_COLUMNS` (``tier`` is a category of :data:`TIERS`).
    """
    rc = _config(config)
    if rules_config is None and isinstance(config, BaoxueConfig):
        rules_config = config.rules
    # configured column names (defaults when only the [risk] section is given)
    names = feature_names(config if isinstance(config, BaoxueConfig) else None)
    idx = probability.index
    p = probability.to_numpy(dtype="float64")
    n = len(idx)
    tier = np.full(n, "none", dtype=object)
    code = np.full(n, "", dtype=object)
    zh = np.full(n, "", dtype=object)
    en = np.full(n, "", dtype=object)
    open_ = np.ones(n, dtype=bool)

    def put(mask: np.ndarray, t: str, c: str, z: str, e: str) -> None:
        nonlocal open_
        m = mask & open_
        tier[m], code[m], zh[m], en[m] = t, c, z, e
        open_ &= ~m

    if rank is None:
        r = np.empty(n, dtype="int64")
        r[np.argsort(-p, kind="stable")] = np.arange(1, n + 1)
    else:
        r = rank.reindex(idx).to_numpy(dtype="int64")
    fired = rules.reindex(idx).fillna("").astype("str").to_numpy()
    alerted = np.flatnonzero(fired != "")  # few students: split their codes once, not per rule
    codes = [set(fired[i].split(";")) for i in alerted]
    for rule in RULE_SEVERITY:
        rz, re_ = RULEBOOK[rule].label(rules_config, "zh"), RULEBOOK[rule].label(rules_config, "en")
        has = np.zeros(n, dtype=bool)
        has[alerted] = [rule in c for c in codes]
        put(has, "red", f"rule:{rule}", f"规则触发: {rz}", f"rule fired: {re_}")
    put(
        p >= rc.red_risk,
        "red",
        f"risk>={rc.red_risk:g}",
        f"风险≥{rc.red_risk:.0%}",
        f"risk ≥ {rc.red_risk:.0%}",
    )
    top_red = _top_share(r, rc.red_top_share)
    put(
        top_red,
        "red",
        f"top_share<={rc.red_top_share:g}",
        f"风险位于全县前{rc.red_top_share:.0%}",
        f"in the county's top {rc.red_top_share:.0%} by risk",
    )

    unex = _col(features, "att_unexcused_days_10d")
    put(
        unex >= rc.yellow_unexcused_days,
        "yellow",
        f"unexcused_days_10d>={rc.yellow_unexcused_days}",
        f"近10个上课日无故缺勤≥{rc.yellow_unexcused_days}天",
        f"≥{rc.yellow_unexcused_days} unexcused days in the last 10 school days",
    )
    fall = (_col(features, names.bottom_new) == 1) | (
        _col(features, "acad_composite_pct_change") <= -rc.yellow_grade_drop
    )
    bottom = names.bottom_percent.replace("_", ".")
    put(
        fall,
        "yellow",
        "academic_fall",
        f"成绩明显下滑或新落入班级后{bottom}%",
        f"grades fell (a level down or into the bottom {bottom}%)",
    )
    event = (
        (np.nan_to_num(_col(features, names.family_event)) > 0)
        | (_col(features, names.parent_left) == 1)
        | (_col(features, names.status_change) == 1)
    )
    d = names.recent_days
    put(event, "yellow", f"family_event_{d}d", f"近{d}天家庭发生变故", f"a family event in the last {d} days")
    put(
        p >= rc.yellow_risk,
        "yellow",
        f"risk>={rc.yellow_risk:g}",
        f"风险≥{rc.yellow_risk:.0%}",
        f"risk ≥ {rc.yellow_risk:.0%}",
    )
    if rc.yellow_top_share > 0:
        put(
            _top_share(r, rc.red_top_share + rc.yellow_top_share),
            "yellow",
            f"top_share<={rc.red_top_share + rc.yellow_top_share:g}",
            f"风险位于全县前{rc.red_top_share + rc.yellow_top_share:.0%}",
            f"in the county's top {rc.red_top_share + rc.yellow_top_share:.0%} by risk",
        )

    if previous is not None:
        before = previous.reindex(idx).to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            doubled = (p >= rc.blue_min_risk) & (before > 0) & (p >= rc.blue_risk_ratio * before)
        put(
            doubled,
            "blue",
            f"risk_x{rc.blue_risk_ratio:g}_4w",
            f"风险4周内升至{rc.blue_risk_ratio:g}倍以上",
            f"risk up {rc.blue_risk_ratio:g}x or more in 4 weeks",
        )
    for group, mask in watched_group_masks(features.reindex(idx), rc.watched_groups).items():
        _, gz, ge = _WATCHED[group]
        put(mask, "blue", f"watched:{group}", f"重点监测群体: {gz}", f"watched group: {ge}")

    return pd.DataFrame(
        {
            "tier": pd.Categorical(tier, categories=list(TIERS)),
            "tier_condition": pd.array(code, dtype="str"),
            "tier_reason_zh": pd.array(zh, dtype="str"),
            "tier_reason_en": pd.array(en, dtype="str"),
        },
        index=idx,
    )
