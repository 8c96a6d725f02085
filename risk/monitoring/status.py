"""The retraining rule: ``ok``, ``watch`` or ``retrain``, and the reasons in words.

``retrain`` when any of:

- the inputs drifted: at least ``drift_share`` of the features drift (Evidently's dataset
  drift, :mod:`risk.monitoring.drift`);
- realised calibration is out of bounds: the ECE over the judged nights, and in the latest
  judged month, is above ``max_ece``; or the observed-to-expected ratio of dropouts over the
  judged nights has its 95% interval wholly outside ``[oe_min, oe_max]`` (a model that
  expects several times the dropouts that happen, which ECE misses when rates are small;
  supports lower the observed count, so the lower bound is loose);
- the realised precision at capacity is below the evaluation's interval: its Wilson
  interval lies wholly under the precision the evaluation measured (beware: supports lower
  the realised rate, so this rule fires late rather than early);
- a new school year: the night is at least two school years after the last as-of date the
  model learnt from, so a whole labelled year is unseen.

``watch`` when, short of that: a quarter or more of the features drift, one month's ECE is
out of bounds, realised precision on some list is below the interval the model expects, a
class stopped sending attendance, a school stopped recording an attendance status (迟到), or a
table is stale. Otherwise ``ok``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from features.time import school_year_of

__all__ = ["Thresholds", "StatusDecision", "decide_status", "STATUSES"]

STATUSES = ("ok", "watch", "retrain")


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The monitor's bounds (one place; the lead may move them into ``[monitor]``)."""

    min_cell: int = 10  # group cells with fewer listed children / dropouts are suppressed
    drift_threshold: float = 0.1  # Evidently: normed Wasserstein / Jensen-Shannon per feature
    drift_share: float = 0.5  # Evidently: share of drifted features = dataset drift -> retrain
    watch_drift_share: float = 0.25  # share of drifted features -> watch
    max_ece: float = 0.05  # realised ECE above this is out of bounds
    oe_min: float = 0.5  # observed / expected dropouts: an interval wholly below this is out of bounds
    oe_max: float = 2.0  # ... or wholly above this
    school_years: int = 2  # retrain this many school years after the model's last as-of date
    n_bins: int = 10

    def __post_init__(self) -> None:
        for name in ("drift_threshold", "drift_share", "watch_drift_share", "max_ece"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise ValueError(f"[monitor] {name} must be in (0, 1], got {v}")
        if not 0 < self.oe_min < 1 < self.oe_max:
            raise ValueError(f"[monitor] need 0 < oe_min < 1 < oe_max, got {self.oe_min}, {self.oe_max}")
        if self.min_cell < 1:
            raise ValueError(f"[monitor] min_cell must be >= 1, got {self.min_cell}")


@dataclass(frozen=True)
class StatusDecision:
    status: str
    reasons: list[str] = field(default_factory=list)
    watch: list[str] = field(default_factory=list)


def decide_status(
    *,
    as_of: dt.date,
    thresholds: Thresholds,
    drift_share: float | None = None,
    overall_ece: float | None = None,
    latest_month_ece: float | None = None,
    any_month_out: bool = False,
    oe: tuple[float, float, float] | None = None,
    capacity_high: float | None = None,
    evaluated_precision: float | None = None,
    below_expected: list[str] | None = None,
    stopped_classes: list[str] | None = None,
    stopped_statuses: list[str] | None = None,
    stale_tables: list[str] | None = None,
    last_trained_as_of: dt.date | None = None,
) -> StatusDecision:
    """Apply the rule (module docstring) to the monitor's figures; missing figures are skipped.

    >>> t = Thresholds()
    >>> decide_status(as_of=dt.date(2025, 3, 1), thresholds=t, drift_share=0.6).status
    'retrain'
    >>> d = decide_status(as_of=dt.date(2025, 3, 1), thresholds=t, drift_share=0.3, stopped_classes=["s1/c2"])
    >>> d.status, d.watch[1]
    ('watch', '1 个班级停止报送考勤 (class stopped sending attendance): s1/c2')
    >>> decide_status(as_of=dt.date(2026, 9, 10), thresholds=t, last_trained_as_of=dt.date(2024, 3, 1)).status
    'retrain'
    >>> decide_status(as_of=dt.date(2025, 3, 1), thresholds=t, oe=(0.15, 0.06, 0.3)).reasons[0][:33]
    '整体校准偏离 (calibration in the large)'
    """
    t = thresholds
    retrain, watch = [], []

    def ok(v: float | None) -> bool:
        return v is not None and not math.isnan(v)

    if ok(drift_share):
        if drift_share >= t.drift_share:
            retrain.append(f"输入漂移 (input drift): {drift_share:.0%} 的特征漂移, 阈值 {t.drift_share:.0%}")
        elif drift_share >= t.watch_drift_share:
            watch.append(f"部分输入漂移 (some input drift): {drift_share:.0%} 的特征漂移")
    if (
        ok(overall_ece)
        and overall_ece > t.max_ece
        and (not ok(latest_month_ece) or latest_month_ece > t.max_ece)
    ):
        retrain.append(f"校准超出范围 (calibration out of bounds): ECE {overall_ece:.3f} > {t.max_ece}")
    elif any_month_out:
        watch.append(f"某月校准超出范围 (a month's ECE above {t.max_ece})")
    if oe is not None and ok(oe[0]) and (oe[2] < t.oe_min or oe[1] > t.oe_max):
        retrain.append(
            f"整体校准偏离 (calibration in the large): 实际/预期辍学 O/E {oe[0]:.2f} (95% {oe[1]:.2f}–{oe[2]:.2f}) "
            f"超出 [{t.oe_min}, {t.oe_max}]"
        )
    if ok(capacity_high) and ok(evaluated_precision) and capacity_high < evaluated_precision:
        retrain.append(
            f"容量内精确率低于评估 (precision at capacity below the evaluation): 实际区间上限 "
            f"{capacity_high:.3f} < 评估 {evaluated_precision:.3f}"
        )
    if (
        last_trained_as_of is not None
        and school_year_of(as_of) - school_year_of(last_trained_as_of) >= t.school_years
    ):
        retrain.append(
            f"新学年 (new school year): 模型最后学习的日期 {last_trained_as_of}, 已过 "
            f"{school_year_of(as_of) - school_year_of(last_trained_as_of)} 个学年"
        )
    if below_expected:
        watch.append(
            f"实际精确率低于预期区间 (realised precision below expected): {', '.join(below_expected)}"
        )
    if stopped_classes:
        watch.append(
            f"{len(stopped_classes)} 个班级停止报送考勤 (class stopped sending attendance): {', '.join(stopped_classes)}"
        )
    if stopped_statuses:
        watch.append(
            f"学校停止记录某类考勤状态 (a school stopped recording an attendance status, e.g. 迟到 late): "
            f"{', '.join(stopped_statuses)}"
        )
    if stale_tables:
        watch.append(f"数据表过期 (stale tables): {', '.join(stale_tables)}")
    status = "retrain" if retrain else "watch" if watch else "ok"
    return StatusDecision(status=status, reasons=retrain + watch, watch=watch)
