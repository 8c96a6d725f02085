"""Render the reports of :mod:`risk.reporting` to self-contained HTML pages."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from jobs.reports import charts
from jobs.reports.templates import TEMPLATES
from risk.reporting import MonthlyReport, SchoolSummary, StudentPlan, WeeklyClassList
from risk.reporting._common import LIST_GROUPS
from risk.reporting.labels import CONFIDENTIAL, LIST_GROUP_LABELS, STAGE_LABELS, TIER_LABELS, Language, label
from risk.reporting.monthly import FORM_COLUMNS
from risk.reporting.school import TIER_COUNT_COLUMNS

__all__ = [
    "weekly_html",
    "school_html",
    "monthly_html",
    "student_html",
    "index_html",
    "html_table",
    "tier_count_headers",
    "overdue_headers",
    "unit_headers",
]

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def _fmt(v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, pd.Timestamp):
        return f"{v:%Y-%m-%d}"
    if isinstance(v, float | np.floating):
        return f"{v:.0%}" if 0 <= v <= 1 and not float(v).is_integer() else f"{v:g}"
    return str(v)


def html_table(
    frame: pd.DataFrame,
    headers: dict[str, str] | None = None,
    *,
    row_class: Sequence[str] | None = None,
    numeric: Sequence[str] = (),
) -> Markup:
    """A DataFrame as an escaped HTML table; ``headers`` renames (and selects, in order) columns."""
    cols = list(headers) if headers else list(frame.columns)
    names = [headers.get(c, c) if headers else c for c in cols]
    head = "".join(f'<th class="num">{escape(n)}</th>' if c in numeric else f"<th>{escape(n)}</th>"
                   for c, n in zip(cols, names, strict=True))  # fmt: skip
    body = []
    for i, row in enumerate(frame[cols].itertuples(index=False)):
        cls = f' class="{escape(row_class[i])}"' if row_class is not None and row_class[i] else ""
        cells = "".join(
            f'<td class="num">{escape(_fmt(v))}</td>' if c in numeric else f"<td>{escape(_fmt(v))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return Markup(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def _page(template: str, language: Language, title: str, subtitle: str, **context: object) -> str:
    zh = language == "zh"
    footer = (
        "本报告由保学 (baoxue) 生成：风险分是帮助安排帮扶的参考，不是对学生的评判；学生和家长可以要求解释。"
        if zh
        else "Made by baoxue: the risk score helps allocate support; it is not a judgement of the student, "
        "and students and parents may ask for an explanation."
    )
    return _ENV.get_template(template).render(
        lang=language, title=title, subtitle=subtitle, confidential=CONFIDENTIAL[0 if zh else 1], footer=footer,
        **context,
    )  # fmt: skip


_WEEKLY_T = {
    "zh": {
        "summary": "本页共",
        "places": "本校本周名单 {on} 人 / 名额 {cap}",
        "places_note": "（红色预警不占名额上限，黄色预警在名额内按风险排序）",
        "watched": "另有{n}名重点监测群体学生未列入名单，见下方“关注”",
        "watch": "关注（重点监测群体，未列入名单）",
        "watch_note": "这些学生属于重点监测群体（留守、随迁、家庭困难、残疾等），本周不在名单上；标签只提示关注，不是预警等级。",
        "tags": "重点监测群体",
        "county_mean": "风险以全县平均为单位：全县平均 = 当晚全县学生校准风险的均值",
        "class_size": "全班人数",
        "list": "需要关注的学生",
        "risk": "风险",
        "new": "本周新列入",
        "why_tier": "预警原因",
        "rules": "触发规则",
        "reasons": "主要原因",
        "protective": "有利因素",
        "case": "个案",
        "owner": "责任人",
        "no_owner": "未指定",
        "no_case": "尚未建档",
        "measures": "建议措施",
        "notes": "教师备注",
        "empty": "本周本班没有学生在名单上。",
        "left": "本周移出名单",
        "name": "姓名",
        "last_week": "上周",
        "now": "本周",
        "change": "风险 (较上周)",
        "left_none": "本周没有学生移出名单。",
        "moved_out": "上周名单中有{n}名学生已不在本班 (转班或离校)，不在此列出。",
    },
    "en": {
        "summary": "On this page:",
        "places": "The school's list this week: {on} / {cap} places",
        "places_note": " (red is not capped; yellow fills the places by risk)",
        "watched": "{n} more students of watched groups are not on the list: see Watched below",
        "watch": "Watched (watched groups, not on the list)",
        "watch_note": "These students belong to a watched group (left-behind, migrant, poor, disabled...) and are not on this week's list; a tag asks for attention, it is not a tier.",
        "tags": "watched group",
        "county_mean": "Risk in units of the county average: the mean calibrated risk of the county's students that night",
        "class_size": "students in the class",
        "list": "Students to follow",
        "risk": "risk",
        "new": "new on the list",
        "why_tier": "why this tier",
        "rules": "rules fired",
        "reasons": "main reasons",
        "protective": "protective",
        "case": "case",
        "owner": "owner",
        "no_owner": "none",
        "no_case": "no case yet",
        "measures": "suggested",
        "notes": "teacher's notes",
        "empty": "No student of this class is on the list this week.",
        "left": "Left the list this week",
        "name": "name",
        "last_week": "last week",
        "now": "now",
        "change": "risk (and last week)",
        "left_none": "Nobody left the list this week.",
        "moved_out": "{n} students on last week's list are no longer in this class and are not shown.",
    },
}


def weekly_html(wl: WeeklyClassList) -> str:
    """The weekly class list as one HTML page (cards; print and phone friendly)."""
    lang = wl.language
    t = dict(_WEEKLY_T[lang])
    t["moved_out"] = t["moved_out"].format(n=wl.moved_out)
    t["watched"] = t["watched"].format(n=wl.watched)
    t["places"] = t["places"].format(on=wl.school_on_list, cap=wl.school_places)
    rows = []
    for r in wl.students.to_dict("records"):
        r["arrow_class"] = {"↑": "up", "↓": "down"}.get(r["change_arrow"], "steady")
        rows.append(r)
    left = [{**r, "change": r["risk_text"]} for r in wl.left_list.to_dict("records")]
    watch = wl.watch.to_dict("records")
    zh = lang == "zh"
    klass = wl.class_name or wl.class_id
    school = wl.school_name or wl.school_id
    title = f"班主任周报 · {school} {klass}" if zh else f"Weekly class list · {school}, {klass}"
    prev = "" if pd.isna(wl.previous_as_of) else f"{wl.previous_as_of:%Y-%m-%d}"
    head = wl.head_teacher or wl.head_teacher_id
    subtitle = " · ".join(
        x
        for x in (
            wl.township,
            head,
            (f"数据日期 {wl.as_of:%Y-%m-%d}" + (f" (对比 {prev})" if prev else "")) if zh
            else (f"as of {wl.as_of:%Y-%m-%d}" + (f" (compared with {prev})" if prev else "")),
            f"班级编号 {wl.class_id}" if zh else f"class id {wl.class_id}",
        )
        if x
    )  # fmt: skip
    return _page(
        "weekly.html", lang, title, subtitle, t=t, wl=wl, rows=rows, left=left, watch=watch, counts=wl.tier_counts,
        group_labels={k: label(LIST_GROUP_LABELS, k, lang) for k in LIST_GROUP_LABELS},
    )  # fmt: skip


def school_html(s: SchoolSummary) -> str:
    """The principal's school summary as one HTML page."""
    lang = s.language
    zh = lang == "zh"
    grade_h = {"grade": "年级" if zh else "grade", **tier_count_headers(lang)}
    class_h = {"grade": grade_h["grade"], "class_name": "班级" if zh else "class",
               **{k: v for k, v in grade_h.items() if k != "grade"}}  # fmt: skip
    nums = list(TIER_COUNT_COLUMNS)
    owner_cols = {c: c for c in s.open_cases_by_owner.columns}
    owner_cols.update({"owner": "责任人" if zh else "owner", "total": "合计" if zh else "total"})
    overdue_h = overdue_headers(lang)
    returns_h = dict(zip(["case_id", "name", "class_name", "closed_at", "placement"],
                         ["个案", "姓名", "班级", "销号日期", "安置方式"] if zh else
                         ["case", "name", "class", "closed on", "placement"], strict=True))  # fmt: skip
    c = s.counts
    counts = (
        [("在校学生", c["students"]), ("列入名单", c["listed"]), ("红色预警", c["red"]),
         ("本周名单 / 名额", f"{c['on_list']} 人 / {c['places']}"), ("在办个案", c["open_cases"]),
         ("逾期个案", c["overdue"]), ("疑似辍学未返校", c["out_of_school"]), (f"{s.month}劝返销号", c["returns"])]
        if zh else
        [("students", c["students"]), ("listed", c["listed"]), ("red", c["red"]),
         ("list / places", f"{c['on_list']} / {c['places']}"), ("open cases", c["open_cases"]),
         ("overdue", c["overdue"]), ("out of school", c["out_of_school"]), (f"returned in {s.month}", c["returns"])]
    )  # fmt: skip
    t = (
        {"by_grade": "各年级预警人数", "by_class": "各班预警人数", "by_owner": "在办个案 (按责任人和建档天数)",
         "overdue": "逾期个案", "returns": f"{s.month} 劝返销号", "none": "无"}
        if zh else
        {"by_grade": "Tiers by grade", "by_class": "Tiers by class", "by_owner": "Open cases by owner and age",
         "overdue": "Overdue cases", "returns": f"Returned in {s.month}", "none": "none"}
    )  # fmt: skip
    row_class = ["total" if i == len(s.tiers_by_grade) - 1 else "" for i in range(len(s.tiers_by_grade))]
    school = s.school_name or s.school_id
    title = f"校长周报 · {school}" if zh else f"School summary · {school}"
    ref = f" · 学校编号 {s.school_id}" if zh else f" · school id {s.school_id}"
    subtitle = (
        f"{s.township} · 数据日期 {s.as_of:%Y-%m-%d}" if zh else f"{s.township} · as of {s.as_of:%Y-%m-%d}"
    ) + (ref if school != s.school_id else "")
    return _page(
        "school.html", lang, title, subtitle, t=t, counts=counts,
        chart=charts.tier_bars(s.tiers_by_grade, lang) if len(s.tiers_by_grade) > 1 else None,
        by_grade=html_table(s.tiers_by_grade, grade_h, row_class=row_class, numeric=nums),
        by_class=html_table(s.tiers_by_class, class_h, numeric=nums),
        has_owner=len(s.open_cases_by_owner) > 0,
        by_owner=html_table(s.open_cases_by_owner, owner_cols, numeric=[c for c in owner_cols if c != "owner"]),
        has_overdue=len(s.overdue) > 0, overdue=html_table(s.overdue, overdue_h, numeric=["days_overdue"]),
        has_returns=len(s.returns) > 0, returns=html_table(s.returns, returns_h),
    )  # fmt: skip


def tier_count_headers(language: Language) -> dict[str, str]:
    """Headers of the school summary's count columns (:data:`risk.reporting.school.TIER_COUNT_COLUMNS`)."""
    zh = language == "zh"
    h = {g: label(LIST_GROUP_LABELS, g, language) for g in LIST_GROUPS[:-1]}
    h["case"] = "未列入但有在办个案" if zh else "not listed, open case"
    h.update(
        {"shown": "班级名单人数" if zh else "on the class list", "listed": "列入名单" if zh else "listed",
         "watched": "重点监测群体未列入" if zh else "watched, not listed", "students": "人数" if zh else "students"}
    )  # fmt: skip
    return h


def overdue_headers(language: Language) -> dict[str, str]:
    """Headers of the school summary's overdue table."""
    keys = ["case_id", "name", "class_name", "case_type", "owner", "stage", "late", "due", "days_overdue"]
    words = (["个案", "姓名", "班级", "类型", "责任人", "四步法阶段", "逾期原因", "应办日期", "逾期天数"]
             if language == "zh" else
             ["case", "name", "class", "type", "owner", "stage", "why late", "due", "days overdue"])  # fmt: skip
    return dict(zip(keys, words, strict=True))


def unit_headers(language: Language) -> dict[str, str]:
    """Headers of the monthly report's unit table (township, school, counts, zero report)."""
    zh = language == "zh"
    h = {
        "township": "乡镇" if zh else "township",
        "school_name": "学校" if zh else "school",
        "new_suspected": "新增疑似辍学" if zh else "new suspected dropouts",
        "returned": "劝返销号" if zh else "returned (closed)",
        "other_closed": "核实销号 (转学等)" if zh else "closed otherwise",
        "still_out": "月末仍未返校" if zh else "still out at month end",
    }
    for s in STAGE_LABELS:
        h[f"still_out_stage_{s}"] = ("其中 " if zh else "of which ") + label(STAGE_LABELS, s, language)
    h["zero_report"] = "零报告" if zh else "zero report"
    return h


def _zero_text(frame: pd.DataFrame, language: Language) -> pd.DataFrame:
    yes = "零报告" if language == "zh" else "zero report"
    return frame.assign(zero_report=np.where(frame["zero_report"], yes, ""))


def monthly_html(m: MonthlyReport) -> str:
    """The county monthly report as one HTML page."""
    lang = m.language
    zh = lang == "zh"
    uh = unit_headers(lang)
    nums = [c for c in uh if c not in ("township", "school_name", "zero_report")]
    towns = _zero_text(m.townships, lang)
    town_h = {k: v for k, v in uh.items() if k != "school_name"}
    town_class = [
        "total" if i == len(towns) - 1 else ("zero" if z else "")
        for i, z in enumerate(m.townships["zero_report"])
    ]
    units = _zero_text(m.units, lang)
    form_h = {c: (z if zh else e) for c, z, e in FORM_COLUMNS}
    still_h = dict(zip(["township", "school_name", "class_name", "name", "opened_at", "days_out", "stage", "owner"],
                       ["乡镇", "学校", "班级", "姓名", "疑似辍学日期", "在外天数", "四步法阶段", "包保责任人"] if zh else
                       ["township", "school", "class", "name", "since", "days out", "stage", "owner"], strict=True))  # fmt: skip
    t = (
        {"townships": "乡镇汇总", "units": "各校情况 (无情况的学校为零报告)", "form": "新增疑似辍学学生情况统计表",
         "zero_all": "本月全县无新增疑似辍学学生 (零报告)。", "still_out": "月末仍未返校学生 (按四步法阶段)",
         "reasons": "新增疑似辍学原因", "placements": "劝返安置方式", "none": "无"}
        if zh else
        {"townships": "By township", "units": "By school (schools with nothing to report file a zero report)",
         "form": "New suspected dropouts", "zero_all": "No new suspected dropout in the county this month (zero report).",
         "still_out": "Still out at month end (by four-step stage)", "reasons": "Reasons of the new suspected dropouts",
         "placements": "Placements of returned students", "none": "none"}
    )  # fmt: skip
    if m.window is not None:
        title = (f"新增疑似辍学学生情况统计表 · {m.period_text}" if zh
                 else f"New suspected dropouts · {m.period_text}")  # fmt: skip
    else:
        title = f"控辍保学月报 · {m.month}" if zh else f"Monthly dropout report · {m.month}"
    subtitle = (
        f"{'统计期' if m.window is not None else '统计月份'} {m.period_text} · {len(m.units)}所学校，其中{int(m.units['zero_report'].sum())}所零报告"
        if zh
        else f"{'period' if m.window is not None else 'month'} {m.period_text} · {len(m.units)} schools, {int(m.units['zero_report'].sum())} with a zero report"
    )
    rnum = [c for c in m.reasons.columns if c != "township"]
    pnum = [c for c in m.placements.columns if c != "township"]
    return _page(
        "monthly.html", lang, title, subtitle, t=t,
        townships=html_table(towns, town_h, row_class=town_class, numeric=nums),
        units=html_table(units, uh, row_class=["zero" if z else "" for z in m.units["zero_report"]], numeric=nums),
        has_form=len(m.form) > 0, form=html_table(m.form, form_h, numeric=["row_no"]),
        has_still=len(m.still_out_cases) > 0, still=html_table(m.still_out_cases, still_h, numeric=["days_out"]),
        has_reasons=bool(rnum), reasons=html_table(m.reasons, {"township": uh["township"], **{c: c for c in rnum}},
                                                   numeric=rnum),
        has_placements=bool(pnum),
        placements=html_table(m.placements, {"township": uh["township"], **{c: c for c in pnum}}, numeric=pnum),
    )  # fmt: skip


def student_html(p: StudentPlan, *, english_driver_labels: list[str] | None = None) -> str:
    """The 一生一案 sheet as one HTML page with its charts embedded."""
    lang = p.language
    zh = lang == "zh"
    row = p.current
    t = (
        {"risk": "风险", "profile": "基本情况", "restricted": "含受限字段：仅限有权限的人员查看。",
         "reasons": "主要原因", "protective": "有利因素", "history": "本学期风险变化", "drivers": "当前主要影响因素",
         "drivers_note": "红色条使风险升高，绿色条使风险降低；文字来自特征说明，不是对学生的评价。",
         "attendance": "最近90个上课日出勤", "exams": "历次考试", "levels": "本校只报等级 (A-D)：", "cases": "个案与劝返记录",
         "interventions": "帮扶措施", "plan": "帮扶计划 (一生一案)",
         "plan_note": "以下内容由系统根据建议措施预填，请心理/德育教师或包保教师修改、确认后执行。",
         "goal": "目标", "measure": "措施", "owner": "责任人", "review": "复查日期", "none": "无",
         "signed": "责任教师签字：__________  日期：__________"}
        if zh else
        {"risk": "risk", "profile": "Profile", "restricted": "Includes restricted fields: authorised staff only.",
         "reasons": "Main reasons", "protective": "Protective", "history": "Risk over the term",
         "drivers": "Current drivers",
         "drivers_note": "Red bars raise the risk, green bars lower it; the words describe data, not the student.",
         "attendance": "Attendance, last 90 school days", "exams": "Exams over the terms", "levels": "This school reports levels only (A-D):",
         "cases": "Cases and their record", "interventions": "Support measures", "plan": "Plan (one student, one plan)",
         "plan_note": "Pre-filled from the suggested measures: the counsellor edits and confirms it.",
         "goal": "goal", "measure": "measure", "owner": "owner", "review": "review on", "none": "none",
         "signed": "Teacher's signature: __________  date: __________"}
    )  # fmt: skip
    reasons = [r for r in str(row.get(f"reasons_{lang}", "") or "").split("；" if zh else ";") if r.strip()]
    case_h = dict(zip(list(p.cases.columns), ["个案", "建档日期", "类型", "原因", "责任人", "四步法阶段", "状态",
                                              "安置方式", "销号日期"] if zh else list(p.cases.columns), strict=True))  # fmt: skip
    event_h = dict(zip(list(p.events.columns), ["日期", "个案", "记录", "执行人", "结果", "下次日期"] if zh
                       else list(p.events.columns), strict=True))  # fmt: skip
    iv_h = dict(zip(list(p.interventions.columns), ["措施", "负责人", "开始", "结束", "次数"] if zh
                    else list(p.interventions.columns), strict=True))  # fmt: skip
    title = f"一生一案 · {p.name}" if zh else f"One student, one plan · {p.name}"
    where = f"{p.school_name or row['school_id']} · {p.class_name or row['class_id']}"
    subtitle = (f"{where} · 数据日期 {p.as_of:%Y-%m-%d}" if zh
                else f"{where} · as of {p.as_of:%Y-%m-%d}")  # fmt: skip
    return _page(
        "student.html", lang, title, subtitle, t=t, tier=str(row["tier"]),
        tier_label=label(TIER_LABELS, str(row["tier"]), lang), band=p.risk_text,
        tier_reason=str(row.get(f"tier_reason_{lang}", "") or ""),
        profile=html_table(p.profile, {"field": "项目" if zh else "field", "value": "情况" if zh else "value"}),
        restricted=p.restricted_shown, reasons=reasons,
        protective=str(row.get(f"protective_{lang}", "") or ""),
        risk_chart=charts.risk_line(p.risk_history, lang),
        waterfall=charts.waterfall(p.drivers, lang, english_driver_labels) if p.drivers is not None else None,
        attendance_chart=charts.attendance_heatmap(p.attendance, lang),
        exam_chart=charts.exam_lines(p.exams, lang),
        has_history=len(p.exam_history) > 0,
        exam_history=html_table(
            p.exam_history.assign(exam_type=p.exam_history["exam_type"].map(lambda t: label(EXAM_TYPE_LABELS, t, lang))),
            exam_history_headers(lang), numeric=["failed_n"],
        ),
        has_levels=len(p.exam_levels) > 0,
        exam_levels=html_table(
            p.exam_levels.assign(exam_type=p.exam_levels["exam_type"].map(lambda t: label(EXAM_TYPE_LABELS, t, lang)))
            if len(p.exam_levels) else p.exam_levels,
            exam_level_headers(p.exam_levels, lang),
        ),
        has_cases=len(p.cases) > 0, cases=html_table(p.cases, case_h),
        has_events=len(p.events) > 0, events=html_table(p.events, event_h),
        has_interventions=len(p.interventions) > 0, interventions=html_table(p.interventions, iv_h),
        plan=p.plan.to_dict("records"),
    )  # fmt: skip


#: exams.exam_type -> (zh, en)
EXAM_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "monthly": ("月考", "monthly"),
    "midterm": ("期中", "midterm"),
    "final": ("期末", "final"),
    "unit": ("单元测验", "unit test"),
    "mock": ("模拟考试", "mock exam"),
    "zhongkao": ("中考", "zhongkao"),
}


def exam_history_headers(language: Language) -> dict[str, str]:
    """Headers of the 一生一案 sheet's exam table (:data:`risk.reporting.student.EXAM_HISTORY_COLUMNS`)."""
    words = (["考试日期", "学期", "考试类型", "各科成绩 (得分率或等级)", "不及格科数", "不及格科目", "缺考"]
             if language == "zh" else
             ["date", "term", "type", "results (share of full marks or level)", "failed", "failed subjects", "absent"])  # fmt: skip
    keys = ["exam_date", "term_id", "exam_type", "results", "failed_n", "failed", "absent"]
    return dict(zip(keys, words, strict=True))


def exam_level_headers(levels: pd.DataFrame, language: Language) -> dict[str, str]:
    """Headers of the levels-only exam table: date, term, type, then the subjects in words."""
    zh = language == "zh"
    h = {"exam_date": "考试日期" if zh else "date", "term_id": "学期" if zh else "term",
         "exam_type": "考试类型" if zh else "type"}  # fmt: skip
    for c in levels.columns:
        if c not in h:
            h[c] = charts.subject_label(c, language)
    return h


def index_html(
    sections: list[tuple[str, list[tuple[str, str]]]],
    title: str,
    subtitle: str,
    language: Language,
    schools: list[dict] | None = None,
) -> str:
    """The page to open first: the county's reports by section, then one block per school (its
    summary, a table of its classes with the students per tier and their lists, and its
    一生一案 sheets), so a person finds their own list at once."""
    zh = language == "zh"
    words = {
        "klass": "班级" if zh else "class", "red": TIER_LABELS["red"][0 if zh else 1],
        "yellow": TIER_LABELS["yellow"][0 if zh else 1], "blue": TIER_LABELS["blue"][0 if zh else 1],
        "students": "学生数" if zh else "students", "files": "名单" if zh else "lists",
        "sheets": "一生一案" if zh else "One student, one plan",
    }  # fmt: skip
    return _page(
        "index.html", language, title, subtitle, sections=sections, schools=schools or [], words=words
    )
