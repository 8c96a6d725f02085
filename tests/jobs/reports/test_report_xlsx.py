"""The workbooks reopened with openpyxl: sheet names, headers, colours, frozen header, row counts."""

from __future__ import annotations

import openpyxl

from jobs.reports.xlsx import FIRST_DATA_ROW, MONTHLY_SHEETS, WEEKLY_SHEETS, ZERO_FILL, weekly_headers
from risk.reporting import FORM_COLUMNS, monthly_report
from risk.reporting.labels import TIER_COLOURS
from tests.jobs.reports._helpers import class_names, path_of


def _rgb(cell) -> str:
    return str(cell.fill.fgColor.rgb)[-6:]


def test_weekly_workbook(report_set, inputs, busiest_class):
    wb = openpyxl.load_workbook(path_of(report_set, f"{busiest_class}.xlsx"))
    assert tuple(wb.sheetnames) == WEEKLY_SHEETS["zh"]
    ws = wb[WEEKLY_SHEETS["zh"][0]]
    assert [c.value for c in ws[FIRST_DATA_ROW - 1]] == weekly_headers("zh")
    assert ws.cell(FIRST_DATA_ROW - 1, ws.max_column).value == "教师备注"  # the notes column
    assert "保密" in ws.cell(2, 1).value
    assert ws.freeze_panes == f"A{FIRST_DATA_ROW}"
    # print-ready (issue 19): A4, landscape for the wide list, fitted to one page wide, header repeated
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4 and ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows == f"${FIRST_DATA_ROW - 1}:${FIRST_DATA_ROW - 1}"
    snap = inputs.snapshot
    mine = snap.loc[(snap["class_id"] == busiest_class) & snap["listed"]]
    assert ws.max_row == FIRST_DATA_ROW - 1 + len(mine)
    names = {ws.cell(r, 1).value for r in range(FIRST_DATA_ROW, ws.max_row + 1)}
    assert names == class_names(inputs, busiest_class)
    labels = {"红色预警": "red", "黄色预警": "yellow", "蓝色关注": "blue"}
    for r in range(FIRST_DATA_ROW, ws.max_row + 1):
        tier = labels[ws.cell(r, 2).value]
        assert _rgb(ws.cell(r, 2)) == TIER_COLOURS[tier][0]
        assert _rgb(ws.cell(r, 1)) == TIER_COLOURS[tier][1]
    assert ws.column_dimensions["G"].width >= 30  # reasons get room


def test_monthly_workbook_is_laid_out_like_the_county_form(report_set, inputs):
    m = monthly_report("2024-03", cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables)
    wb = openpyxl.load_workbook(path_of(report_set, "monthly-2024-03.xlsx"))
    assert tuple(wb.sheetnames) == MONTHLY_SHEETS["zh"]
    ws = wb["新增疑似辍学学生情况统计表"]
    assert ws.cell(1, 1).value.endswith("新增疑似辍学学生情况统计表")
    assert "统计月份：2024年03月" in ws.cell(2, 1).value
    head = FIRST_DATA_ROW  # one extra line (unit and month) above the header
    assert [c.value for c in ws[head]] == [z for _, z, _ in FORM_COLUMNS]
    assert ws.freeze_panes == f"A{head + 1}"
    zero = (m.units["new_suspected"] == 0).sum()
    rows = [r for r in range(head + 1, ws.max_row + 1) if ws.cell(r, 3).value]
    assert len(rows) == len(m.form) + zero
    zero_rows = [r for r in rows if ws.cell(r, 6).value == "零报告"]
    assert len(zero_rows) == zero and all(_rgb(ws.cell(r, 1)) == ZERO_FILL for r in zero_rows)
    assert ws.cell(ws.max_row, 1).value.startswith("填表人")
    summary = wb["汇总"]
    n = len(m.units) + len(m.townships)
    assert summary.max_row == FIRST_DATA_ROW - 1 + n
    assert summary.cell(summary.max_row, 1).value == "全县"


def test_every_sheet_of_every_workbook_prints_on_a4_one_page_wide(report_set):
    """Print setup (issue 19: the XLSX files had none): A4, an orientation, fitted to one page
    wide, and each table's header row repeated on every printed page."""
    books = [p for p in report_set.files if p.suffix == ".xlsx"]
    kinds = {p.parent.name for p in books}
    assert {"classes", "schools"} <= kinds and any(p.name.startswith("monthly-") for p in books)
    for path in books:
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            where = f"{path.name}:{ws.title}"
            assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4, where
            assert ws.page_setup.orientation in ("landscape", "portrait"), where
            assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, where
            assert ws.page_setup.fitToHeight == 0, where  # as many pages down as needed
            if ws.freeze_panes:  # a table: its header row (the row above the frozen panes) repeats
                head = int(ws.freeze_panes[1:]) - 1
                assert ws.print_title_rows == f"${head}:${head}", where
