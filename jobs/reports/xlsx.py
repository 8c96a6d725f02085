"""Render reports to XLSX workbooks (openpyxl).

Every list sheet has a title row, the confidentiality line, a bold header row that stays
frozen, column widths set for Chinese text, and tier colours. The weekly list ends with a
notes column for the teacher; the monthly workbook's first sheet is laid out like the county
form 新增疑似辍学学生情况统计表 (title, filing unit and month, header, one row per student,
zero-report rows, signature line).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from jobs.reports.html import overdue_headers, tier_count_headers, unit_headers
from risk.reporting import MonthlyReport, SchoolSummary, WeeklyClassList
from risk.reporting.labels import CONFIDENTIAL, TIER_COLOURS, TIER_LABELS, Language, label
from risk.reporting.monthly import FORM_COLUMNS

__all__ = [
    "weekly_xlsx",
    "monthly_xlsx",
    "school_xlsx",
    "WEEKLY_SHEETS",
    "MONTHLY_SHEETS",
    "weekly_headers",
    "FIRST_DATA_ROW",
    "ZERO_FILL",
]

#: sheet names per language
WEEKLY_SHEETS = {
    "zh": ("班级名单", "关注", "移出名单", "说明"),
    "en": ("Class list", "Watched", "Left the list", "About"),
}
MONTHLY_SHEETS = {
    "zh": ("新增疑似辍学学生情况统计表", "汇总", "仍未返校", "辍学原因", "安置方式"),
    "en": ("New suspected dropouts", "Summary", "Still out", "Reasons", "Placements"),
}
#: list sheets: row 1 title, row 2 confidentiality line, row 3 header, data from row 4
FIRST_DATA_ROW = 4
#: fill of zero-report rows
ZERO_FILL = "EEEEEE"

_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDE3EA")
_WRAP = Alignment(wrap_text=True, vertical="top")


def _fill(hex_rgb: str) -> PatternFill:
    return PatternFill("solid", fgColor=hex_rgb)


def _cell_value(v: object) -> object:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime().date()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _sheet(
    ws: Worksheet,
    title: str,
    headers: list[str],
    rows: list[list[object]],
    widths: list[float],
    language: Language,
    extra_lines: tuple[str, ...] = (),
) -> int:
    """Title, ``extra_lines``, confidentiality line, frozen header, bordered wrapped cells.

    Returns the first data row (:data:`FIRST_DATA_ROW` without extra lines).
    """
    ncol = max(len(headers), 1)
    ws.cell(1, 1, title).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
    for k, line in enumerate(extra_lines, start=2):
        ws.cell(k, 1, line)
        ws.merge_cells(start_row=k, start_column=1, end_row=k, end_column=ncol)
    r_conf = 2 + len(extra_lines)
    conf = ws.cell(r_conf, 1, CONFIDENTIAL[0 if language == "zh" else 1])
    conf.font = Font(bold=True, color="922B21")
    conf.alignment = Alignment(wrap_text=True)
    ws.merge_cells(start_row=r_conf, start_column=1, end_row=r_conf, end_column=ncol)
    ws.row_dimensions[r_conf].height = 32
    head_row = r_conf + 1
    first = head_row + 1
    for j, h in enumerate(headers, start=1):
        c = ws.cell(head_row, j, h)
        c.font = Font(bold=True)
        c.fill = _HEAD_FILL
        c.border = _BORDER
        c.alignment = Alignment(wrap_text=True, vertical="center")
    for i, row in enumerate(rows, start=first):
        for j, v in enumerate(row, start=1):
            c = ws.cell(i, j, _cell_value(v))
            c.border = _BORDER
            c.alignment = _WRAP
            if isinstance(c.value, type(pd.Timestamp(0).date())):
                c.number_format = "yyyy-mm-dd"
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    ws.freeze_panes = ws.cell(first, 1)
    _page_setup(ws, head_row, sum(widths))
    return first


def _page_setup(ws: Worksheet, head_row: int | None, width: float) -> None:
    """Print on A4, landscape when the columns are wide, fitted to the page width (any number
    of pages down), the header row (when the sheet is a table) repeated on every page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE if width > 90 else ws.ORIENTATION_PORTRAIT
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if head_row is not None:
        ws.print_title_rows = f"{head_row}:{head_row}"
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.print_options.horizontalCentered = True


def weekly_headers(language: Language) -> list[str]:
    """Headers of the weekly list sheet (the last one is the teacher's notes column)."""
    if language == "zh":
        return ["姓名", "预警等级", "风险 (与全县平均相比)", "较上周", "预警原因", "触发规则", "主要原因", "有利因素",
                "个案 / 责任人", "四步法阶段", "建议措施", "教师备注"]  # fmt: skip
    return ["name", "tier", "risk (vs the county average)", "since last week", "why this tier", "rules fired",
            "main reasons", "protective", "case / owner", "four-step stage", "suggested measures", "teacher's notes"]  # fmt: skip


def weekly_xlsx(wl: WeeklyClassList, path: str | Path) -> Path:
    """Write the weekly class list workbook; returns the path."""
    lang = wl.language
    zh = lang == "zh"
    sheets = WEEKLY_SHEETS[lang]
    wb = Workbook()
    ws = wb.active
    ws.title = sheets[0]
    rows = []
    for r in wl.students.to_dict("records"):
        change = r["change_arrow"]
        case = (
            " · ".join(x for x in (r["case_type"], r["case_status"], r["case_owner"]) if x)
            if r["case_id"]
            else ""
        )
        rows.append([r["name"], r["group_label"], r["risk_text"], change, r["tier_reason"], r["rules"], r["reasons"],
                     r["protective"], case, r["case_stage_label"], r["measures"], ""])  # fmt: skip
    places = (f"本校本周名单 {wl.school_on_list} 人 / 名额 {wl.school_places}" if zh
              else f"school list this week {wl.school_on_list} / {wl.school_places} places")  # fmt: skip
    where = f"{wl.school_name or wl.school_id} {wl.class_name or wl.class_id}"
    head = f" · {wl.head_teacher}" if wl.head_teacher else ""
    title = (f"班主任周报 {where}{head} ({wl.as_of:%Y-%m-%d}) · {places}" if zh
             else f"Weekly class list {where}{head} ({wl.as_of:%Y-%m-%d}) · {places}")  # fmt: skip
    _sheet(ws, title, weekly_headers(lang), rows, [10, 10, 18, 8, 16, 18, 36, 16, 18, 14, 20, 30], lang)
    for i, group in enumerate(wl.students["group"], start=FIRST_DATA_ROW):
        strong, light = TIER_COLOURS.get(str(group), TIER_COLOURS["none"])
        for j in range(1, 12):
            ws.cell(i, j).fill = _fill(light)
        ws.cell(i, 2).fill = _fill(strong)
        ws.cell(i, 2).font = Font(bold=True, color="FFFFFF")

    watch = wb.create_sheet(sheets[1])
    wh = (
        ["姓名", "重点监测群体", "风险 (与全县平均相比)", "教师备注"]
        if zh
        else ["name", "watched group", "risk", "teacher's notes"]
    )
    wrows = [[r["name"], r["tags_label"], r["risk_text"], ""] for r in wl.watch.to_dict("records")]
    wtitle = ("关注：重点监测群体学生，本周未列入名单（标签只提示关注，不是预警等级）" if zh
              else "Watched: students of watched groups not on this week's list (a tag, not a tier)")  # fmt: skip
    _sheet(watch, wtitle, wh, wrows, [12, 24, 24, 30], lang)

    left = wb.create_sheet(sheets[2])
    lh = (
        ["姓名", "上周", "本周", "风险 (较上周)"]
        if zh
        else ["name", "last week", "now", "risk (and last week)"]
    )
    lrows = [[r["name"], r["previous_tier_label"], r["tier_label"], r["risk_text"]]
             for r in wl.left_list.to_dict("records")]  # fmt: skip
    _sheet(left, sheets[2], lh, lrows, [12, 12, 20, 30], lang)

    about = wb.create_sheet(sheets[3])
    lines = [
        CONFIDENTIAL[0 if zh else 1],
        (
            f"数据日期 {wl.as_of:%Y-%m-%d}；模型 {wl.model_version}"
            if zh
            else f"as of {wl.as_of:%Y-%m-%d}; model {wl.model_version}"
        ),  # fmt: skip
        *(f"{label(TIER_LABELS, t, lang)}" for t in ("red", "yellow", "blue")),
        places,
        (
            f"风险以全县平均为单位：全县平均 = 当晚全县学生校准风险的均值 ({wl.county_mean:.2%})"
            if zh
            else f"risk in units of the county average: the mean calibrated risk that night ({wl.county_mean:.2%})"
        ),
    ]
    if wl.moved_out:
        lines.append(f"上周名单中有{wl.moved_out}名学生已不在本班，不在此列出。" if zh
                     else f"{wl.moved_out} students of last week's list left the class and are not shown.")  # fmt: skip
    for i, line in enumerate(lines, start=1):
        about.cell(i, 1, line).alignment = Alignment(wrap_text=True)
    for k, t in enumerate(("red", "yellow", "blue"), start=3):
        about.cell(k, 1).fill = _fill(TIER_COLOURS[t][1])
    about.column_dimensions["A"].width = 90
    _page_setup(about, None, 90)
    return _save(wb, path)


def _save(wb: Workbook, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def monthly_xlsx(m: MonthlyReport, path: str | Path, *, county: str = "") -> Path:
    """Write the monthly report workbook (first sheet laid out like the county form)."""
    lang = m.language
    zh = lang == "zh"
    sheets = MONTHLY_SHEETS[lang]
    wb = Workbook()
    ws = wb.active
    ws.title = sheets[0]
    headers = [z if zh else e for _, z, e in FORM_COLUMNS]
    keys = [c for c, _, _ in FORM_COLUMNS]
    rows = [[r[k] for k in keys] for r in m.form.to_dict("records")]
    zero_units = m.units.loc[m.units["new_suspected"] == 0]
    if m.window is None:
        zero_note = "本月无新增疑似辍学学生" if zh else "no new suspected dropout this month"
    else:
        zero_note = "本期无新增疑似辍学学生" if zh else "no new suspected dropout in this period"
    for u in zero_units.to_dict("records"):
        row: list[object] = [""] * len(keys)
        row[keys.index("township")] = u["township"]
        row[keys.index("school_name")] = u["school_name"]
        row[keys.index("name")] = "零报告" if zh else "zero report"
        row[keys.index("notes")] = zero_note
        rows.append(row)
    title = (f"{county}义务教育阶段新增疑似辍学学生情况统计表" if zh
             else f"{county} new suspected dropouts in compulsory education".strip())  # fmt: skip
    widths = [6, 10, 12, 6, 20, 10, 6, 10, 12, 16, 12, 20, 18, 10, 14, 12, 24]
    what = (
        ("统计期" if m.window is not None else "统计月份")
        if zh
        else ("period" if m.window is not None else "month")
    )
    unit_line = (f"填报单位：__________    {what}：{m.period_text}    填报日期：__________" if zh
                 else f"filed by: __________    {what}: {m.period_text}    date: __________")  # fmt: skip
    first = _sheet(ws, title, headers, rows, widths, lang, extra_lines=(unit_line,))
    for i in range(len(m.form), len(rows)):
        for j in range(1, len(headers) + 1):
            ws.cell(first + i, j).fill = _fill(ZERO_FILL)
    sign = first + len(rows) + 1
    ws.cell(sign, 1, "填表人：__________    审核人：__________    联系电话：__________" if zh
            else "prepared by: __________    checked by: __________    phone: __________")  # fmt: skip

    uh = unit_headers(lang)
    summary = wb.create_sheet(sheets[1])
    town_rows = m.townships.assign(school_name="小计" if zh else "subtotal")
    town_rows.loc[town_rows.index[-1], "school_name"] = ""
    units = pd.concat([m.units, town_rows], ignore_index=True)
    srows = [[r[k] if k != "zero_report" else ("零报告" if r[k] and zh else ("zero report" if r[k] else ""))
              for k in uh] for r in units.to_dict("records")]  # fmt: skip
    _sheet(summary, f"{sheets[1]} {m.month}", list(uh.values()), srows, [10, 12] + [10] * (len(uh) - 2), lang)
    for i, z in enumerate(units["zero_report"], start=FIRST_DATA_ROW):
        if z:
            for j in range(1, len(uh) + 1):
                summary.cell(i, j).fill = _fill(ZERO_FILL)
    for i in range(FIRST_DATA_ROW + len(m.units), FIRST_DATA_ROW + len(units)):
        for j in range(1, len(uh) + 1):
            summary.cell(i, j).font = Font(bold=True)

    still = wb.create_sheet(sheets[2])
    sh = (["乡镇", "学校", "班级", "姓名", "疑似辍学日期", "在外天数", "四步法阶段", "包保责任人"] if zh
          else ["township", "school", "class", "name", "since", "days out", "stage", "owner"])  # fmt: skip
    still_keys = ["township", "school_name", "class_name", "name", "opened_at", "days_out", "stage", "owner"]
    _sheet(
        still,
        sheets[2],
        sh,
        m.still_out_cases[still_keys].to_numpy().tolist(),
        [10, 12, 20, 10, 12, 8, 20, 20],
        lang,
    )
    for name, frame in ((sheets[3], m.reasons), (sheets[4], m.placements)):
        w = wb.create_sheet(name)
        cols = list(frame.columns)
        heads = [uh["township"] if c == "township" else c for c in cols]
        _sheet(w, name, heads, frame.to_numpy().tolist(), [12] + [14] * (len(cols) - 1), lang)
    return _save(wb, path)


def school_xlsx(s: SchoolSummary, path: str | Path) -> Path:
    """Write the school summary workbook: tiers by class, open cases by owner, overdue, returns."""
    lang = s.language
    zh = lang == "zh"
    wb = Workbook()
    counts = list(tier_count_headers(lang).values())
    parts = [
        ("各班预警人数" if zh else "Tiers by class", s.tiers_by_class.drop(columns="class_id"),
         ["年级" if zh else "grade", "班级" if zh else "class", *counts]),
        ("在办个案" if zh else "Open cases", s.open_cases_by_owner,
         ["责任人", *list(s.open_cases_by_owner.columns[1:-1]), "合计"] if zh else list(s.open_cases_by_owner.columns)),
        ("逾期个案" if zh else "Overdue", s.overdue[list(overdue_headers(lang))],
         list(overdue_headers(lang).values())),
        ("本月劝返销号" if zh else "Returned", s.returns.drop(columns="class_id"),
         ["个案", "姓名", "班级", "销号日期", "安置方式"] if zh else list(s.returns.columns.drop("class_id"))),
    ]  # fmt: skip
    for k, (name, frame, heads) in enumerate(parts):
        ws = wb.active if k == 0 else wb.create_sheet(name)
        ws.title = name
        _sheet(
            ws,
            f"{name} · {s.school_name or s.school_id}",
            heads,
            frame.to_numpy().tolist(),
            [14] * len(heads),
            lang,
        )
    return _save(wb, path)
