"""Render the reports of :mod:`risk.reporting` to files people open: HTML pages and XLSX workbooks.

- :mod:`jobs.reports.html` — self-contained HTML (inline CSS, embedded charts, A4 print, phone)
- :mod:`jobs.reports.xlsx` — openpyxl workbooks (frozen header, tier colours, notes column)
- :mod:`jobs.reports.bundle` — every class and school of a run into one dated folder
"""

from jobs.reports.html import index_html, monthly_html, school_html, student_html, weekly_html

__all__ = ["index_html", "monthly_html", "school_html", "student_html", "weekly_html"]
