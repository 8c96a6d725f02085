"""Reasons in words: the top contributions of a student turned into sentences a teacher reads.

For every explained student, the features with the largest positive TreeSHAP
contribution become *reasons* (risk up) and those with the most negative become
*protective factors*, each phrased from the feature catalogue
(:func:`features.catalog.phrase`) with the student's actual value. Never a raw column name:
a feature without a sentence is never shown (a test phrases every catalogue entry).

What is said and what is not:

- A flag is stated only when it is true (a 0 flag pushing risk up is an absence of
  something and has no honest one-line sentence); a missing value is never a reason.
- A count of zero is never a risk reason, but may be a protective factor
  ("近10个上课日无故缺勤0天").
- Direction words follow the value: a falling grade percentile says 下降, a rising one 上升.
- Related facts are merged into one sentence, e.g. "近10个上课日无故缺勤4天（当前连续3天）",
  "母亲外出务工（已5个月），由祖父母照料"; the merged feature is not repeated.
- Context (grade, the school's history, distance, school type: every ``ctx_`` feature,
  :func:`is_context`) is not about the child's own record, which a teacher can change: it is
  never a reason nor a protective factor, and never in ``reason_codes``.
- A zero count or a 0% rate is never a risk, and "0 days" is never a protective factor.
  :func:`reason_problems` checks a run's reasons against these rules and the SHAP signs.
- Data-coverage features (:data:`SILENT`: days recorded, days since the last exam, week
  of term) move the score but are not reasons a family can act on; they stay in the family
  totals and are never phrased.

Examples
--------
>>> feats = pd.DataFrame({"att_unexcused_days_10d": [4.0], "att_unexcused_streak_current": [3.0],
...                       "lb_mother_away": [1.0], "lb_caregiver": ["grandparent"],
...                       "lb_months_in_status": [5.0], "ctx_is_boarding": [0.0]}, index=["s1"])
>>> contrib = pd.DataFrame({"att_unexcused_days_10d": [0.9], "att_unexcused_streak_current": [0.2],
...                         "lb_mother_away": [0.4], "lb_caregiver": [0.1],
...                         "lb_months_in_status": [0.0], "ctx_is_boarding": [0.3]}, index=["s1"])
>>> r = explain_reasons(feats, contrib)
>>> r.loc["s1", "reasons_zh"]
'近10个上课日无故缺勤4天（当前连续3天）；母亲外出务工（已5个月），由祖父母照料'
>>> r.loc["s1", "reasons_en"]
'4 unexcused days in the last 10 school days (3 in a row now); mother away for work (for 5 months), cared for by grandparents'
>>> r.loc["s1", "reason_families"]
'attendance;left_behind'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import pandas as pd

from features.catalog import FeatureInfo, feature_info, format_value
from features.config import BaoxueConfig, feature_settings
from features.names import FeatureNames, feature_names
from risk.explain import EXPECTED

__all__ = ["SILENT", "REASON_COLUMNS", "explain_reasons", "reason_sentence", "is_context", "reason_problems"]

Language = Literal["zh", "en"]

#: data-coverage features: they move the score but are never phrased as a reason
SILENT: frozenset[str] = frozenset({"att_recorded_days_term", "acad_days_since_exam", "ctx_weeks_into_term"})

#: the columns :func:`explain_reasons` returns
REASON_COLUMNS = (
    "reason_codes",
    "reason_families",
    "reasons_zh",
    "reasons_en",
    "protective_zh",
    "protective_en",
)

_SEP = {"zh": "；", "en": "; "}

# category and level values in words (zh, en)
_VALUE_WORDS: dict[str, dict[object, tuple[str, str]]] = {
    "ctx_commute_mode": {
        "walk": ("步行", "walking"),
        "bike": ("骑车", "bike"),
        "school_bus": ("校车", "school bus"),
        "public_bus": ("公交车", "public bus"),
        "private": ("私家车", "private car"),
        "boat": ("乘船", "boat"),
        "other": ("其他", "other means"),
    },
    "ctx_school_type": {
        "primary": ("小学", "primary school"),
        "junior": ("初中", "junior secondary school"),
        "nine_year": ("九年一贯制学校", "nine-year school"),
        "teaching_point": ("教学点", "teaching point"),
    },
    "ctx_urban_rural": {
        "urban": ("城区", "in town (urban)"),
        "town": ("镇区", "in a township seat"),
        "rural": ("乡村", "rural"),
    },
}

# features whose whole sentence depends on the value: value -> (zh, en); None = say nothing
_VALUE_SENTENCES: dict[str, dict[object, tuple[str, str] | None]] = {
    "lb_caregiver": {
        "parent": ("由父母照料", "cared for by a parent"),
        "grandparent": ("由祖父母照料", "cared for by grandparents"),
        "relative": ("由亲戚照料", "cared for by relatives"),
        "alone": ("无人照料，独自生活", "lives alone without a caregiver"),
        "institution": ("由福利机构照料", "cared for by an institution"),
    },
    "lb_status": {
        0.0: None,
        1.0: ("父母一方外出务工", "one parent away for work"),
        2.0: ("父母均外出务工", "both parents away for work"),
    },
    "hard_level": {
        0.0: None,
        1.0: ("家庭一般困难", "family in general hardship"),
        2.0: ("家庭比较困难", "family in moderate hardship"),
        3.0: ("家庭特别困难", "family in special hardship"),
    },
}

# features whose sentence names a direction: (zh up, zh down, en up, en down) with {value} = |value|
_SIGNED: dict[str, tuple[str, str, str, str]] = {
    "acad_composite_pct_change": (
        "年级排名较上次考试上升{value}个百分位",
        "年级排名较上次考试下降{value}个百分位",
        "up {value} grade percentiles since the previous exam",
        "down {value} grade percentiles since the previous exam",
    ),
    "acad_composite_pct_slope_2terms": (
        "近两学期成绩每学期上升{value}个百分位",
        "近两学期成绩每学期下降{value}个百分位",
        "rising {value} grade percentiles per term over two terms",
        "falling {value} grade percentiles per term over two terms",
    ),
}

_ZERO_IS_NOTHING = ("count", "school_days", "days", "cny", "months", "years", "km")
# a zero of these is no risk (a 0% rate, 0 days) and no protection ("0 days" is no factor)
_ZERO_NEVER_RISK = (*_ZERO_IS_NOTHING, "share", "percent")


def is_context(name: str) -> bool:
    """Context about the school or the grade, not the child's own record (never a reason).

    >>> is_context("ctx_school_dropout_rate_prev"), is_context("att_unexcused_days_10d")
    (True, False)
    """
    return str(name).startswith("ctx_")


@dataclass(frozen=True)
class _Companion:
    """A fact appended to another feature's sentence: ``zh``/``en`` templates with {value}."""

    feature: str
    zh: str
    en: str
    when: Callable[[float], bool]


def _positive(v: object) -> bool:
    return isinstance(v, int | float | np.floating) and not np.isnan(v) and v > 0


_STREAK = _Companion("att_unexcused_streak_current", "当前连续{value}天", "{value} in a row now", _positive)
_MONTHS = _Companion("lb_months_in_status", "已{value}个月", "for {value} months", _positive)
_FAILED = _Companion("acad_failed_subjects_last", "{value}科不及格", "{value} subjects failed", _positive)


@cache
def _companions(names: FeatureNames, windows: tuple[int, ...]) -> dict[str, tuple[_Companion, ...]]:
    """Primary feature -> companions appended to its sentence when their value says something
    (the bottom-of-class flag and the windows under the configured names)."""
    p = names.bottom_percent.replace("_", ".")
    bottom = _Companion(
        names.bottom_class, f"处于班级后{p}%", f"in the bottom {p}% of the class", lambda v: v == 1.0
    )
    wins = sorted({5, 10, 15, 20, 30, *windows})
    return {
        **{f"att_unexcused_days_{w}d": (_STREAK,) for w in wins},
        **{f"att_unexcused_rate_{w}d": (_STREAK,) for w in wins},
        "lb_status": (_MONTHS,),
        "lb_mother_away": (_MONTHS,),
        "lb_both_parents_away": (_MONTHS,),
        "lb_one_parent_away": (_MONTHS,),
        "lb_father_only_away": (_MONTHS,),
        "acad_composite_pct_class_last": (bottom, _FAILED),
        "acad_composite_pct_grade_last": (bottom, _FAILED),
        "acad_composite_score_last": (bottom, _FAILED),
    }


#: features joined to another's sentence with a comma rather than brackets
_CARE = "lb_caregiver"


def _concept(name: str) -> str:
    """Features that say the same thing in another window or scale share a concept; a
    student's reasons name each concept once (the strongest variant)."""
    for prefix in ("att_unexcused_rate_", "att_unexcused_days_"):
        if name.startswith(prefix):
            return "att_unexcused_recent"
    if name.startswith("att_absence_rate_") and not name.endswith("_term"):
        return "att_absence_recent"
    if name in ("att_unexcused_streak_current", "att_days_since_present"):
        return "att_out_now"  # "当前连续1天" and "已1个上课日未到校" are one fact
    if name.startswith("acad_") and (name.endswith("_pct_class_last") or name.endswith("_pct_grade_last")):
        return name.rsplit("_pct_", 1)[0]
    if name in (
        "lb_status",
        "lb_one_parent_away",
        "lb_both_parents_away",
        "lb_mother_away",
        "lb_father_only_away",
    ):
        return "lb_away"
    return name


#: features phrased only when another fact makes the sentence true
_ONLY_WHEN: dict[str, Callable[[dict[str, object]], bool]] = {
    "lb_months_in_status": lambda v: _positive(v.get("lb_status")),
}
_CARE_AFTER = (
    "lb_mother_away",
    "lb_both_parents_away",
    "lb_one_parent_away",
    "lb_father_only_away",
    "lb_status",
)


@cache
def _info(name: str) -> FeatureInfo:
    return feature_info(name)


def _phrase(info: FeatureInfo, value: object, language: Language) -> str:
    template = info.reason_zh if language == "zh" else info.reason_en
    return template.format(value=format_value(info.unit, value, language))


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NA


def _key(value: object) -> object:
    return float(value) if isinstance(value, int | float | np.integer | np.floating) else value


def reason_sentence(name: str, value: object, language: Language = "zh") -> str | None:
    """The sentence for one feature at ``value``, or None when there is nothing honest to say.

    >>> reason_sentence("acad_composite_pct_change", -15.0)
    '年级排名较上次考试下降15个百分位'
    >>> reason_sentence("lb_mother_away", 0.0) is None, reason_sentence("att_late_count_term", 2.0)
    (True, '本学期迟到2次')
    >>> reason_sentence("ctx_school_type", "teaching_point", "en")
    'school type: teaching point'
    """
    if name in SILENT or _is_missing(value):
        return None
    i = 0 if language == "zh" else 1
    if name in _VALUE_SENTENCES:
        said = _VALUE_SENTENCES[name].get(_key(value))
        return None if said is None else said[i]
    info = _info(name)
    if info.unit == "flag":
        return _phrase(info, value, language) if float(value) == 1.0 else None  # type: ignore[arg-type]
    if name in _SIGNED:
        v = float(value)  # type: ignore[arg-type]
        if v == 0:
            return None
        up_zh, down_zh, up_en, down_en = _SIGNED[name]
        template = (up_zh if v > 0 else down_zh) if language == "zh" else (up_en if v > 0 else down_en)
        return template.format(value=format_value(info.unit, abs(v), language))
    if name in _VALUE_WORDS:
        words = _VALUE_WORDS[name].get(_key(value))
        if words is not None:
            template = info.reason_zh if language == "zh" else info.reason_en
            return template.format(value=words[i])
    if name.startswith("att_absence_trend"):
        v = float(value)  # type: ignore[arg-type]
        if v == 0:
            return None
        if v < 0:
            window = name.rsplit("_", 1)[-1][:-1]
            shown = format_value("share", -v, language)
            if language == "zh":
                return f"近{window}个上课日缺勤率比本学期此前下降{shown}"
            return f"absence rate down {shown} in the last {window} school days vs earlier this term"
    return _phrase(info, value, language)


def _companion_text(companion: _Companion, value: object, language: Language) -> str | None:
    if _is_missing(value) or not companion.when(float(value)):  # type: ignore[arg-type]
        return None
    unit = _info(companion.feature).unit
    template = companion.zh if language == "zh" else companion.en
    return template.format(value=format_value(unit, value, language))


def _row_sentences(
    order: np.ndarray,
    names: list[str],
    values: dict[str, object],
    n: int,
    risk_side: bool,
    companions: dict[str, tuple[_Companion, ...]],
    stated: set[str] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Up to ``n`` (zh, en) sentences for one row, visiting features in ``order``.

    ``stated``: features already said (the risk side's, companions included), updated in
    place; a feature of the same concept is not said again, so one fact is never both a risk
    and a protective factor (issue 19: 近20个上课日无故缺勤率25% as a risk, 近20个上课日无故缺勤5天
    as protective)."""
    zh: list[str] = []
    en: list[str] = []
    used_names: list[str] = []
    consumed: set[str] = stated if stated is not None else set()
    concepts: set[str] = {_concept(c) for c in consumed}
    for j in order:
        name = names[j]
        if name in consumed or _concept(name) in concepts:
            continue
        if is_context(name):
            continue
        value = values[name]
        unit = _info(name).unit
        zero = not _is_missing(value) and unit in _ZERO_NEVER_RISK and value == 0
        if zero:  # no zero count or 0% rate as a risk, no "0 days" as protection
            continue
        if not risk_side and not _protective(name, unit, value):
            continue
        if name in _ONLY_WHEN and not _ONLY_WHEN[name](values):
            continue
        s_zh = reason_sentence(name, value, "zh")
        if s_zh is None:
            continue
        s_en = reason_sentence(name, value, "en") or s_zh
        consumed.add(name)
        concepts.add(_concept(name))
        if risk_side:
            extra_zh, extra_en = [], []
            for comp in companions.get(name, ()):
                if comp.feature in values and comp.feature not in consumed:
                    c_zh = _companion_text(comp, values[comp.feature], "zh")
                    if c_zh is not None:
                        extra_zh.append(c_zh)
                        extra_en.append(_companion_text(comp, values[comp.feature], "en") or c_zh)
                        consumed.add(comp.feature)
            if extra_zh:
                s_zh += "（" + "，".join(extra_zh) + "）"
                s_en += " (" + ", ".join(extra_en) + ")"
            if name in _CARE_AFTER and _CARE in values and _CARE not in consumed:
                care_zh = reason_sentence(_CARE, values[_CARE], "zh")
                if care_zh is not None and values[_CARE] != "parent":
                    s_zh += "，" + care_zh
                    s_en += ", " + (reason_sentence(_CARE, values[_CARE], "en") or "")
                    consumed.add(_CARE)
        zh.append(s_zh)
        en.append(s_en)
        used_names.append(name)
        if len(zh) == n:
            break
    return zh, en, used_names


def _protective(name: str, unit: str, value: object) -> bool:
    """Whether a fact reads as protective when stated: no flags (a true flag is a risk fact in
    this catalogue), no falls in grades and no rises in absence, whatever the model learned."""
    if unit == "flag" or _is_missing(value):
        return False
    if name in _SIGNED:
        return float(value) > 0  # type: ignore[arg-type]
    if name.startswith("att_absence_trend"):
        return float(value) < 0  # type: ignore[arg-type]
    return True


def explain_reasons(
    features: pd.DataFrame,
    contrib: pd.DataFrame,
    *,
    top: int = 3,
    protective: int = 2,
    min_contribution: float = 0.0,
    config: BaoxueConfig | None = None,
) -> pd.DataFrame:
    """Reasons and protective factors of every row of ``contrib``, in Chinese and English.

    Parameters
    ----------
    features : DataFrame
        Feature values (indexed like ``contrib``, which may hold a subset of its rows).
    contrib : DataFrame
        :func:`risk.explain.contributions` (the ``expected_value`` column is ignored).
    top, protective : int
        At most this many reasons / protective factors per student.
    min_contribution : float
        A reason's contribution (log-odds) must exceed this; a protective factor's must be
        below minus this.
    config : BaoxueConfig, optional
        The configuration the features were built under (the configured column names).

    Returns
    -------
    DataFrame
        Indexed like ``contrib``; columns :data:`REASON_COLUMNS`. ``reason_codes`` holds the
        feature columns behind the reasons (internal: reports must show the sentences).
    """
    companions = _companions(feature_names(config), feature_settings(config)[0].recent_windows)
    names = [c for c in contrib.columns if c != EXPECTED]
    values_frame = features.loc[contrib.index, names]
    C = contrib[names].to_numpy(dtype="float64")
    order_up = np.argsort(-C, axis=1, kind="stable")
    order_down = np.argsort(C, axis=1, kind="stable")
    rows: dict[str, list[str]] = {c: [] for c in REASON_COLUMNS}
    columns = {n: values_frame[n].astype("object").to_numpy() for n in names}
    for i in range(len(contrib)):
        values = {n: columns[n][i] for n in names}
        row = C[i]
        up = order_up[i][row[order_up[i]] > min_contribution]
        down = order_down[i][row[order_down[i]] < -min_contribution]
        stated: set[str] = set()
        zh, en, used = _row_sentences(up, names, values, top, True, companions, stated)
        pzh, pen, _ = _row_sentences(down, names, values, protective, False, companions, stated)
        families: list[str] = []
        for n in used:
            fam = _info(n).family
            if fam not in families:
                families.append(fam)
        rows["reason_codes"].append(";".join(used))
        rows["reason_families"].append(";".join(families))
        rows["reasons_zh"].append(_SEP["zh"].join(zh))
        rows["reasons_en"].append(_SEP["en"].join(en))
        rows["protective_zh"].append(_SEP["zh"].join(pzh))
        rows["protective_en"].append(_SEP["en"].join(pen))
    return pd.DataFrame(rows, index=contrib.index, dtype="str")


def reason_problems(features: pd.DataFrame, contrib: pd.DataFrame, reasons: pd.DataFrame) -> list[str]:
    """Every reason that contradicts the rules of the module notes, as messages (empty: none).

    For each row of ``reasons`` (:func:`explain_reasons` columns) and each code of its
    ``reason_codes``: a context feature, a contribution that does not push risk up, a zero
    count or 0% rate, a flag that is not set, or a missing value is a problem.

    >>> f = pd.DataFrame({"att_unexcused_days_10d": [0.0], "ctx_is_boarding": [1.0]}, index=["s1"])
    >>> c = pd.DataFrame({"att_unexcused_days_10d": [0.4], "ctx_is_boarding": [0.2]}, index=["s1"])
    >>> bad = pd.DataFrame({"reason_codes": ["att_unexcused_days_10d;ctx_is_boarding"]}, index=["s1"])
    >>> reason_problems(f, c, bad)
    ['s1: att_unexcused_days_10d is a zero count or rate as a risk', 's1: ctx_is_boarding is context']
    >>> reason_problems(f, c, explain_reasons(f, c))
    []
    """
    out: list[str] = []
    for sid, codes in reasons["reason_codes"].items():
        for code in filter(None, str(codes).split(";")):
            if is_context(code):
                out.append(f"{sid}: {code} is context")
                continue
            value = features.at[sid, code]
            if _is_missing(value):
                out.append(f"{sid}: {code} is missing")
                continue
            unit = _info(code).unit
            if float(contrib.at[sid, code]) <= 0:
                out.append(f"{sid}: {code} does not push risk up (SHAP {float(contrib.at[sid, code]):.3g})")
            if unit in _ZERO_NEVER_RISK and value == 0:
                out.append(f"{sid}: {code} is a zero count or rate as a risk")
            if unit == "flag" and float(value) != 1.0:
                out.append(f"{sid}: {code} is a flag that is not set")
    return out
