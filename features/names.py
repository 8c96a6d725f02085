"""The feature columns whose name carries a number the configuration sets.

A column name never lies about its window or threshold: where the number is a config
value the name is built from the config, as the attendance windows already are
(``att_unexcused_days_{w}d`` for each ``[features] recent_windows`` window). With the
default configuration the names are the ones the model bundles and reports have always
used.

==========================  ==================================================================
name (default)              number from
==========================  ==================================================================
``hard_status_change_90d``  ``[features] recent_change_days`` (90 calendar days)
``hard_family_event_90d``   ``[features] recent_change_days``
``lb_parent_left_90d``      ``[features] recent_change_days``
``att_leave_over5_term``    ``[rules] principal_leave_days`` (a leave longer than 5 school days)
``acad_bottom20_class``     ``[features] bottom_share`` (0.20: the class's bottom 20%)
``acad_bottom20_new``       ``[features] bottom_share``
==========================  ==================================================================

Builders, the catalogue and every consumer (tiers, reasons, the rule baseline) take the
names from :func:`feature_names`, never from a literal; :func:`config_for_name` goes the
other way (the settings under which a column of that name exists).

>>> n = feature_names()
>>> n.family_event, n.long_leave, n.bottom_class
('hard_family_event_90d', 'att_leave_over5_term', 'acad_bottom20_class')
>>> from features.config import BaoxueConfig, FeaturesConfig
>>> feature_names(BaoxueConfig(features=FeaturesConfig(recent_change_days=60, bottom_share=0.15))).parent_left
'lb_parent_left_60d'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from features.config import BaoxueConfig, feature_settings

__all__ = ["FeatureNames", "feature_names", "config_for_name", "percent_label"]


def percent_label(share: float) -> str:
    """A share as the percent written in a name: 0.2 -> '20', 0.125 -> '12_5'.

    >>> percent_label(0.2), percent_label(0.125)
    ('20', '12_5')
    """
    return f"{round(100 * share, 6):g}".replace(".", "_")


@dataclass(frozen=True)
class FeatureNames:
    """The configured numbers and the column names built from them."""

    recent_days: int  # [features] recent_change_days
    leave_days: int  # [rules] principal_leave_days
    bottom_percent: str  # [features] bottom_share as written in names and sentences ('20')

    @property
    def status_change(self) -> str:
        """Hardship status started or ended in the last ``recent_days`` days."""
        return f"hard_status_change_{self.recent_days}d"

    @property
    def family_event(self) -> str:
        """Family events in the last ``recent_days`` days."""
        return f"hard_family_event_{self.recent_days}d"

    @property
    def parent_left(self) -> str:
        """A parent newly left for work in the last ``recent_days`` days."""
        return f"lb_parent_left_{self.recent_days}d"

    @property
    def long_leave(self) -> str:
        """A leave this term longer than ``leave_days`` school days (the principal's approval)."""
        return f"att_leave_over{self.leave_days}_term"

    @property
    def bottom_class(self) -> str:
        """学困生: in the bottom ``bottom_percent`` % of the class."""
        return f"acad_bottom{self.bottom_percent}_class"

    @property
    def bottom_new(self) -> str:
        """Newly in the bottom ``bottom_percent`` % of the class since the previous exam."""
        return f"acad_bottom{self.bottom_percent}_new"


def feature_names(config: BaoxueConfig | None = None) -> FeatureNames:
    """The configured column names of ``config`` (the defaults for ``None``)."""
    fc, rules = feature_settings(config)
    return FeatureNames(
        recent_days=int(fc.recent_change_days),
        leave_days=int(rules.principal_leave_days),
        bottom_percent=percent_label(fc.bottom_share),
    )


_RECENT = re.compile(r"^(?:hard_status_change|hard_family_event|lb_parent_left)_(\d+)d$")
_LEAVE = re.compile(r"^att_leave_over(\d+)_term$")
_BOTTOM = re.compile(r"^acad_bottom(\d+(?:_\d+)?)_(?:class|new)$")
_WINDOW = re.compile(r"^att_(?:absence_rate|unexcused_rate|unexcused_days|absence_trend)_(\d+)d$")


def config_for_name(name: str, config: BaoxueConfig | None = None) -> BaoxueConfig | None:
    """``config`` (default: the defaults) changed so that a column called ``name`` exists,
    or None when ``name`` carries no configured number.

    >>> config_for_name("hard_family_event_60d").features.recent_change_days
    60
    >>> config_for_name("acad_bottom12_5_new").features.bottom_share
    0.125
    >>> config_for_name("lb_status") is None
    True
    """
    cfg = config or BaoxueConfig()
    fc, rules = cfg.features, cfg.rules
    if m := _RECENT.match(name):
        return replace(cfg, features=replace(fc, recent_change_days=int(m.group(1))))
    if m := _LEAVE.match(name):
        return replace(cfg, rules=replace(rules, principal_leave_days=int(m.group(1))))
    if m := _BOTTOM.match(name):
        return replace(cfg, features=replace(fc, bottom_share=float(m.group(1).replace("_", ".")) / 100))
    if m := _WINDOW.match(name):
        return replace(cfg, features=replace(fc, recent_windows=(int(m.group(1)),)))
    return None
