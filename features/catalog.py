"""The feature catalogue: for every column its family, unit, meaning and how to say it as a reason.

The explanations (``risk/reasons.py``) phrase a feature with :func:`phrase`; the README's
feature table is :func:`catalog_markdown`. Every column that
:func:`features.build.build_features` returns has exactly one entry (a test checks it).

Examples
--------
>>> phrase("att_unexcused_days_10d", 3.0)
'近10个上课日无故缺勤3天'
>>> phrase("att_unexcused_days_10d", 3.0, language="en")
'3 unexcused days in the last 10 school days'
>>> phrase("lb_mother_away", 1.0)
'母亲外出务工'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from features.attendance import CHANGE_WEEKS
from features.config import BaoxueConfig, FeaturesConfig, RulesConfig, feature_settings
from features.names import FeatureNames, config_for_name, feature_names
from features.rulebook import STREAK_RULES

__all__ = [
    "FeatureInfo",
    "UNITS",
    "catalog",
    "family_of",
    "feature_info",
    "phrase",
    "format_value",
    "catalog_markdown",
]

Unit = Literal[
    "share",
    "percent",
    "school_days",
    "count",
    "flag",
    "percentile",
    "points",
    "days",
    "months",
    "years",
    "km",
    "cny",
    "level",
    "grade",
    "category",
    "weeks",
]

#: how each unit is written (zh, en)
UNITS: dict[str, tuple[str, str]] = {
    "share": ("比例", "share"),
    "percent": ("% (0–100)", "percent (0–100)"),
    "school_days": ("上课日", "school days"),
    "count": ("次数", "count"),
    "flag": ("是/否", "yes/no"),
    "percentile": ("百分位 (0–100)", "percentile (0–100)"),
    "points": ("百分位点/学期", "percentile points per term"),
    "days": ("天", "days"),
    "months": ("月", "months"),
    "years": ("年", "years"),
    "km": ("公里", "km"),
    "cny": ("元", "CNY"),
    "level": ("等级 0–3", "level 0–3"),
    "grade": ("年级", "grade"),
    "category": ("类别", "category"),
    "weeks": ("周", "weeks"),
}

_FAMILY = {"att": "attendance", "acad": "academic", "hard": "hardship", "lb": "left_behind", "ctx": "context"}


def family_of(column: str) -> str:
    """The family of a feature column, from its prefix (``att_``, ``acad_``, ``hard_``, ``lb_``, ``ctx_``).

    >>> family_of("lb_mother_away"), family_of("att_rule_5day")
    ('left_behind', 'attendance')
    """
    return _FAMILY[column.split("_", 1)[0]]


@dataclass(frozen=True)
class FeatureInfo:
    """One catalogue entry. ``reason_zh`` / ``reason_en`` are ``str.format`` templates with
    ``{value}`` (the formatted value); for flags they are the phrase when the flag is 1."""

    name: str
    unit: str
    zh: str
    en: str
    reason_zh: str
    reason_en: str
    restricted: bool = False

    @property
    def family(self) -> str:
        return family_of(self.name)


def _f(name: str, unit: str, zh: str, en: str, rzh: str, ren: str, restricted: bool = False) -> FeatureInfo:
    return FeatureInfo(name, unit, zh, en, rzh, ren, restricted)


def _attendance(windows: list[int], names: FeatureNames, rules: RulesConfig) -> list[FeatureInfo]:
    n = names.leave_days
    rows = [
        _f(
            "att_recorded_days_term",
            "school_days",
            "本学期有考勤记录的上课日数",
            "school days with an attendance record this term",
            "本学期有{value}个上课日有考勤记录",
            "{value} school days recorded this term",
        ),
        _f(
            "att_absence_rate_term",
            "share",
            "本学期缺勤率 (病事假+无故)",
            "share of recorded school days absent this term (leave or unexcused)",
            "本学期缺勤率{value}",
            "absent on {value} of school days this term",
        ),
        _f(
            "att_unexcused_rate_term",
            "share",
            "本学期无故缺勤率",
            "share of recorded school days unexcused this term",
            "本学期无故缺勤率{value}",
            "unexcused absence on {value} of school days this term",
        ),
    ]
    for w in windows:
        rows += [
            _f(
                f"att_absence_rate_{w}d",
                "share",
                f"近{w}个上课日缺勤率",
                f"share absent in the last {w} school days",
                f"近{w}个上课日缺勤率{{value}}",
                f"absent on {{value}} of the last {w} school days",
            ),
            _f(
                f"att_unexcused_rate_{w}d",
                "share",
                f"近{w}个上课日无故缺勤率",
                f"share unexcused in the last {w} school days",
                f"近{w}个上课日无故缺勤率{{value}}",
                f"unexcused absence on {{value}} of the last {w} school days",
            ),
            _f(
                f"att_unexcused_days_{w}d",
                "school_days",
                f"近{w}个上课日无故缺勤天数",
                f"unexcused days in the last {w} school days",
                f"近{w}个上课日无故缺勤{{value}}天",
                f"{{value}} unexcused days in the last {w} school days",
            ),
        ]
    w = windows[-1]
    rows += [
        _f(
            f"att_absence_trend_{w}d",
            "share",
            f"缺勤趋势: 近{w}个上课日缺勤率减本学期此前缺勤率",
            f"absence trend: rate in the last {w} school days minus the term's rate before them",
            f"近{w}个上课日缺勤率比本学期此前上升{{value}}",
            f"absence rate up {{value}} in the last {w} school days vs earlier this term",
        ),
        _f(
            "att_unexcused_streak_current",
            "school_days",
            "当前连续无故缺勤上课日数",
            "current run of consecutive unexcused school days",
            "已连续{value}个上课日无故缺勤",
            "absent without reason for {value} school days in a row",
        ),
        _f(
            "att_unexcused_streak_max_term",
            "school_days",
            "本学期最长连续无故缺勤上课日数",
            "longest run of consecutive unexcused school days this term",
            "本学期曾连续{value}个上课日无故缺勤",
            "a run of {value} unexcused school days this term",
        ),
        _f(
            "att_days_since_present",
            "school_days",
            "距上次到校的上课日数",
            "school days since last present",
            "已{value}个上课日未到校",
            "not in school for {value} school days",
        ),
        _f(
            "att_late_count_term",
            "count",
            "本学期迟到次数",
            "times late this term",
            "本学期迟到{value}次",
            "late {value} times this term",
        ),
        _f(
            "att_left_early_count_term",
            "count",
            "本学期早退次数",
            "times left early this term",
            "本学期早退{value}次",
            "left early {value} times this term",
        ),
        _f(
            "att_leave_days_term",
            "school_days",
            "本学期请假上课日数 (含批准的假)",
            "school days on approved or recorded leave this term",
            "本学期请假{value}天",
            "{value} school days on leave this term",
        ),
        _f(
            names.long_leave,
            "flag",
            f"本学期有超过{n}个上课日的连续请假",
            f"a leave of more than {n} school days this term",
            f"本学期请长假超过{n}天",
            f"a leave of more than {n} school days this term",
        ),
        _f(
            "att_return_late_spring",
            "school_days",
            "春季开学 (春节后) 迟返校上课日数",
            "school days late back after the spring term started (Spring Festival)",
            "春节后开学迟到校{value}个上课日",
            "back {value} school days late after Spring Festival",
        ),
        _f(
            "att_return_late_autumn",
            "school_days",
            "秋季开学迟返校上课日数",
            "school days late back after the autumn term started",
            "秋季开学迟到校{value}个上课日",
            "back {value} school days late after the autumn start",
        ),
    ]
    # the rule flags, in the words of the county's [rules] (features.rulebook)
    rows += [_f(rule.flag, "flag", *rule.flag_texts(rules)) for rule in STREAK_RULES]
    k = CHANGE_WEEKS
    rows += [
        _f(
            f"att_unexcused_days_{k}w",
            "school_days",
            f"近{k}个教学周 (每周5个上课日) 无故缺勤天数",
            f"unexcused days in the last {k} school weeks (5 school days each)",
            f"近{k}周无故缺勤{{value}}天",
            f"{{value}} unexcused days in the last {k} school weeks",
        ),
        _f(
            f"att_unexcused_slope_{k}w",
            "share",
            f"近{k}个教学周无故缺勤率的趋势 (每周变化, 最小二乘斜率)",
            f"trend of the weekly unexcused share over the last {k} school weeks (change per week)",
            f"近{k}周无故缺勤率每周上升{{value}}",
            f"unexcused absence rising {{value}} a week over the last {k} school weeks",
        ),
        _f(
            f"att_unexcused_onset_{k}w",
            "school_days",
            f"近{k}个教学周内第一次无故缺勤距今的上课日数",
            f"school days since the first unexcused day in the last {k} school weeks",
            "{value}个上课日前开始无故缺勤",
            "unexcused absence began {value} school days ago",
        ),
    ]
    return rows


def _academic(names: FeatureNames) -> list[FeatureInfo]:
    p = names.bottom_percent.replace("_", ".")
    rows = [
        _f(
            "acad_composite_score_last",
            "percent",
            "最近一次考试总成绩得分率 (占满分的百分比)",
            "latest exam: composite percent of full marks",
            "最近一次考试总得分率{value}%",
            "scored {value}% of full marks in the latest exam",
        ),
        _f(
            "acad_composite_pct_class_last",
            "percentile",
            "最近一次考试总成绩班内百分位",
            "latest exam: composite percentile within class",
            "最近一次考试总成绩位于班级第{value}百分位",
            "latest exam composite at the {value}th percentile of the class",
        ),
        _f(
            "acad_composite_pct_grade_last",
            "percentile",
            "最近一次考试总成绩年级百分位",
            "latest exam: composite percentile within grade",
            "最近一次考试总成绩位于年级第{value}百分位",
            "latest exam composite at the {value}th percentile of the grade",
        ),
    ]
    for subj, zh in (("chinese", "语文"), ("math", "数学"), ("english", "英语")):
        rows += [
            _f(
                f"acad_{subj}_pct_class_last",
                "percentile",
                f"最近一次{zh}班内百分位",
                f"latest {subj} percentile within class",
                f"{zh}位于班级第{{value}}百分位",
                f"{subj} at the {{value}}th percentile of the class",
            ),
            _f(
                f"acad_{subj}_pct_grade_last",
                "percentile",
                f"最近一次{zh}年级百分位",
                f"latest {subj} percentile within grade",
                f"{zh}位于年级第{{value}}百分位",
                f"{subj} at the {{value}}th percentile of the grade",
            ),
        ]
    rows += [
        _f(
            names.bottom_class,
            "flag",
            f"学困生: 总成绩在班级后{p}%",
            f"learning difficulty: composite in the bottom {p}% of the class",
            f"总成绩在班级后{p}% (学困生)",
            f"in the bottom {p}% of the class",
        ),
        _f(
            names.bottom_new,
            "flag",
            f"新进入班级后{p}%",
            f"newly in the bottom {p}% of the class since the previous exam",
            f"成绩新落入班级后{p}%",
            f"fell into the bottom {p}% of the class",
        ),
        _f(
            "acad_composite_pct_change",
            "percentile",
            "年级百分位较上次考试的变化",
            "change in grade percentile since the previous exam",
            "年级排名百分位较上次变化{value}",
            "grade percentile changed by {value} since the previous exam",
        ),
        _f(
            "acad_composite_pct_slope_2terms",
            "points",
            "近两学期年级百分位趋势 (每学期)",
            "trend of the grade percentile over two terms, per term",
            "近两学期成绩百分位每学期变化{value}",
            "grade percentile moving {value} points per term over two terms",
        ),
        _f(
            "acad_composite_pct_slope_4terms",
            "points",
            "近四学期年级百分位趋势 (每学期)",
            "trend of the grade percentile over four terms, per term",
            "近四学期成绩百分位每学期变化{value}",
            "grade percentile moving {value} points per term over four terms",
        ),
        _f(
            "acad_composite_pct_class_mean_2terms",
            "percentile",
            "近两学期各次考试总成绩班内百分位的平均",
            "mean class percentile of the composite over the exams of the last two terms",
            "近两学期成绩平均位于班级第{value}百分位",
            "on average at the {value}th class percentile over two terms",
        ),
        _f(
            "acad_failed_subjects_last",
            "count",
            "最近一次考试不及格科目数 (<60%或D等)",
            "subjects failed in the latest exam (< 60% or level D)",
            "最近一次考试{value}科不及格",
            "failed {value} subjects in the latest exam",
        ),
        _f(
            "acad_exams_missed_year",
            "count",
            "本学年缺考次数",
            "exams missed this school year",
            "本学年缺考{value}次",
            "missed {value} exams this school year",
        ),
        _f("acad_repeated_grade", "flag", "曾留级", "has repeated a grade", "曾留级", "has repeated a grade"),
        _f(
            "acad_days_since_exam",
            "days",
            "距最近一次考试的天数",
            "days since the latest exam",
            "最近一次考试在{value}天前",
            "latest exam {value} days ago",
        ),
    ]
    return rows


def _hardship(restricted: bool, names: FeatureNames) -> list[FeatureInfo]:
    d = names.recent_days
    types = {
        "registered_poor": ("建档立卡/脱贫户", "registered poor household (建档立卡)"),
        "monitored": ("防返贫监测户", "monitored for relapse into poverty"),
        "dibao": ("低保户", "minimum living allowance (dibao)"),
        "tekun": ("特困供养", "extreme poverty support (特困)"),
        "de_facto_unsupported": ("事实无人抚养儿童", "de-facto unsupported child"),
        "disabled_household": ("残疾人家庭", "household with a disabled member"),
    }
    rows = [
        _f(f"hard_is_{k}", "flag", f"当前为{zh}", f"currently {en}", f"家庭为{zh}", f"family is {en}")
        for k, (zh, en) in types.items()
    ]
    if restricted:
        rows.append(
            _f(
                "hard_is_prisoner_child",
                "flag",
                "服刑人员未成年子女 (受限字段)",
                "child of a prisoner (restricted)",
                "父母服刑",
                "a parent in prison",
                restricted=True,
            )
        )
    rows += [
        _f(
            "hard_is_poor_any",
            "flag",
            "任一贫困认定 (建档立卡/监测/低保/特困)",
            "any poverty status (registered, monitored, dibao, tekun)",
            "家庭经济困难",
            "family in poverty",
        ),
        _f(
            "hard_level",
            "level",
            "困难等级 (0 无 1 一般 2 比较 3 特别)",
            "hardship level (0 none, 1 general, 2 moderate, 3 special)",
            "家庭困难等级{value}",
            "hardship level {value}",
        ),
        _f(
            names.status_change,
            "flag",
            f"近{d}天困难认定有变化",
            f"hardship status changed in the last {d} days",
            f"近{d}天家庭困难认定发生变化",
            f"hardship status changed in the last {d} days",
        ),
        _f(
            "hard_parent_ill",
            "flag",
            "父母患慢性病或残疾",
            "a parent chronically ill or disabled",
            "父母患病或残疾",
            "a parent is ill or disabled",
        ),
        _f(
            "hard_parent_died",
            "flag",
            "父母一方去世",
            "a parent has died",
            "父母一方去世",
            "a parent has died",
        ),
        _f("hard_orphan", "flag", "孤儿", "orphan", "孤儿", "orphan"),
        _f(
            "hard_has_siblings",
            "flag",
            "有兄弟姐妹 (非独生子女)",
            "has siblings (not an only child)",
            "非独生子女",
            "has siblings",
        ),
        _f(
            "hard_aid_cny_year",
            "cny",
            "本学年已获资助金额",
            "aid received this school year (CNY)",
            "本学年获资助{value}元",
            "received {value} CNY aid this school year",
        ),
        _f(
            "hard_aid_count_year",
            "count",
            "本学年资助发放次数",
            "aid payments this school year",
            "本学年获资助{value}次",
            "{value} aid payments this school year",
        ),
        _f(
            names.family_event,
            "count",
            f"近{d}天家庭变故次数",
            f"family events in the last {d} days",
            f"近{d}天家庭发生{{value}}次变故",
            f"{{value}} family events in the last {d} days",
        ),
    ]
    return rows


def _left_behind(names: FeatureNames) -> list[FeatureInfo]:
    d = names.recent_days
    return [
        _f(
            "lb_status",
            "level",
            "留守状态 (0 否 1 单亲外出 2 双亲外出)",
            "left-behind status (0 no, 1 one parent away, 2 both)",
            "留守状态{value}",
            "left-behind status {value}",
        ),
        _f(
            "lb_one_parent_away",
            "flag",
            "父母一方外出务工",
            "one parent away for work",
            "父母一方外出务工",
            "one parent away for work",
        ),
        _f(
            "lb_both_parents_away",
            "flag",
            "父母双方外出务工",
            "both parents away for work",
            "父母均外出务工",
            "both parents away for work",
        ),
        _f(
            "lb_mother_away",
            "flag",
            "母亲外出 (含双亲外出)",
            "mother away (including both parents away)",
            "母亲外出务工",
            "mother away for work",
        ),
        _f(
            "lb_father_only_away",
            "flag",
            "仅父亲外出",
            "only the father away",
            "父亲外出务工",
            "father away for work",
        ),
        _f(
            "lb_caregiver",
            "category",
            "照料人",
            "who cares for the child",
            "由{value}照料",
            "cared for by {value}",
        ),
        _f(
            "lb_months_in_status",
            "months",
            "当前留守状态持续月数",
            "months since the current left-behind status began",
            "当前留守状态已持续{value}个月",
            "in the current left-behind status for {value} months",
        ),
        _f(
            names.parent_left,
            "flag",
            f"近{d}天父母新外出",
            f"a parent newly left in the last {d} days",
            f"近{d}天父母新外出务工",
            f"a parent left for work in the last {d} days",
        ),
        _f("lb_migrant_child", "flag", "随迁子女", "migrant child (随迁子女)", "随迁子女", "migrant child"),
    ]


def _context(fc: FeaturesConfig) -> list[FeatureInfo]:
    rows = [
        _f("ctx_grade", "grade", "年级", "grade", "就读{value}年级", "in grade {value}"),
        _f(
            "ctx_overage_years",
            "years",
            "超龄年数 (按出生年月与年级)",
            "years over the usual age for the grade",
            "超龄{value}岁",
            "{value} years over age for the grade",
        ),
        _f(
            "ctx_transition_grade",
            "flag",
            "升学关键年级 (6年级或9年级)",
            "transition grade (6 or 9)",
            "处于升学关键年级",
            "in a transition grade (6 or 9)",
        ),
        _f("ctx_is_boarding", "flag", "住校生", "boarding student", "住校", "boards at school"),
        _f(
            "ctx_distance_km",
            "km",
            "上下学距离",
            "distance to school",
            "家校距离{value}公里",
            "lives {value} km from school",
        ),
        _f(
            "ctx_commute_mode",
            "category",
            "上下学方式",
            "way to school",
            "上学方式: {value}",
            "goes to school by {value}",
        ),
        _f(
            "ctx_weeks_into_term",
            "weeks",
            "本学期已开学周数",
            "weeks into the term",
            "开学第{value}周",
            "week {value} of the term",
        ),
        _f(
            "ctx_september_window",
            "flag",
            "秋季开学头四周 (高风险期)",
            "first four weeks of the autumn term (high-risk period)",
            "秋季开学高风险期",
            "start of the autumn term (high-risk period)",
        ),
        _f(
            "ctx_march_window",
            "flag",
            "春节后春季开学头四周 (高风险期)",
            "first four weeks of the spring term, after Spring Festival",
            "春节后开学高风险期",
            "start of the spring term after Spring Festival",
        ),
        _f(
            "ctx_before_zhongkao",
            "flag",
            "九年级中考前一个月",
            "grade 9, the month before 中考",
            "临近中考",
            "the month before the 中考 exam",
        ),
        _f("ctx_class_size", "count", "班级人数", "class size", "班级{value}人", "class of {value}"),
        _f(
            "ctx_school_dropout_rate_prev",
            "share",
            "本校前三学年辍学率",
            "the school's dropout rate in the previous three school years",
            "本校往年辍学率{value}",
            "school's past dropout rate {value}",
        ),
        _f(
            "ctx_returned_dropout",
            "flag",
            "复学生: 曾被标注辍学后返校",
            "returned dropout (复学生): back after a dropout mark",
            "曾辍学后复学",
            "came back after dropping out",
        ),
        _f(
            "ctx_school_type",
            "category",
            "学校类型",
            "school type",
            "学校类型: {value}",
            "school type: {value}",
        ),
        _f(
            "ctx_urban_rural",
            "category",
            "城乡类型",
            "urban or rural school",
            "学校位于{value}",
            "school is {value}",
        ),
    ]
    if "ethnicity_code" in fc.use_restricted:
        rows.append(
            _f(
                "ctx_ethnicity",
                "category",
                "民族 (受限字段)",
                "ethnicity (restricted)",
                "民族{value}",
                "ethnicity {value}",
                True,
            )
        )
    if "disability_type" in fc.use_restricted:
        rows.append(
            _f(
                "ctx_disability_type",
                "category",
                "残疾类型 (受限字段)",
                "disability type (restricted)",
                "残疾类型{value}",
                "disability {value}",
                True,
            )
        )
    if "health_status" in fc.use_restricted:
        rows.append(
            _f(
                "ctx_health_status",
                "level",
                "健康状况 (受限字段)",
                "health status (restricted)",
                "健康状况{value}",
                "health status {value}",
                True,
            )
        )
    return rows


def catalog(config: BaoxueConfig | None = None) -> dict[str, FeatureInfo]:
    """Every feature column under ``config`` with its :class:`FeatureInfo`, in column order.

    The words of the ``att_rule_*`` flags follow ``config.rules`` (a :class:`BaoxueConfig`;
    the default ``[rules]`` otherwise), built by :meth:`features.rulebook.Rule.flag_texts`.

    >>> catalog()["acad_bottom20_class"].family
    'academic'
    """
    fc, rules = feature_settings(config)
    names = feature_names(config)
    entries = [
        *_attendance(sorted(fc.recent_windows), names, rules),
        *_academic(names),
        *_hardship("prisoner_child" in fc.use_restricted, names),
        *_left_behind(names),
        *_context(fc),
    ]
    return {e.name: e for e in entries}


def feature_info(name: str, config: BaoxueConfig | None = None) -> FeatureInfo:
    """The catalogue entry of ``name``; all restricted variants are known, and so are the
    columns whose name carries another configured number (window, ``recent_change_days``,
    ``principal_leave_days``, ``bottom_share``: :func:`features.names.config_for_name`).

    >>> feature_info("hard_family_event_60d").en
    'family events in the last 60 days'
    """
    cat = catalog(config)
    if name in cat:
        return cat[name]
    full = FeaturesConfig(
        use_restricted=("ethnicity_code", "disability_type", "health_status", "prisoner_child")
    )
    for e in _context(full) + _hardship(True, feature_names(config)):
        if e.name == name:
            return e
    other = config_for_name(name, config)
    if other is not None:
        cat = catalog(other)
        if name in cat:
            return cat[name]
    raise KeyError(f"{name!r} is not a feature column; see features.catalog.catalog()")


def format_value(unit: str, value: object, language: Literal["zh", "en"] = "zh") -> str:
    """A value written for a head teacher.

    >>> format_value("share", 0.125), format_value("school_days", 4.0), format_value("percentile", 12.4)
    ('12%', '4', '12')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "未知" if language == "zh" else "unknown"
    if unit == "category":
        return str(value)
    v = float(value)  # type: ignore[arg-type]
    if unit == "share":
        return f"{v:.0%}"
    if unit in (
        "school_days",
        "count",
        "days",
        "grade",
        "level",
        "percentile",
        "percent",
        "cny",
        "years",
        "months",
    ):
        return f"{v:.0f}"
    return f"{v:.1f}"


def phrase(
    name: str,
    value: object,
    language: Literal["zh", "en"] = "zh",
    config: BaoxueConfig | None = None,
) -> str:
    """The reason sentence for ``name`` at ``value`` (a flag's sentence says it is true)."""
    info = feature_info(name, config)
    template = info.reason_zh if language == "zh" else info.reason_en
    return template.format(value=format_value(info.unit, value, language))


def catalog_markdown(config: BaoxueConfig | None = None) -> str:
    """The catalogue as a Markdown table (the README's feature section is generated from it).

    >>> catalog_markdown().splitlines()[0]
    '| column | family | unit | 含义 | meaning | reason (zh) |'
    """
    rows = [
        {
            "column": f"`{e.name}`",
            "family": e.family,
            "unit": UNITS[e.unit][1],
            "含义": e.zh,
            "meaning": e.en,
            "reason (zh)": e.reason_zh.replace("{value}", "…"),
        }
        for e in catalog(config).values()
    ]
    frame = pd.DataFrame(rows)
    head = "| " + " | ".join(frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(str(v).replace("|", "/") for v in r) + " |" for r in frame.itertuples(index=False)
    ]
    return "\n".join([head, sep, *body])
