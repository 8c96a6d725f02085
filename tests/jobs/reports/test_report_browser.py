"""Each HTML report opened by headless Chromium from disk: visible text, a screenshot, Chinese glyphs.

Skips, saying why, where Chromium is not installed (.ci/run installs it).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.jobs.reports._helpers import class_names, other_names, path_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium fonts-noto-cjk)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=True)


def visible_text(path: Path) -> str:
    """The page's text after Chromium parsed it (tags and style removed)."""
    dom = _chromium("--dump-dom", path.resolve().as_uri()).stdout
    dom = re.sub(r"<style.*?</style>|<script.*?</script>", " ", dom, flags=re.S)
    dom = re.sub(r"<img[^>]*>", " ", dom)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def screenshot(path: Path, png: Path, size: str = "800,1200") -> Image.Image:
    _chromium(f"--screenshot={png}", f"--window-size={size}", path.resolve().as_uri())
    return Image.open(png).convert("L")


def test_weekly_list_shows_its_class_only(report_set, inputs, busiest_class, tmp_path):
    page = path_of(report_set, f"{busiest_class}.html")
    text = visible_text(page)
    mine, others = class_names(inputs, busiest_class), other_names(inputs, busiest_class)
    assert mine and all(n in text for n in mine)
    assert not [n for n in others if n in text]
    assert "保密" in text and "教师备注" in text
    snap = inputs.snapshot
    rows = snap.loc[(snap["class_id"] == busiest_class) & snap["listed"]]
    labels = {"red": "红色预警", "yellow": "黄色预警", "blue": "蓝色关注"}
    assert all(labels[str(t)] in text for t in rows["tier"])
    first_reason = str(rows["reasons_zh"].iloc[0]).split("；")[0]
    assert first_reason in text
    img = screenshot(page, report_set.folder / f"weekly-{busiest_class}.png")
    assert np.asarray(img).std() > 10  # something was drawn
    # a phone-width render is one column that still shows the names
    screenshot(page, tmp_path / "phone.png", size="390,900")


def test_school_monthly_and_student_pages_render(report_set, inputs):
    snap = inputs.snapshot
    school = sorted(snap["school_id"].unique())[0]
    text = visible_text(path_of(report_set, f"{school}.html"))
    assert "各班预警人数" in text and "逾期个案" in text and "保密" in text
    monthly = path_of(report_set, "monthly-2024-03.html")
    text = visible_text(monthly)
    assert "新增疑似辍学学生情况统计表" in text and "零报告" in text and "全县" in text
    screenshot(monthly, report_set.folder / "monthly.png")
    student = next(p for p in report_set.files if p.parent.name == "students")
    text = visible_text(student)
    assert "一生一案" in text and "帮扶计划" in text and "保密" in text
    names = inputs.tables.student_names
    assert names.loc[names["student_id"].astype("str") == student.stem, "name"].astype("str").iloc[0] in text
    img = screenshot(student, report_set.folder / "student.png", size="800,3000")
    assert np.asarray(img).std() > 10


def _cells(img: Image.Image, n: int, width: int) -> list[np.ndarray]:
    a = np.asarray(img)[:, : n * width] < 128  # ink
    rows = np.flatnonzero(a.any(axis=1))
    a = a[rows.min() : rows.max() + 1] if len(rows) else a
    return [a[:, i * width : (i + 1) * width] for i in range(n)]


def test_chinese_renders_as_glyphs_not_tofu(report_set, busiest_class, tmp_path):
    """Each character in its own box, with the report's own CSS: real glyphs are all different;
    missing glyphs (tofu) would be identical boxes, like the private-use characters here."""
    css = re.search(
        r"<style>.*?</style>", path_of(report_set, f"{busiest_class}.html").read_text("utf-8"), re.S
    )
    assert css is not None
    chars, missing = "控辍保学周报", "\ue000\ue001\ue002"
    cell = 80

    def page(text: str, name: str) -> Path:
        spans = "".join(f'<span style="display:inline-block;width:{cell}px">{c}</span>' for c in text)
        body = (
            f'<div style="font-size:60px;line-height:1;margin:0;padding:0;white-space:nowrap">{spans}</div>'
        )
        p = tmp_path / name
        p.write_text(f'<html><head><meta charset="utf-8">{css.group(0)}<style>body{{margin:0;padding:0;'
                     f'max-width:none}}</style></head><body>{body}</body></html>', "utf-8")  # fmt: skip
        return p

    glyphs = _cells(screenshot(page(chars, "zh.html"), report_set.folder / "glyphs.png", "700,120"), 6, cell)
    tofu = _cells(screenshot(page(missing, "tofu.html"), tmp_path / "tofu.png", "700,120"), 3, cell)
    assert all(g.sum() > 50 for g in glyphs), "a character left no ink"
    distinct = {g.tobytes() for g in glyphs}
    assert len(distinct) == len(chars), "characters render as identical boxes (tofu): no CJK font"
    assert len({t.tobytes() for t in tofu}) <= 1 or all(t.sum() == 0 for t in tofu)  # the control looks alike


def test_monitor_report_renders_its_charts_and_tables(sim, tmp_path):
    """The monitor page (``baoxue monitor --out``): status, realised vs expected chart,
    reliability diagram, drift and coverage tables, read back from Chromium's DOM."""
    import datetime as dt

    import pandas as pd

    from features.build import build_features
    from features.config import BaoxueConfig
    from jobs.reports.monitor import write_monitor_report
    from risk.monitoring import monitor
    from training.reference import feature_reference

    tables, run = sim
    cfg = BaoxueConfig()
    reference = feature_reference(build_features(tables, dt.date(2023, 10, 2), cfg))
    current = build_features(tables, dt.date(2024, 3, 18), cfg)
    result = monitor(pd.concat([run.history, run.snapshot], ignore_index=True), tables, as_of=dt.date(2024, 7, 20),
                     reference=reference, current=current)  # fmt: skip
    assert result.judged and result.drift is not None
    page = write_monitor_report(result, tmp_path / "monitor.html")
    dom = _chromium("--dump-dom", page.resolve().as_uri()).stdout
    assert dom.count('src="data:image/png;base64') >= 2  # precision over time, reliability diagram
    text = visible_text(page)
    for words in ("名单的实际效果", "Input drift", "数据覆盖", "状态 status", result.reasons[0]):
        assert words in text, words
    top = result.drift.table["feature"].iloc[0]
    assert top in text  # the drift table lists the features
    assert f"{result.judged[0]:%Y-%m-%d}" in text  # one row per judged night
    img = screenshot(page, tmp_path / "monitor.png", size="1000,2400")
    assert np.asarray(img).std() > 10
