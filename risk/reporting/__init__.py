"""What goes into each report (data only; ``jobs.reports`` renders it to HTML and XLSX).

- :func:`weekly_class_list` — the head teacher's weekly list of one class (班主任周报)
- :func:`school_summary` — the principal's school summary (校长)
- :func:`monthly_report` — the county monthly report by township and school (月报, zero-report)
- :func:`student_plan` — one student's sheet (一生一案) for the counsellor
"""

from risk.reporting._common import ReportConfig, county_mean, month_period
from risk.reporting._common import names as student_names
from risk.reporting.monthly import FORM_COLUMNS, UNIT_COLUMNS, MonthlyReport, monthly_report
from risk.reporting.school import SchoolSummary, school_summary
from risk.reporting.student import StudentPlan, attendance_calendar, student_plan, waterfall_frame
from risk.reporting.weekly import WEEKLY_COLUMNS, WeeklyClassList, weekly_class_list

__all__ = [
    "ReportConfig",
    "month_period",
    "county_mean",
    "student_names",
    "FORM_COLUMNS",
    "UNIT_COLUMNS",
    "MonthlyReport",
    "monthly_report",
    "SchoolSummary",
    "school_summary",
    "StudentPlan",
    "attendance_calendar",
    "student_plan",
    "waterfall_frame",
    "WEEKLY_COLUMNS",
    "WeeklyClassList",
    "weekly_class_list",
]
