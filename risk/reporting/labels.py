"""Words for the codes that reports show: tiers, four-step stages, case and event types, reasons, risk.

Every table maps a contract code to ``(zh, en)``. :func:`label` picks the language and
falls back to the code itself for a code it does not know (a county's own code shows as
it was entered rather than disappearing).
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = [
    "Language",
    "TIER_LABELS",
    "TIER_COLOURS",
    "LIST_GROUP_LABELS",
    "STAGE_LABELS",
    "CASE_TYPE_LABELS",
    "CASE_STATUS_LABELS",
    "REASON_LABELS",
    "PLACEMENT_LABELS",
    "EVENT_LABELS",
    "FAMILY_EVENT_LABELS",
    "OUTCOME_LABELS",
    "SUBJECT_LABELS",
    "ROLE_LABELS",
    "INTERVENTION_LABELS",
    "CONFIDENTIAL",
    "label",
    "risk_multiple",
    "multiple_words",
    "risk_words",
    "NEAR_AVERAGE",
    "class_label",
]

Language = Literal["zh", "en"]

#: tier -> (zh, en); three-colour warning 红黄蓝三色预警
TIER_LABELS: dict[str, tuple[str, str]] = {
    "red": ("红色预警", "red"),
    "yellow": ("黄色预警", "yellow"),
    "blue": ("蓝色关注", "blue"),
    "none": ("未列入", "not listed"),
}

#: where a student stands on a class's list (``risk.reporting._common.list_group``) -> (zh, en):
#: the listed tiers, a student selected by the model's rank with no tier condition, a student
#: kept on the list only by a case still followed, and a student not on the list
LIST_GROUP_LABELS: dict[str, tuple[str, str]] = {
    "red": ("红色预警", "red"),
    "yellow": ("黄色预警", "yellow"),
    "blue": ("蓝色关注", "blue"),
    "selected": ("模型选入", "selected by the model"),
    "case": ("在办个案", "open case"),
    "none": ("未列入", "not listed"),
}

#: tier -> (strong colour for badges, light fill for table rows and XLSX cells), hex RGB without '#'
TIER_COLOURS: dict[str, tuple[str, str]] = {
    "red": ("C0392B", "F8D0CC"),
    "yellow": ("B7950B", "FFF2B3"),
    "blue": ("2E6DB4", "D6E6F7"),
    "none": ("7F8C8D", "FFFFFF"),
}

#: four-step method 四步法 stage (cases.four_step_stage) -> (zh, en)
STAGE_LABELS: dict[int, tuple[str, str]] = {
    0: ("未进入四步法", "not started"),
    1: ("第一步 宣传教育", "step 1: education and persuasion"),
    2: ("第二步 责令改正", "step 2: order to correct"),
    3: ("第三步 行政处罚", "step 3: administrative penalty"),
    4: ("第四步 诉讼/强制执行", "step 4: lawsuit / enforcement"),
}

CASE_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "suspected_dropout": ("疑似辍学", "suspected dropout"),
    "dropout": ("辍学", "dropout"),
    "prevention": ("预防关注", "prevention"),
    "returned_followup": ("复学跟踪", "follow-up after return"),
}

CASE_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "open": ("跟进中", "open"),
    "returned": ("已劝返", "returned"),
    "placed": ("已安置", "placed"),
    "closed": ("已销号", "closed"),
    "transferred": ("已转学", "transferred"),
    "exempt": ("免予入学", "exempt"),
}

#: dropout reason 辍学原因 (DATA_CONTRACT "Codes")
REASON_LABELS: dict[str, tuple[str, str]] = {
    "learning_difficulty": ("学习困难或厌学", "learning difficulty"),
    "work": ("外出打工", "work"),
    "early_marriage": ("早婚早育", "early marriage"),
    "religion": ("宗教影响", "religion"),
    "illness": ("因病", "illness"),
    "disability": ("因残", "disability"),
    "economic": ("家庭经济困难", "economic hardship"),
    "distance": ("上学远/交通不便", "distance to school"),
    "guardian": ("监护缺失/不重视", "guardianship"),
    "mental_health": ("心理问题", "mental health"),
    "other": ("其他", "other"),
    "enrolled_elsewhere": ("异地就读无学籍", "enrolled elsewhere without registry"),
    "deferred": ("延缓入学", "deferred"),
    "abroad": ("短期出国", "abroad"),
    "identity_issue": ("户籍原因/失踪失联", "identity / whereabouts unknown"),
    "deceased": ("死亡", "deceased"),
    "": ("未填写", "not recorded"),
}

#: placement after return 劝返安置
PLACEMENT_LABELS: dict[str, tuple[str, str]] = {
    "same_grade_class": ("随班就读/插班", "same grade, regular class"),
    "separate_class": ("单独编班", "separate class"),
    "vocational": ("普职融合", "vocational (registry kept)"),
    "home_teaching": ("送教上门", "home teaching"),
    "remote_teaching": ("远程教学", "remote teaching"),
    "illness_leave": ("休学", "illness leave"),
    "exempt": ("免予入学", "exempt"),
    "deferred": ("缓学", "deferred"),
    "transferred_verified": ("转学已核实", "transfer verified"),
    "still_out": ("仍未返校", "still out"),
    "": ("未填写", "not recorded"),
}

EVENT_LABELS: dict[str, tuple[str, str]] = {
    "home_visit": ("家访", "home visit"),
    "phone": ("电话联系", "phone call"),
    "talk": ("谈心", "talk"),
    "persuasion": ("劝返", "persuasion"),
    "deadline_notice": ("限期复学通知书", "notice to return by a deadline"),
    "penalty": ("行政处罚决定书", "administrative penalty"),
    "court": ("提起诉讼/申请强制执行", "court"),
    "aid_granted": ("落实资助", "aid granted"),
    "home_teaching": ("送教上门", "home teaching"),
    "placement": ("安置", "placement"),
    "report_township": ("报乡镇", "reported to the township"),
    "report_county": ("报县教育局", "reported to the county"),
    "reassigned": ("更换责任人", "reassigned"),
    "note": ("备注", "note"),
    # the nightly job's own events (risk.cases.SYSTEM_EVENT_TYPES) and the staff sheet's extra codes
    "opened": ("建档", "case opened"),
    "evidence": ("新的预警依据", "new evidence"),
    "escalation": ("建议采取四步法下一步", "next four-step step suggested"),
    "returned": ("已返校", "back at school"),
    "close_proposed": ("建议销号", "closing proposed"),
    "closed": ("销号", "closed"),
    "reopened": ("重新跟进", "reopened"),
    "step": ("四步法步骤", "four-step step taken"),
    "close": ("确认销号", "closing confirmed"),
}

#: family_events.event_type -> (zh, en)
FAMILY_EVENT_LABELS: dict[str, tuple[str, str]] = {
    "parent_death": ("父母去世", "a parent died"),
    "parent_illness": ("父母患重病", "a parent seriously ill"),
    "divorce": ("父母离异", "parents divorced"),
    "parent_migration_start": ("父母外出务工", "a parent left for work"),
    "parent_return": ("父母返乡", "a parent came back"),
    "disaster": ("家庭遭灾", "disaster at home"),
    "incarceration": ("家人服刑", "family member imprisoned"),
    "house_move": ("搬家", "moved house"),
}

#: exam_results.subject -> (zh, en)
SUBJECT_LABELS: dict[str, tuple[str, str]] = {
    "chinese": ("语文", "Chinese"),
    "math": ("数学", "maths"),
    "english": ("英语", "English"),
    "morality_law": ("道德与法治", "morality and law"),
    "science": ("科学", "science"),
    "physics": ("物理", "physics"),
    "chemistry": ("化学", "chemistry"),
    "biology": ("生物", "biology"),
    "history": ("历史", "history"),
    "geography": ("地理", "geography"),
    "other": ("其他", "other"),
}

OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "no_contact": ("未联系上", "no contact"),
    "contacted": ("已联系", "contacted"),
    "agreed": ("同意返校", "agreed to return"),
    "refused": ("拒绝", "refused"),
    "returned": ("已返校", "returned"),
}

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "head_teacher": ("班主任", "head teacher"),
    "subject_teacher": ("任课教师", "subject teacher"),
    "counsellor": ("心理教师", "counsellor"),
    "moral_ed": ("德育教师", "moral-education teacher"),
    "principal": ("校长", "principal"),
    "academic_office": ("教务处", "academic office"),
    "township_cadre": ("乡镇干部", "township cadre"),
    "system": ("系统", "system"),
}

INTERVENTION_LABELS: dict[str, tuple[str, str]] = {
    "tutoring": ("学困帮扶", "tutoring"),
    "aid": ("资助", "financial aid"),
    "counselling": ("心理辅导", "counselling"),
    "talk": ("谈心", "talk"),
    "home_visit": ("家访", "home visit"),
    "peer_pairing": ("结对帮扶", "peer pairing"),
    "left_behind_care": ("留守儿童之家", "left-behind children's home"),
    "home_teaching": ("送教上门", "home teaching"),
    "other": ("其他", "other"),
}

#: the line every list carries (DOMAIN.md: lists go only to responsible staff, never ranked publicly)
CONFIDENTIAL: tuple[str, str] = (
    "保密：仅供负责这些学生的教职工使用，不得张贴、公开、转发或用于排名。"
    "风险分只用于安排帮扶，每项措施由老师确认。",
    "Confidential: for the staff responsible for these students only. Do not post, publish, "
    "forward or use it to rank students. The risk score only allocates support; a teacher "
    "confirms every action.",
)


def label(table: dict, code: object, language: Language = "zh") -> str:
    """The word for ``code`` in ``table``; the code itself when unknown, '' for a missing code.

    >>> label(TIER_LABELS, "red"), label(TIER_LABELS, "red", "en"), label(STAGE_LABELS, 2)
    ('红色预警', 'red', '第二步 责令改正')
    >>> label(REASON_LABELS, "county_code_17")
    'county_code_17'
    """
    if code is None or (isinstance(code, float) and code != code):
        code = ""
    try:
        key = int(code) if table is STAGE_LABELS else str(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(code)
    pair = table.get(key)
    if pair is None:
        return str(code)
    return pair[0] if language == "zh" else pair[1]


#: a multiple of the county average inside (1 / NEAR_AVERAGE, NEAR_AVERAGE) reads "close to the average"
NEAR_AVERAGE = 1.5
#: from this multiple up a multiple is a whole number (below it, one decimal)
WHOLE_FROM = 3.0


def _finite(x: object) -> bool:
    try:
        return x is not None and math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def risk_multiple(p: object, county_mean: object) -> float:
    """``p`` as a multiple of the county average (NaN when either is missing or the mean is not > 0).

    >>> risk_multiple(0.12, 0.01), risk_multiple(0.05, 0.0)
    (12.0, nan)
    """
    if not (_finite(p) and _finite(county_mean)) or float(county_mean) <= 0:  # type: ignore[arg-type]
        return math.nan
    return float(p) / float(county_mean)  # type: ignore[arg-type]


def _one_decimal(m: float) -> float:
    """``m`` rounded to one decimal, half up (the number a reader sees; 0.3 / 0.2 is 1.5, not
    1.4999999999999998)."""
    return math.floor(m * 10 + 0.5) / 10


def _round_multiple(m: float) -> str:
    """A multiple as shown: one decimal below :data:`WHOLE_FROM`, a whole number from it (half up)."""
    if _one_decimal(m) >= WHOLE_FROM:
        return str(int(math.floor(m + 0.5)))
    return f"{_one_decimal(m):.1f}"


def multiple_words(m: float, language: Language = "zh", *, short: bool = False) -> str:
    """A multiple of the county average in words ('' when unknown).

    The rules (so that a reader does not weigh the third decimal) apply to the multiple rounded
    to one decimal, half up, so that the words never contradict the number shown:

    - from 1.5 up to 3: one decimal, "about 2.4×" (约为全县平均的2.4倍);
    - from 3 up: a whole number, rounded half up, "about 12×" (约为全县平均的12倍);
    - under 1.5 and above 1/1.5 (0.67): "close to the county average" (与全县平均相近);
    - at or under 0.6: "below the county average" (低于全县平均).

    ``short`` drops "the county average" after a multiple (for "last week about 8×").

    >>> multiple_words(12.0), multiple_words(2.44), multiple_words(1.44), multiple_words(0.5)
    ('约为全县平均的12倍', '约为全县平均的2.4倍', '与全县平均相近', '低于全县平均')
    >>> multiple_words(2.96), multiple_words(12.5, "en"), multiple_words(8.2, short=True)
    ('约为全县平均的3倍', 'about 13× the county average', '约为8倍')
    """
    zh = language == "zh"
    if not _finite(m):
        return ""
    shown = _one_decimal(m)
    if shown >= NEAR_AVERAGE:
        n = _round_multiple(m)
        if short:
            return f"约为{n}倍" if zh else f"about {n}×"
        return f"约为全县平均的{n}倍" if zh else f"about {n}× the county average"
    if shown > 1 / NEAR_AVERAGE:
        return "与全县平均相近" if zh else "close to the county average"
    return "低于全县平均" if zh else "below the county average"


def risk_words(
    p: object,
    county_mean: object,
    previous: object = None,
    *,
    previous_mean: object = None,
    language: Language = "zh",
    when: tuple[str, str] = ("上周", "last week"),
) -> str:
    """A calibrated probability as a teacher can weigh it: a multiple of the county average,
    with last week's in the same unit.

    At base rates near 1% a percentage (3%, 0.8%) reads as "almost nothing"; "12 times the
    county average" says how unusual the child is. ``county_mean`` is the mean calibrated
    probability over the county's students that night (the snapshot's mean); ``previous`` is
    the child's probability last week and ``previous_mean`` last week's county mean (default
    ``county_mean``). The rounding rules are :func:`multiple_words`'. '' when ``p`` or the mean
    is missing; no "last week" part when ``previous`` is missing. ``when`` names the earlier
    look (zh, en): "上周" / "last week" by default, "上次" / "last run" for a nightly view.

    Examples
    --------
    Hand-computed: 0.12 / 0.01 = 12; last week 0.08 / 0.01 = 8; 0.024 / 0.01 = 2.4; 0.014 / 0.01
    = 1.4 (under 1.5: close to the average).

    >>> risk_words(0.12, 0.01)
    '约为全县平均的12倍'
    >>> risk_words(0.12, 0.01, 0.08)
    '约为全县平均的12倍（上周约为8倍）'
    >>> risk_words(0.024, 0.01, 0.014, language="en")
    'about 2.4× the county average (last week close to the county average)'
    >>> risk_words(0.05, 0.01, 0.05, previous_mean=0.02)
    '约为全县平均的5倍（上周约为2.5倍）'
    >>> risk_words(float("nan"), 0.01), risk_words(0.1, 0.0)
    ('', '')
    """
    zh = language == "zh"
    now = multiple_words(risk_multiple(p, county_mean), language)
    if not now:
        return ""
    before_mean = county_mean if previous_mean is None or not _finite(previous_mean) else previous_mean
    before = multiple_words(risk_multiple(previous, before_mean), language, short=True)
    if not before:
        return now
    return f"{now}（{when[0]}{before}）" if zh else f"{now} ({when[1]} {before})"


_GRADES_ZH = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def class_label(class_id: str, grade=None, language: Language = "zh") -> str:
    """A class as people say it: "六年级1班" from the grade and a class id ending in ``-<n>``
    (the simulator's and many county systems' ids); the id itself otherwise.

    >>> class_label("SCH00007-2024-g6-1", 6)
    '六年级1班'
    >>> class_label("SCH00007-2024-g6-1", 6, "en")
    'grade 6, class 1'
    >>> class_label("7A", 7)
    '7A'
    """
    import re

    m = re.search(r"-(\d{1,2})$", str(class_id))
    try:
        g = int(grade)
    except (TypeError, ValueError):
        g = 0
    if m is None or not 1 <= g <= 9:
        return str(class_id)
    n = int(m.group(1))
    return f"{_GRADES_ZH[g]}年级{n}班" if language == "zh" else f"grade {g}, class {n}"
