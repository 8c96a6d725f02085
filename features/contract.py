"""The data contract: every input table, its columns, codes and pandera schema.

One :class:`TableSpec` per table of ``DATA_CONTRACT.md``. The specs are the single
source of truth: the pandera schemas (:data:`SCHEMAS`), the loader's coercion,
the simulator's output and the README's contract page are all derived from them.

After loading, frames follow these dtype rules (what feature builders may rely on):

- ``student_id`` in every table is a pandas ``category`` whose categories are the
  ids of the ``students`` table, sorted; ``.cat.codes`` is therefore a dense
  student index shared by all tables (-1 never occurs: unknown ids are rejected).
- enumerated columns (``values`` set) are ``category`` with the contract's codes
  as categories, in the order listed here (codes are stable across runs);
- other ids and free text are ``str``; dates are ``datetime64[s]`` at midnight;
  month-only fields (``birth_ym``, ``enrol_ym``) are the first day of the month;
- integers are ``Int64`` when nullable, else ``int64``; booleans are ``boolean``
  when nullable, else ``bool``; money and scores are ``float64``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Literal

import pandas as pd
import pandera.pandas as pa

from features.rulebook import RULEBOOK

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "TABLES",
    "REQUIRED_TABLES",
    "OPTIONAL_TABLES",
    "SCHEMAS",
    "Tables",
    "spec",
    "DROPOUT_REASONS",
    "PLACEMENTS",
    "CASE_TRIGGERS",
    "NON_RULE_TRIGGERS",
]

Kind = Literal["id", "str", "int", "float", "bool", "date", "month", "category"]

# Codes (DATA_CONTRACT.md "Codes").
DROPOUT_REASONS = (
    "learning_difficulty",
    "work",
    "early_marriage",
    "religion",
    "illness",
    "disability",
    "economic",
    "distance",
    "guardian",
    "mental_health",
    "other",
    # not dropouts, but cases that must be resolved
    "enrolled_elsewhere",
    "deferred",
    "abroad",
    "identity_issue",
    "deceased",
)
#: ``cases.trigger`` codes that are not rules: the model's red tier, its rank within capacity, staff
NON_RULE_TRIGGERS = ("model_red", "model_rank", "manual")
#: ``cases.trigger`` codes: the rules that open a case (:data:`features.rulebook.RULEBOOK`, in its
#: display order), then :data:`NON_RULE_TRIGGERS`
CASE_TRIGGERS: tuple[str, ...] = (*(c for c, r in RULEBOOK.items() if r.opens_case), *NON_RULE_TRIGGERS)
PLACEMENTS = (
    "same_grade_class",
    "separate_class",
    "vocational",
    "home_teaching",
    "remote_teaching",
    "illness_leave",
    "exempt",
    "deferred",
    "transferred_verified",
    "still_out",
)
SUBJECTS = (
    "chinese",
    "math",
    "english",
    "morality_law",
    "science",
    "physics",
    "chemistry",
    "biology",
    "history",
    "geography",
    "other",
)
CORE_SUBJECTS = ("chinese", "math", "english")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the contract.

    ``required`` columns must be present in the input; optional ones are added as
    missing when absent. ``nullable`` says whether a present column may hold
    missing values. ``restricted`` columns (PIPL sensitive) are kept for audits and
    support rules, never used as model features unless the config says so.
    """

    name: str
    kind: Kind
    zh: str = ""
    required: bool = True
    nullable: bool = False
    values: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None
    restricted: bool = False
    doc: str = ""

    @property
    def dtype(self) -> str:
        """The pandas dtype the loader gives this column."""
        return {
            "id": "str",
            "str": "str",
            "float": "float64",
            "date": "datetime64[s]",
            "month": "datetime64[s]",
            "category": "category",
            "int": "Int64" if self.nullable else "int64",
            "bool": "boolean" if self.nullable else "bool",
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: its name, key, columns and the date it becomes known."""

    name: str
    zh: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    known_date: str | None = None  # column that says when a row became known (point in time)
    doc: str = ""

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: Kind, zh: str = "", **kw) -> ColumnSpec:
    return ColumnSpec(name=name, kind=kind, zh=zh, **kw)


def _opt(name: str, kind: Kind, zh: str = "", **kw) -> ColumnSpec:
    return ColumnSpec(name=name, kind=kind, zh=zh, required=False, nullable=True, **kw)


_SID = _c("student_id", "id", "学生ID (学籍号的密钥哈希)")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "schools",
            "学校",
            ("school_id",),
            (
                _c("school_id", "id", "学校标识码"),
                _opt("county_code", "str", "县区代码"),
                _opt("township", "str", "乡镇"),
                _c(
                    "school_type",
                    "category",
                    "学校类型",
                    values=("primary", "junior", "nine_year", "teaching_point"),
                ),
                _opt("urban_rural", "category", "城乡类型", values=("urban", "town", "rural")),
                _opt("has_boarding", "bool", "是否有寄宿"),
                _opt("name", "str", "学校名称", doc="shown in reports and the web app; never a feature"),
            ),
        ),
        TableSpec(
            "calendar",
            "校历",
            ("school_id", "date"),
            (
                _c("school_id", "id", "学校标识码"),
                _c("date", "date", "日期"),
                _c("is_school_day", "bool", "是否上课日"),
                _opt("term_id", "str", "学期"),
                _opt("day_type", "category", "日期类型", values=("normal", "holiday", "exam", "makeup")),
            ),
            # a calendar day counts from that day on (features.time.school_days reads it so)
            known_date="date",
        ),
        TableSpec(
            "classes",
            "班级",
            ("class_id",),
            (
                _c("class_id", "id", "班级标识"),
                _c("school_id", "id", "学校标识码"),
                _c("academic_year", "int", "学年 (起始年)", ge=1990, le=2100),
                _c("grade", "int", "年级", ge=1, le=9),
                _opt("head_teacher_id", "id", "班主任"),
                _opt("name", "str", "班级名称", doc="e.g. 六年级(1)班; reports say 六年级1班 without it"),
            ),
        ),
        TableSpec(
            "students",
            "学生",
            ("student_id", "valid_from"),
            (
                _SID,
                _c("valid_from", "date", "生效日期"),
                _opt("valid_to", "date", "失效日期"),
                _c("school_id", "id", "学校标识码"),
                _opt("class_id", "id", "班级"),
                _c("grade", "int", "年级", ge=1, le=9),
                _c("sex", "category", "性别", values=("M", "F")),
                _c("birth_ym", "month", "出生年月"),
                _opt("ethnicity_code", "str", "民族", restricted=True),
                _opt("hukou_type", "category", "户口性质", values=("agri", "non_agri")),
                _opt("enrol_ym", "month", "入学年月"),
                _opt("is_boarding", "bool", "是否住校"),
                _opt("is_migrant_child", "bool", "是否随迁子女"),
                _opt("only_child", "bool", "是否独生子女"),
                _opt("orphan", "bool", "是否孤儿"),
                _opt(
                    "inclusive_ed",
                    "category",
                    "随班就读",
                    values=("none", "visual", "hearing", "intellectual", "other"),
                ),
                _opt("disability_type", "str", "残疾类型", restricted=True),
                _opt("health_status", "int", "健康状况 (10 健康 … 50 残疾)", ge=10, le=50, restricted=True),
                _opt("distance_km", "float", "上下学距离 (公里)", ge=0, le=200),
                _opt(
                    "commute_mode",
                    "category",
                    "上下学方式",
                    values=("walk", "bike", "school_bus", "public_bus", "private", "boat", "other"),
                ),
            ),
            required=True,
            known_date="valid_from",
            doc="Versioned: one row per student and period; a new row when school, class, "
            "grade or status changes.",
        ),
        TableSpec(
            "student_names",
            "学生姓名",
            ("student_id",),
            (_SID, _c("name", "str", "姓名")),
            doc="Reports only: never joined into features, never logged.",
        ),
        TableSpec(
            "guardians",
            "监护人",
            ("student_id", "member_no", "valid_from"),
            (
                _SID,
                _c("member_no", "int", "成员序号", ge=1, le=20),
                _c("relation", "category", "关系", values=("father", "mother", "grandparent", "other")),
                _opt("is_guardian", "bool", "是否监护人"),
                _opt(
                    "migrant_work",
                    "category",
                    "外出务工",
                    values=("none", "in_county", "in_province", "out_province"),
                ),
                _opt("health_issue", "category", "健康问题", values=("none", "chronic", "disabled")),
                _c("valid_from", "date", "生效日期"),
                _opt("valid_to", "date", "失效日期"),
            ),
            known_date="valid_from",
        ),
        TableSpec(
            "left_behind",
            "留守",
            ("student_id", "effective_date"),
            (
                _SID,
                _c("effective_date", "date", "生效日期"),
                _c("status", "int", "留守状态 (0 否 1 单亲外出 2 双亲外出)", ge=0, le=2),
                _opt("absent_parent", "category", "外出父母", values=("father", "mother", "both")),
                _opt(
                    "caregiver",
                    "category",
                    "照料人",
                    values=("parent", "grandparent", "relative", "alone", "institution"),
                ),
            ),
            known_date="effective_date",
        ),
        TableSpec(
            "hardship",
            "家庭经济困难",
            ("student_id", "hardship_type", "valid_from"),
            (
                _SID,
                _c(
                    "hardship_type",
                    "category",
                    "困难类型",
                    values=(
                        "registered_poor",
                        "monitored",
                        "dibao",
                        "tekun",
                        "de_facto_unsupported",
                        "disabled_household",
                        "prisoner_child",
                    ),
                ),
                _opt("level", "category", "困难等级", values=("special", "moderate", "general")),
                _c("valid_from", "date", "认定日期"),
                _opt("valid_to", "date", "退出日期"),
            ),
            known_date="valid_from",
            doc="prisoner_child rows are restricted: audits and support rules only.",
        ),
        TableSpec(
            "aid",
            "资助",
            ("student_id", "paid_date", "aid_type"),
            (
                _SID,
                _c("paid_date", "date", "发放日期"),
                _opt("term_id", "str", "学期"),
                _c(
                    "aid_type",
                    "category",
                    "资助类型",
                    values=("boarding_subsidy", "living_subsidy", "nutrition", "fee_waiver", "other"),
                ),
                _opt("amount_cny", "float", "金额 (元)", ge=0),
            ),
            known_date="paid_date",
        ),
        TableSpec(
            "family_events",
            "家庭变故",
            ("student_id", "event_date", "event_type"),
            (
                _SID,
                _c("event_date", "date", "事件日期"),
                _c(
                    "event_type",
                    "category",
                    "事件类型",
                    values=(
                        "parent_death",
                        "parent_illness",
                        "divorce",
                        "parent_migration_start",
                        "parent_return",
                        "disaster",
                        "incarceration",
                        "house_move",
                    ),
                ),
            ),
            known_date="event_date",
            doc="incarceration events are restricted.",
        ),
        TableSpec(
            "attendance",
            "考勤",
            ("student_id", "date", "session"),
            (
                _SID,
                _c("date", "date", "日期"),
                _opt("session", "category", "时段", values=("day", "am", "pm", "evening")),
                _c(
                    "status",
                    "category",
                    "出勤状态",
                    values=("present", "late", "left_early", "leave_sick", "leave_personal", "unexcused"),
                ),
                _opt("leave_id", "id", "请假单号"),
            ),
            required=True,
            known_date="date",
            doc="A school day with no row for an enrolled student is unknown, not present.",
        ),
        TableSpec(
            "leave_requests",
            "请假",
            ("leave_id",),
            (
                _c("leave_id", "id", "请假单号"),
                _SID,
                _c("start_date", "date", "开始日期"),
                _c("end_date", "date", "结束日期"),
                _opt("reason", "category", "请假原因", values=("sick", "personal", "family", "other")),
                _opt(
                    "approver_role",
                    "category",
                    "审批人",
                    values=("head_teacher", "academic_office", "principal"),
                ),
                _opt("approved", "bool", "是否批准"),
                _opt("returned_at", "date", "销假日期"),
            ),
            known_date="start_date",
        ),
        TableSpec(
            "exams",
            "考试",
            ("exam_id",),
            (
                _c("exam_id", "id", "考试标识"),
                _c("school_id", "id", "学校标识码"),
                _c("grade", "int", "年级", ge=1, le=9),
                _opt("term_id", "str", "学期"),
                _c(
                    "exam_type",
                    "category",
                    "考试类型",
                    values=("monthly", "midterm", "final", "mock", "zhongkao"),
                ),
                _c("exam_date", "date", "考试日期"),
            ),
            required=True,
            known_date="exam_date",
        ),
        TableSpec(
            "exam_results",
            "成绩",
            ("student_id", "exam_id", "subject"),
            (
                _SID,
                _c("exam_id", "id", "考试标识"),
                _c("subject", "category", "科目", values=SUBJECTS),
                _opt("score", "float", "分数", ge=0),
                _opt("full_marks", "float", "满分", ge=1),
                _opt("level", "category", "等级", values=("A", "B", "C", "D")),
                _opt("absent", "bool", "缺考"),
            ),
            required=True,
            doc="At least one of score or level (unless absent). The date that counts is the "
            "exam's exam_date.",
        ),
        TableSpec(
            "registry_events",
            "学籍异动",
            ("student_id", "event_date", "event_type"),
            (
                _SID,
                _c("event_date", "date", "异动日期"),
                _c(
                    "event_type",
                    "category",
                    "异动类型",
                    values=(
                        "enrol",
                        "transfer_in",
                        "transfer_out",
                        "suspend",
                        "resume",
                        "suspected_mark",
                        "dropout_mark",
                        "return_mark",
                        "promote",
                        "graduate",
                        "deceased",
                        "abroad",
                        "other_left",
                    ),
                ),
                _opt("reason", "category", "辍学原因", values=DROPOUT_REASONS),
                _opt("verified", "bool", "是否核实"),
            ),
            required=True,
            known_date="event_date",
        ),
        TableSpec(
            "staff",
            "教职工",
            ("staff_id",),
            (
                _c("staff_id", "id", "教职工标识"),
                _c("school_id", "id", "学校标识码"),
                _c(
                    "role",
                    "category",
                    "岗位",
                    values=(
                        "head_teacher",
                        "subject_teacher",
                        "counsellor",
                        "moral_ed",
                        "principal",
                        "academic_office",
                        "township_cadre",
                    ),
                ),
                _opt("class_id", "id", "班级"),
                _opt("max_open_cases", "int", "最多包保案例数", ge=0, le=500),
                _opt(
                    "name",
                    "str",
                    "姓名",
                    doc="staff personal data: shown to staff in reports, never a feature",
                ),
            ),
        ),
        TableSpec(
            "cases",
            "台账 / 一生一案",
            ("case_id",),
            (
                _c("case_id", "id", "案例编号"),
                _SID,
                _c("opened_at", "date", "建档日期"),
                _c(
                    "trigger",
                    "category",
                    "触发原因",
                    values=CASE_TRIGGERS,
                ),
                _c(
                    "case_type",
                    "category",
                    "案例类型",
                    values=("suspected_dropout", "dropout", "prevention", "returned_followup"),
                ),
                _opt("reason_primary", "category", "主要原因", values=DROPOUT_REASONS),
                _opt("reason_secondary", "category", "次要原因", values=DROPOUT_REASONS),
                _opt("owner_staff_id", "id", "包保责任人"),
                _opt("four_step_stage", "int", "四步法阶段", ge=0, le=4),
                _c(
                    "status",
                    "category",
                    "状态",
                    values=("open", "returned", "placed", "closed", "transferred", "exempt"),
                ),
                _opt("placement", "category", "安置方式", values=PLACEMENTS),
                _opt("closed_at", "date", "销号日期"),
                _opt("closure_reason", "str", "销号原因"),
            ),
            known_date="opened_at",
        ),
        TableSpec(
            "case_events",
            "劝返记录",
            ("event_id",),
            (
                _c("event_id", "id", "记录编号"),
                _c("case_id", "id", "案例编号"),
                _c("ts", "date", "时间"),
                _c(
                    "event_type",
                    "category",
                    "记录类型",
                    values=(
                        "home_visit",
                        "phone",
                        "talk",
                        "persuasion",
                        "deadline_notice",
                        "penalty",
                        "court",
                        "aid_granted",
                        "home_teaching",
                        "placement",
                        "report_township",
                        "report_county",
                        "reassigned",
                        "note",
                    ),
                ),
                _opt("actor_role", "str", "执行人角色"),
                _opt(
                    "outcome",
                    "category",
                    "结果",
                    values=("no_contact", "contacted", "agreed", "refused", "returned"),
                ),
                _opt("next_due", "date", "下次跟进"),
            ),
            known_date="ts",
        ),
        TableSpec(
            "interventions",
            "帮扶措施",
            ("intervention_id",),
            (
                _c("intervention_id", "id", "措施编号"),
                _SID,
                _opt("case_id", "id", "案例编号"),
                _c(
                    "type",
                    "category",
                    "措施类型",
                    values=(
                        "tutoring",
                        "aid",
                        "counselling",
                        "talk",
                        "home_visit",
                        "peer_pairing",
                        "left_behind_care",
                        "home_teaching",
                        "other",
                    ),
                ),
                _opt("assigned_to_staff_id", "id", "负责人"),
                _c("start_date", "date", "开始日期"),
                _opt("end_date", "date", "结束日期"),
                _opt("sessions", "int", "次数", ge=0),
                _opt(
                    "assignment_mechanism",
                    "category",
                    "分配方式",
                    values=("rule", "model_rank", "random_borderline", "manual"),
                ),
                _opt("list_version", "str", "名单版本"),
                _opt("score_at_assign", "float", "分配时风险", ge=0, le=1),
                _opt("rank_at_assign", "int", "分配时排名", ge=1),
            ),
            known_date="start_date",
        ),
    )
}

REQUIRED_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.required)
OPTIONAL_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if not t.required)


def spec(table: str) -> TableSpec:
    """The :class:`TableSpec` of ``table``; a clear error names the known tables."""
    try:
        return TABLES[table]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(table, TABLES, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise KeyError(f"unknown table {table!r}.{hint} Known tables: {', '.join(TABLES)}") from None


def _pandera_column(col: ColumnSpec) -> pa.Column:
    checks: list[pa.Check] = []
    if col.values is not None:
        checks.append(pa.Check.isin(list(col.values), name=f"one of {list(col.values)}"))
    if col.ge is not None:
        checks.append(pa.Check.ge(col.ge, name=f">= {col.ge:g}"))
    if col.le is not None:
        checks.append(pa.Check.le(col.le, name=f"<= {col.le:g}"))
    if col.kind == "id":
        checks.append(pa.Check.str_length(min_value=1, name="non-empty"))
    # dtype is enforced by the loader's coercion; pandera checks values and nulls.
    return pa.Column(None, checks=checks, nullable=col.nullable, required=col.required)


def _schema(t: TableSpec) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {c.name: _pandera_column(c) for c in t.columns}, name=t.name, strict=False, coerce=False
    )


#: pandera schema of every table, derived from :data:`TABLES`.
SCHEMAS: dict[str, pa.DataFrameSchema] = {name: _schema(t) for name, t in TABLES.items()}


@dataclass(frozen=True)
class Tables:
    """The validated input tables of one county (or school). Optional tables may be ``None``.

    Frozen: builders never replace a table in place; use :meth:`replace` to get a copy
    with other frames (tests use it to scramble the future).
    """

    students: pd.DataFrame
    attendance: pd.DataFrame
    exams: pd.DataFrame
    exam_results: pd.DataFrame
    registry_events: pd.DataFrame
    schools: pd.DataFrame | None = None
    calendar: pd.DataFrame | None = None
    classes: pd.DataFrame | None = None
    student_names: pd.DataFrame | None = field(default=None, repr=False)
    guardians: pd.DataFrame | None = None
    left_behind: pd.DataFrame | None = None
    hardship: pd.DataFrame | None = None
    aid: pd.DataFrame | None = None
    family_events: pd.DataFrame | None = None
    leave_requests: pd.DataFrame | None = None
    staff: pd.DataFrame | None = None
    cases: pd.DataFrame | None = None
    case_events: pd.DataFrame | None = None
    interventions: pd.DataFrame | None = None

    def replace(self, **frames: pd.DataFrame | None) -> Tables:
        """A copy with some tables replaced."""
        from dataclasses import replace

        return replace(self, **frames)

    def present(self) -> tuple[str, ...]:
        """Names of the tables that are loaded."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @property
    def student_ids(self) -> pd.Index:
        """The sorted student ids; ``student_id`` categories in every table."""
        return self.students["student_id"].cat.categories

    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last attendance date."""
        d = self.attendance["date"]
        return d.min().date(), d.max().date()


assert {f.name for f in fields(Tables)} == set(TABLES), "Tables and TABLES disagree"


def contract_markdown() -> str:
    """The data contract as Markdown tables (the README's contract section is generated by this).

    >>> "| `student_id` |" in contract_markdown()
    True
    """
    lines: list[str] = []
    for t in TABLES.values():
        need = "required" if t.required else "optional"
        lines.append(
            f"**`{t.name}`** {t.zh} — {need}; key: {', '.join(t.key)}" + (f". {t.doc}" if t.doc else "")
        )
        lines.append("")
        lines.append("| column | 中文 | type | must be present | codes / range |")
        lines.append("|---|---|---|---|---|")
        for c in t.columns:
            codes = ", ".join(c.values) if c.values else ""
            rng = " ".join(
                x
                for x in (
                    f">= {c.ge:g}" if c.ge is not None else "",
                    f"<= {c.le:g}" if c.le is not None else "",
                )
                if x
            )
            extra = "; ".join(x for x in (codes, rng, "restricted (audit only)" if c.restricted else "") if x)
            lines.append(f"| `{c.name}` | {c.zh} | {c.kind} | {'yes' if c.required else 'no'} | {extra} |")
        lines.append("")
    return "\n".join(lines)
