"""Charts for the reports, drawn with matplotlib and embedded as ``data:image/png;base64`` URIs.

Chinese labels need a CJK font. :func:`cjk_font` looks for one through matplotlib's font
manager (registering the system's CJK font files if the cached font list predates them);
when there is none, charts fall back to English labels and a warning is logged once.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from risk.reporting.labels import TIER_COLOURS, TIER_LABELS, Language, label  # noqa: E402
from risk.reporting.student import ATTENDANCE_LEVELS  # noqa: E402

__all__ = [
    "chart_style",
    "cjk_font",
    "chart_language",
    "risk_line",
    "waterfall",
    "attendance_heatmap",
    "attendance_heatmap_figure",
    "exam_lines",
    "png_uri",
]

log = logging.getLogger(__name__)

#: font families tried in order (Debian fonts-noto-cjk, fonts-wqy-*, Windows and macOS fonts)
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)
_FILE_HINT = re.compile(
    r"cjk|wqy|wenquanyi|sourcehan|droidsansfallback|uming|ukai|simhei|msyh|pingfang", re.I
)

_ATT_COLOURS = {
    "unexcused": "#C0392B",
    "leave": "#F5B041",
    "late": "#F9E79F",
    "present": "#58D68D",
    "unknown": "#D5D8DC",
}


def _family_present() -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in names), None)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use, or ``None`` (warns once)."""
    found = _family_present()
    if found is None:
        for path in font_manager.findSystemFonts():
            if _FILE_HINT.search(path):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
                    continue
        found = _family_present()
    if found is None:
        log.warning(
            "no CJK font found by matplotlib: charts use English labels "
            "(install one, e.g. Debian's fonts-noto-cjk)"
        )
    return found


def chart_language(language: Language) -> Language:
    """The language charts can be drawn in: ``language``, or "en" when no CJK font exists."""
    if language == "zh" and cjk_font() is None:
        return "en"
    return language


def chart_style(language: Language) -> dict:
    """matplotlib rc settings of every report chart: a CJK font for zh, no unicode minus."""
    font = cjk_font() if language == "zh" else None
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    return {"font.family": families, "axes.unicode_minus": False, "font.size": 9}


def png_uri(fig) -> str:
    """A figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def risk_line(history: pd.DataFrame, language: Language = "zh") -> str:
    """Risk over the term per snapshot, points coloured by tier: as a multiple of that night's
    county average (``multiple``, the unit every list uses) where it is known for every point,
    else the probability (%)."""
    lang = chart_language(language)
    with plt.rc_context(chart_style(lang)):
        fig, ax = plt.subplots(figsize=(6.4, 2.4), layout="constrained")
        x = pd.to_datetime(history["as_of"])
        multiple = "multiple" in history and bool(history["multiple"].notna().all()) and len(history)
        if multiple:
            y = history["multiple"].astype("float64")
            ax.axhline(1.0, color="#888888", linewidth=0.8, linestyle="--")
            ylabel = "全县平均的倍数" if lang == "zh" else "× the county average"
            floor = 3.0
        else:
            y = history["probability"].astype("float64") * 100
            ylabel = "风险 (%)" if lang == "zh" else "risk (%)"
            floor = 10.0
        ax.plot(x, y, color="#555555", linewidth=1.2)
        colours = ["#" + TIER_COLOURS.get(str(t), TIER_COLOURS["none"])[0] for t in history["tier"]]
        ax.scatter(x, y, c=colours, s=22, zorder=3)
        ax.set_ylabel(ylabel)
        ax.set_title("本学期风险变化" if lang == "zh" else "risk over the term")
        ax.set_ylim(0, max(floor, float(np.nanmax(y)) * 1.2) if len(y) else floor)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        return png_uri(fig)


def waterfall(
    drivers: pd.DataFrame, language: Language = "zh", english_labels: list[str] | None = None
) -> str:
    """The SHAP waterfall of the current drivers (red pushes risk up, green down).

    ``english_labels`` replace the Chinese labels when no CJK font exists.
    """
    lang = chart_language(language)
    labels = list(drivers["label"])
    if lang != language and english_labels is not None:
        labels = english_labels
    with plt.rc_context(chart_style(lang)):
        n = len(drivers)
        fig, ax = plt.subplots(figsize=(6.4, 0.42 * n + 0.9), layout="constrained")
        y = np.arange(n)[::-1]
        colours = np.where(drivers["contribution"] > 0, "#C0392B", "#27AE60")
        ax.barh(y, drivers["contribution"], left=drivers["start"], color=colours, height=0.6)
        ax.set_yticks(y, labels)
        ax.axvline(float(drivers["start"].iloc[0]) if n else 0.0, color="#888888", linewidth=0.8)
        ax.set_xlabel("对风险的贡献 (模型单位)" if lang == "zh" else "contribution to risk (model units)")
        ax.set_title("当前主要影响因素" if lang == "zh" else "current drivers")
        ax.grid(axis="x", alpha=0.3)
        return png_uri(fig)


#: the colour of a day that is not a school day (weekend, holiday): white, unlike "no record" grey
NO_SCHOOL_COLOUR = "#FFFFFF"


def attendance_heatmap(attendance: pd.DataFrame, language: Language = "zh") -> str:
    """Attendance calendar: one cell per day, weeks as columns (labelled by their Monday's date),
    weekdays as rows (:func:`attendance_heatmap_figure`), as a PNG URI."""
    lang = chart_language(language)
    with plt.rc_context(chart_style(lang)):
        return png_uri(attendance_heatmap_figure(attendance, lang))


def attendance_heatmap_figure(attendance: pd.DataFrame, language: Language = "zh"):
    """The attendance calendar as a matplotlib figure. School days have their level's colour
    ("no record" grey: a school day without an attendance row); the days in between that are not
    school days (weekends, holidays of the school calendar) are white. The legend has one patch
    per colour the calendar can draw, in that colour, and nothing else; the x axis labels the
    weeks by their Monday (MM-DD, every second week past ten weeks)."""
    lang = language
    days = pd.to_datetime(attendance["date"])
    start = (days.min() - pd.Timedelta(days=int(days.min().day_of_week))) if len(days) else pd.NaT
    week = ((days - start).dt.days // 7).to_numpy() if len(days) else np.array([], int)
    dow = days.dt.day_of_week.to_numpy() if len(days) else np.array([], int)
    order = list(ATTENDANCE_LEVELS)
    off = len(order)  # not a school day
    codes = np.array([order.index(v) for v in attendance["level"]], dtype=float)
    n_weeks = int(week.max()) + 1 if len(week) else 1
    grid = np.full((7, n_weeks), float(off))
    grid[dow, week] = codes
    rows = sorted(set(dow.tolist())) or [0]
    rows = list(range(min(rows), max(rows) + 1))
    grid = grid[rows]
    colours = [_ATT_COLOURS[k] for k in order] + [NO_SCHOOL_COLOUR]
    cmap = matplotlib.colors.ListedColormap(colours)
    zh = lang == "zh"
    fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(rows) + 1.6), layout="constrained")
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=off + 0.5, aspect="equal")
    ax.set_xticks(np.arange(n_weeks + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#E5E7E9", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    names = ["一", "二", "三", "四", "五", "六", "日"] if zh else ["M", "T", "W", "T", "F", "S", "S"]
    ax.set_yticks(range(len(rows)), [names[r] for r in rows])
    step = 2 if n_weeks > 10 else 1
    ticks = list(range(0, n_weeks, step))
    if len(days):
        ax.set_xticks(ticks, [f"{start + pd.Timedelta(weeks=t):%m-%d}" for t in ticks], fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_xlabel("周一日期" if zh else "week of (Monday)", fontsize=8)
    ax.set_title(
        f"最近{len(attendance)}个上课日出勤" if zh else f"attendance, last {len(attendance)} school days"
    )
    no_school = "非上课日 (周末/假期)" if zh else "no school (weekend, holiday)"
    legend = [(label(ATTENDANCE_LEVELS, k, lang), _ATT_COLOURS[k]) for k in order] + [
        (no_school, NO_SCHOOL_COLOUR)
    ]
    handles = [matplotlib.patches.Patch(facecolor=c, edgecolor="#999999", label=t) for t, c in legend]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False, fontsize=8
    )
    return fig


_SUBJECTS = {
    "chinese": "语文",
    "math": "数学",
    "english": "英语",
    "morality_law": "道德与法治",
    "science": "科学",
    "physics": "物理",
    "chemistry": "化学",
    "biology": "生物",
    "history": "历史",
    "geography": "地理",
    "other": "其他",
}


def subject_label(subject: str, language: Language = "zh") -> str:
    """A subject code in words (the code itself in English)."""
    return _SUBJECTS.get(subject, subject) if language == "zh" else subject


def exam_lines(exams: pd.DataFrame, language: Language = "zh") -> str | None:
    """Exam results over the terms (share of full marks per subject); ``None`` without scores."""
    subjects = [c for c in exams.columns if c not in ("exam_date", "term_id", "exam_type")]
    if exams.empty or not subjects or exams[subjects].isna().all().all():
        return None
    lang = chart_language(language)
    with plt.rc_context(chart_style(lang)):
        fig, ax = plt.subplots(figsize=(6.4, 2.4), layout="constrained")
        for s in subjects:
            ax.plot(
                pd.to_datetime(exams["exam_date"]),
                exams[s] * 100,
                marker="o",
                markersize=3,
                label=_SUBJECTS.get(s, s) if lang == "zh" else s,
            )
        ax.set_ylabel("得分率 (%)" if lang == "zh" else "score (% of full marks)")
        ax.set_ylim(0, 105)
        ax.set_title("历次考试" if lang == "zh" else "exams over the terms")
        ax.legend(fontsize=7, ncol=min(len(subjects), 5), frameon=False)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        return png_uri(fig)


def tier_bars(by_grade: pd.DataFrame, language: Language = "zh") -> str:
    """Listed students per grade, stacked by tier (school summary)."""
    lang = chart_language(language)
    rows = by_grade.iloc[:-1]  # without the total row
    with plt.rc_context(chart_style(lang)):
        fig, ax = plt.subplots(figsize=(6.4, 2.4), layout="constrained")
        bottom = np.zeros(len(rows))
        for t in ("red", "yellow", "blue"):
            ax.bar(
                rows["grade"].astype("str"),
                rows[t],
                bottom=bottom,
                color="#" + TIER_COLOURS[t][0],
                label=label(TIER_LABELS, t, lang),
            )
            bottom += rows[t].to_numpy()
        ax.set_xlabel("年级" if lang == "zh" else "grade")
        ax.set_ylabel("人数" if lang == "zh" else "students")
        ax.legend(frameon=False, fontsize=8)
        return png_uri(fig)
