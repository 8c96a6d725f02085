"""The 一生一案 attendance calendar as drawn (issue 19: it had no dates, and holidays were white
while the legend's "no record" was grey): weeks labelled by their Monday, non-school days in a
colour of their own, and a legend with exactly the colours drawn."""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jobs.reports.charts import attendance_heatmap, attendance_heatmap_figure

#: two school weeks by hand; Wednesday 2024-03-06 is a holiday (not a school day), Tuesday
#: 2024-03-05 a school day with no attendance row
ATTENDANCE = pd.DataFrame(
    {
        "date": pd.to_datetime(
            ["2024-03-04", "2024-03-05", "2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]
        ),
        "level": ["present", "unknown", "unexcused", "leave", "late", "present"],
    }
)


def _hex(rgba) -> str:
    return mcolors.to_hex(rgba).upper()


def test_the_calendar_is_dated_and_its_legend_matches_the_colours_drawn():
    fig = attendance_heatmap_figure(ATTENDANCE, "zh")
    ax = fig.axes[0]
    image = ax.images[0]
    drawn = np.array(
        [[_hex(image.cmap(image.norm(v))) for v in row] for row in np.asarray(image.get_array())]
    )
    present, late, unknown = "#58D68D", "#F9E79F", "#D5D8DC"
    unexcused, leave, off = "#C0392B", "#F5B041", "#FFFFFF"
    # rows Monday..Friday, columns the weeks of 03-04 and 03-11 (computed by hand)
    assert drawn.tolist() == [[present, late], [unknown, present], [off, off], [unexcused, off], [leave, off]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["03-04", "03-11"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["一", "二", "三", "四", "五"]
    legend = {_hex(h.get_facecolor()): t.get_text() for h, t in zip(ax.get_legend().get_patches(), ax.get_legend().get_texts(), strict=True)}  # fmt: skip
    assert set(np.unique(drawn)) <= set(legend)  # every colour drawn is explained...
    assert legend[unknown] == "无记录" and legend[off].startswith("非上课日")  # ...and told apart
    assert unknown != off
    plt.close(fig)
    assert attendance_heatmap(ATTENDANCE).startswith("data:image/png;base64,")


def test_ten_weeks_and_more_label_every_second_monday():
    days = pd.bdate_range("2024-01-01", periods=60)  # twelve weeks of weekdays
    fig = attendance_heatmap_figure(pd.DataFrame({"date": days, "level": "present"}), "en")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"{d:%m-%d}" for d in pd.date_range("2024-01-01", periods=12, freq="W-MON")[::2]]
    plt.close(fig)


def test_a_cjk_font_installed_after_matplotlib_cached_its_list_is_still_found(monkeypatch):
    """Issue 19: chart legends were English unless a CJK font happened to be in matplotlib's
    cached font list. cjk_font registers the system's CJK font files itself."""
    import pytest
    from matplotlib import font_manager

    from jobs.reports import charts

    files = [p for p in font_manager.findSystemFonts() if charts._FILE_HINT.search(p)]
    if not files:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    stale = [f for f in font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)  # a cache from before the install
    charts.cjk_font.cache_clear()
    try:
        assert charts.cjk_font() in charts.CJK_FAMILIES
        assert charts.chart_language("zh") == "zh"
    finally:
        charts.cjk_font.cache_clear()


def test_without_any_cjk_font_charts_fall_back_to_english_and_say_so(monkeypatch, caplog):
    from matplotlib import font_manager

    from jobs.reports import charts

    stale = [f for f in font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    charts.cjk_font.cache_clear()
    try:
        assert charts.cjk_font() is None and charts.chart_language("zh") == "en"
        assert "fonts-noto-cjk" in caplog.text
    finally:
        charts.cjk_font.cache_clear()
