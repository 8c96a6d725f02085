"""Words for the codes that reports show: tiers, four-step stages, case and event types, reasons.

Every table maps a contract code to ``(zh, en)``. :func:`label` picks the language and
falls back to the code itself for a code it does not know (a county's own code shows as
it was entered rather than disappearing).
"""

from __future__ import annotations

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
    "ROLE_LABELS",
    "INTERVENTION_LABELS",
    "CONFIDENTIAL",
    "label",
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
