"""The county's rules (控辍保学), one registry: each rule's code, threshold, comparison, severity,
whether it opens a case, and its words, built from the configured threshold.

:data:`RULEBOOK` is the one place a rule is defined. Its codes are the ``cases.trigger``
codes of the data contract; :mod:`risk.rules` evaluates the rules and is the public home of
this registry for ``risk`` and ``jobs`` code (it re-exports these names). The registry lives
here, in ``features``, for the same reason ``[rules]`` lives in :mod:`features.config`: the
data contract (:mod:`features.contract`) and the attendance flags ``att_rule_*``
(:mod:`features.attendance`, :mod:`features.catalog`) read it, and ``features`` may not import
``risk``.

- **Order.** :data:`RULEBOOK` lists the rules in display order (the order of a student's
  ``rules`` codes in the snapshot); :data:`RULE_SEVERITY` is the one severity order, most
  serious first, which both the red tier's condition (:func:`risk.tiers.assign_tiers`) and a
  case's ``trigger`` (:data:`CASE_RULES`, :func:`risk.assign.case_trigger`) follow. An
  official registry mark outranks a mark that is merely due.
- **Thresholds.** A rule with a threshold names its field of :class:`features.config.RulesConfig`
  and compares a count with it (``'>='`` or ``'>'``): :meth:`Rule.fires`.
- **Words.** Labels are templates filled from the configured threshold (``{n}`` = the
  threshold, ``{hours}`` = 24 × it): a county with ``registry_update_days = 7`` reads
  "连续7天无故缺勤", never "5".

Examples
--------
>>> seven = RulesConfig(registry_update_days=7)
>>> RULEBOOK["rule_5day"].label(seven), RULEBOOK["rule_5day"].label(seven, "en")
('连续7天无故缺勤 (须更新学籍)', '7 consecutive unexcused school days (registry update due)')
>>> RULEBOOK["rule_5day"].fires(6, seven), RULEBOOK["rule_5day"].fires(7, seven)
(False, True)
>>> RULE_SEVERITY
('registry_mark', 'rule_5day', 'rule_3day', 'rule_48h', 'leave_unapproved')
>>> CASE_RULES
('registry_mark', 'rule_5day', 'rule_3day', 'rule_48h')
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from features.config import RulesConfig

__all__ = [
    "Rule",
    "Comparison",
    "Counts",
    "RULEBOOK",
    "RULE_SEVERITY",
    "CASE_RULES",
    "STREAK_RULES",
    "rule_labels",
    "rule_names",
]

#: how a rule compares its count with its threshold
Comparison = Literal[">=", ">"]

#: what a rule looks at: the current run of unexcused school days (``att_unexcused_streak_current``),
#: the registry's open suspected-dropout mark, or the weekdays of a leave in force
Counts = Literal["unexcused_streak", "registry_mark", "leave_weekdays"]

_COMPARE = {">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Rule:
    """One county rule.

    ``zh`` / ``en`` (and ``flag_text``) are ``str.format`` templates with ``{n}`` (the
    configured threshold) and ``{hours}`` (24 × the threshold); a rule without a threshold has
    plain words.
    """

    code: str  # the cases.trigger / snapshot ``rules`` code
    counts: Counts
    threshold_field: str | None  # field of RulesConfig, None when the rule has no threshold
    comparison: Comparison | None  # count <comparison> threshold fires; None without a threshold
    severity: int  # 1 = most serious; the one order of tiers and cases
    opens_case: bool  # opens / updates a suspected-dropout case (the case's trigger)
    zh: str
    en: str
    flag: str | None = None  # the att_rule_* feature that flags the rule on as_of
    flag_text: tuple[str, str, str, str] | None = None  # the flag's catalogue zh, en, reason_zh, reason_en

    def __post_init__(self) -> None:
        if (self.threshold_field is None) != (self.comparison is None):
            raise ValueError(f"rule {self.code}: a threshold field needs a comparison and vice versa")
        if self.threshold_field is not None and self.threshold_field not in RulesConfig.__dataclass_fields__:
            raise ValueError(f"rule {self.code}: [rules] has no field {self.threshold_field!r}")
        if (self.counts == "unexcused_streak") != (self.flag is not None and self.flag_text is not None):
            raise ValueError(
                f"rule {self.code}: a streak rule, and only one, has an att_rule_* flag and its words"
            )
        if self.comparison is not None and self.comparison not in _COMPARE:
            raise ValueError(f"rule {self.code}: comparison must be '>=' or '>', got {self.comparison!r}")

    def threshold(self, rules: RulesConfig | None = None) -> int | None:
        """The configured threshold (``[rules]``; defaults for ``None``), or ``None`` without one.

        >>> RULEBOOK["rule_3day"].threshold(), RULEBOOK["registry_mark"].threshold()
        (3, None)
        """
        if self.threshold_field is None:
            return None
        return getattr(rules or RulesConfig(), self.threshold_field)

    def fires(self, count: Any, rules: RulesConfig | None = None) -> Any:
        """Whether ``count`` (a number, array or Series) reaches the threshold: ``count >= n`` or
        ``count > n``, elementwise (NaN never fires).

        >>> RULEBOOK["rule_3day"].fires(3), RULEBOOK["rule_3day"].fires(4)
        (False, True)
        """
        if self.comparison is None:
            raise ValueError(f"rule {self.code} has no threshold to compare with")
        return _COMPARE[self.comparison](count, self.threshold(rules))

    def _words(self, rules: RulesConfig | None) -> dict[str, int]:
        n = self.threshold(rules)
        return {} if n is None else {"n": n, "hours": 24 * n}

    def label(self, rules: RulesConfig | None = None, language: Literal["zh", "en"] = "zh") -> str:
        """The rule in words under ``rules`` (``[rules]``; defaults for ``None``).

        >>> RULEBOOK["rule_48h"].label(), RULEBOOK["leave_unapproved"].label(language="en")
        ('48小时无故缺勤', "leave over 5 days without the principal's approval")
        """
        template = self.zh if language == "zh" else self.en
        return template.format(**self._words(rules))

    def flag_texts(self, rules: RulesConfig | None = None) -> tuple[str, str, str, str]:
        """The catalogue words of the rule's ``att_rule_*`` flag: zh, en, reason_zh, reason_en.

        >>> RULEBOOK["rule_5day"].flag_texts(RulesConfig(registry_update_days=7))[0]
        '学籍标注规则触发: 连续无故缺勤满7个上课日'
        """
        if self.flag_text is None:
            raise ValueError(f"rule {self.code} has no feature flag")
        words = self._words(rules)
        zh, en, rzh, ren = (t.format(**words) for t in self.flag_text)
        return zh, en, rzh, ren


_RULES = (
    Rule(
        "rule_48h",
        "unexcused_streak",
        "report_48h_days",
        ">=",
        severity=4,
        opens_case=True,
        zh="{hours}小时无故缺勤",
        en="{hours} hours absent without approved leave",
        flag="att_rule_48h",
        flag_text=(
            "{hours}小时规则触发: 无假缺勤满{n}个上课日, 须上报",
            "{hours}-hour rule fires: absent {n} school days without leave (report)",
            "无故缺勤已满{hours}小时, 须上报乡镇和教育局",
            "absent {hours} hours without leave: report to township and county",
        ),
    ),
    Rule(
        "rule_3day",
        "unexcused_streak",
        "suspected_dropout_days",
        ">",
        severity=3,
        opens_case=True,
        zh="连续{n}天以上无故缺勤 (疑似辍学)",
        en="more than {n} consecutive unexcused school days (suspected dropout)",
        flag="att_rule_3day",
        flag_text=(
            "疑似辍学规则触发: 连续无故缺勤超过{n}个上课日",
            "suspected-dropout rule fires: more than {n} consecutive unexcused school days",
            "连续无故缺勤超过{n}天, 按疑似辍学处理",
            "more than {n} school days absent: treat as suspected dropout",
        ),
    ),
    Rule(
        "rule_5day",
        "unexcused_streak",
        "registry_update_days",
        ">=",
        severity=2,
        opens_case=True,
        zh="连续{n}天无故缺勤 (须更新学籍)",
        en="{n} consecutive unexcused school days (registry update due)",
        flag="att_rule_5day",
        flag_text=(
            "学籍标注规则触发: 连续无故缺勤满{n}个上课日",
            "registry rule fires: {n} consecutive unexcused school days",
            "连续无故缺勤满{n}天, 须在学籍系统标注疑似辍学",
            "{n} school days absent: mark suspected dropout in the registry",
        ),
    ),
    Rule(
        "registry_mark",
        "registry_mark",
        None,
        None,
        severity=1,
        opens_case=True,
        zh="学籍已标注疑似辍学",
        en="registry carries a suspected-dropout mark",
    ),
    Rule(
        "leave_unapproved",
        "leave_weekdays",
        "principal_leave_days",
        ">",
        severity=5,
        opens_case=False,
        zh="请假超过{n}天未经校长批准",
        en="leave over {n} days without the principal's approval",
    ),
)

#: every rule by code, in display order (the order of the snapshot's ``rules`` codes)
RULEBOOK: Mapping[str, Rule] = MappingProxyType({r.code: r for r in _RULES})

#: rule codes by severity, most serious first: which rule a red tier names and a case's trigger
RULE_SEVERITY: tuple[str, ...] = tuple(r.code for r in sorted(_RULES, key=lambda r: r.severity))

#: rules that open a suspected-dropout case, most serious first (the case's ``trigger``)
CASE_RULES: tuple[str, ...] = tuple(c for c in RULE_SEVERITY if RULEBOOK[c].opens_case)

#: rules on the current run of unexcused school days, in display order (each has an ``att_rule_*`` flag)
STREAK_RULES: tuple[Rule, ...] = tuple(r for r in _RULES if r.counts == "unexcused_streak")

if len({r.severity for r in _RULES}) != len(_RULES):  # pragma: no cover - a definition error
    raise ValueError("two rules share a severity")


def rule_labels(rules: RulesConfig | None = None, language: Literal["zh", "en"] = "zh") -> dict[str, str]:
    """Every rule's label under ``rules`` (defaults for ``None``), by code in display order.

    >>> rule_labels(RulesConfig(suspected_dropout_days=2), "en")["rule_3day"]
    'more than 2 consecutive unexcused school days (suspected dropout)'
    """
    return {code: r.label(rules, language) for code, r in RULEBOOK.items()}


def rule_names(rules: RulesConfig | None = None) -> dict[str, tuple[str, str]]:
    """Every rule's (zh, en) label under ``rules`` (defaults for ``None``), by code in display order.

    >>> rule_names()["registry_mark"]
    ('学籍已标注疑似辍学', 'registry carries a suspected-dropout mark')
    """
    return {code: (r.label(rules, "zh"), r.label(rules, "en")) for code, r in RULEBOOK.items()}
