"""The monitor report: how the past lists turned out, calibration, drift and data coverage.

One self-contained HTML page (inline CSS, matplotlib charts embedded as PNG), Chinese first
with English beside it, from a :class:`risk.monitoring.MonitorResult`: realised against
expected precision per list over time, a reliability diagram, the drift table and the
coverage table. Aggregates only, except the missed list (opaque student ids), which is for
the county's 控辍保学 office.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from markupsafe import Markup  # noqa: E402

from jobs.reports.charts import chart_language, chart_style, png_uri  # noqa: E402
from jobs.reports.html import html_table  # noqa: E402
from risk.monitoring import MonitorResult  # noqa: E402

__all__ = ["monitor_html", "write_monitor_report", "precision_chart", "reliability_chart"]

_STATUS = {"ok": "正常 ok", "watch": "关注 watch", "retrain": "需重新训练 retrain"}
_TIER = {
    "list": "名单 list",
    "red": "红 red",
    "yellow": "黄 yellow",
    "blue": "蓝 blue",
    "capacity": "容量内 capacity",
}
_COLOURS = {
    "list": "#1f4e79",
    "red": "#C0392B",
    "yellow": "#D4AC0D",
    "blue": "#2E86C1",
    "capacity": "#7D3C98",
}

_TEMPLATE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:1.5em auto;max-width:1000px;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.4em;margin-bottom:0}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
.sub{color:#555;margin-top:.2em}table{border-collapse:collapse;margin:.6em 0;font-size:.85em;width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}
td.num,th.num{text-align:right}.status{font-size:1.2em;padding:.4em .8em;margin:.6em 0}
.ok{background:#e8f6ec}.watch{background:#fff3cd}.retrain{background:#fde2e1}
.note{color:#444;font-size:.9em}img{max-width:100%}tr.flag td{background:#fde2e1}
</style></head><body>
<h1>{{ title }}</h1><p class="sub">{{ subtitle }}</p>
<div class="status {{ status }}">状态 status: <b>{{ status_words }}</b>
{% if reasons %}<ul>{% for r in reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}</div>
<h2>名单的实际效果 How past lists turned out</h2>
<p class="note">只评估结果窗口已关闭的名单 (only nights whose outcome window, {{ lag }} days, has closed):
{{ n_judged }} / {{ n_nights }}. 预期值 = 名单学生校准概率的均值 (expected = mean calibrated probability of the
listed, as NannyML's CBPE); 区间为 95%.</p>
{% for n in notes %}<p class="note">{{ n }}</p>{% endfor %}
{% if chart %}<img src="{{ chart }}" alt="realised vs expected precision">{% endif %}
{{ lists }}
<h3>汇总 Pooled over the judged nights</h3>{{ summary }}
<p class="note">提前量 Lead time: {{ lead }}</p>
<h3>按学校、学段和重点监测群体 By school, grade band and watched group</h3>
<p class="note">少于 {{ min_cell }} 人的单元格不显示 (cells under {{ min_cell }} children are suppressed).</p>
{{ by_group }}
<h3>漏报名单 Missed: dropped out, never listed</h3>{{ missed }}
<h2>校准 Calibration on realised outcomes</h2>
{% if reliability %}<img src="{{ reliability }}" alt="reliability diagram">{% endif %}
{{ calibration }}
<h2>输入漂移 Input drift</h2>
<p class="note">{{ drift_note }}</p>
{{ drift }}
<h2>数据覆盖 Data coverage</h2>
<p class="note">{{ coverage_note }}</p>
{{ coverage }}
{{ tables }}
<p class="note">Made by baoxue. 数字描述群体, 不评价任何一个孩子 (figures describe groups, never one child).</p>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def precision_chart(lists: pd.DataFrame, language: str = "zh") -> str | None:
    """Realised (dots, Wilson bars) against expected (line, band) precision per night and tier."""
    if not len(lists):
        return None
    lang = chart_language(language)  # type: ignore[arg-type]
    with plt.rc_context(chart_style(lang)):
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for tier in ("list", "red", "yellow", "capacity"):
            t = lists.loc[(lists["tier"] == tier) & (lists["n"] > 0)]
            if not len(t):
                continue
            x = pd.to_datetime(t["as_of"])
            c = _COLOURS[tier]
            name = _TIER[tier] if lang == "zh" else tier
            ax.plot(
                x,
                t["expected"],
                "-",
                color=c,
                lw=1,
                label=f"{name} 预期 expected" if lang == "zh" else f"{name} expected",
            )
            ax.fill_between(x, t["expected_low"], t["expected_high"], color=c, alpha=0.12)
            p = t["precision"].to_numpy(dtype=float)
            err = [  # clipped: a Wilson bound at 0 dropouts can sit a rounding error above p
                np.clip(p - t["precision_low"].to_numpy(dtype=float), 0, None),
                np.clip(t["precision_high"].to_numpy(dtype=float) - p, 0, None),
            ]
            ax.errorbar(
                x,
                p,
                yerr=err,
                fmt="o",
                ms=4,
                color=c,
                capsize=2,
                label=f"{name} 实际 realised" if lang == "zh" else f"{name} realised",
            )
        ax.set_ylabel("精确率 precision" if lang == "zh" else "precision")
        ax.set_ylim(0, None)
        ax.legend(fontsize=7, ncol=2, loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        return png_uri(fig)


def reliability_chart(reliability: pd.DataFrame, language: str = "zh") -> str | None:
    """Predicted against observed dropout rate per bin, over all judged nights."""
    r = reliability.loc[reliability["month"] == "all"] if len(reliability) else reliability
    if not len(r):
        return None
    lang = chart_language(language)  # type: ignore[arg-type]
    with plt.rc_context(chart_style(lang)):
        fig, ax = plt.subplots(figsize=(4.2, 4))
        hi = float(max(r["mean_predicted"].max(), r["observed_rate"].max(), 0.01)) * 1.1
        ax.plot([0, hi], [0, hi], "--", color="#888", lw=0.8)
        ax.plot(r["mean_predicted"], r["observed_rate"], "o-", color="#1f4e79")
        ax.set_xlabel("预测概率 predicted" if lang == "zh" else "predicted")
        ax.set_ylabel("实际辍学率 observed" if lang == "zh" else "observed")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        fig.tight_layout()
        return png_uri(fig)


def _round(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(digits).astype("str").replace("nan", "")
    return out


def _none(text: str) -> Markup:
    return Markup(f"<p class='note'>{text}</p>")


def monitor_html(result: MonitorResult, *, title: str = "模型运行监测 Watching the model in service") -> str:
    """The report as one HTML page."""
    q, c, d, cov = result.quality, result.calibration, result.drift, result.coverage
    num = ["n", "dropouts", "precision", "precision_low", "precision_high", "expected", "expected_low",
           "expected_high", "recall", "lift"]  # fmt: skip
    heads = {"as_of": "日期 night", "tier": "名单 list", "n": "人数 n", "dropouts": "辍学 dropouts",
             "precision": "实际精确率 realised", "precision_low": "下限 low", "precision_high": "上限 high",
             "expected": "预期 expected", "expected_low": "下限 low", "expected_high": "上限 high",
             "recall": "召回率 recall", "lift": "提升 lift"}  # fmt: skip
    if q is not None:
        lists_t = q.lists.assign(tier=q.lists["tier"].map(_TIER))
        flag = [
            "flag" if not w and n else ""
            for w, n in zip(q.lists["within_expected"], q.lists["n"], strict=True)
        ]
        lists = html_table(_round(lists_t), heads, row_class=flag, numeric=num)
        summary = html_table(_round(q.summary.assign(tier=q.summary["tier"].map(_TIER))),
                             {k: v for k, v in heads.items() if k != "as_of"}, numeric=num)  # fmt: skip
        ls = q.lead_summary
        lead = (f"{ls['events']:.0f} 起辍学, 提前列入 {ls['caught']:.0f} 起 (caught), "
                f"中位提前 {ls['median_lead_days']:.0f} 天 (median lead days), "
                f"提前30天以上 {ls['caught_30d_share']:.0%}") if ls.get("events") else "无辍学 (no dropouts)"  # fmt: skip
        bh = {"dimension": "维度 dimension", "value": "组 group", **{k: v for k, v in heads.items() if k not in ("as_of", "tier")},
              "suppressed": "不显示 suppressed"}  # fmt: skip
        by_group = html_table(_round(q.by_group), bh, numeric=num)
        missed = html_table(_round(q.missed)) if len(q.missed) else _none("无漏报 (none missed)")
    else:
        lists = summary = by_group = missed = _none("尚无结果窗口已关闭的名单 (no judged night yet)")
        lead = ""
    calibration = html_table(_round(c.by_month, 4)) if c is not None else _none("—")
    if d is not None:
        drift_note = (f"参照 reference: {d.source}. 漂移特征占比 drift share {d.share:.0%} "
                      f"(阈值 threshold {d.threshold}; 数据集漂移 dataset drift at {d.drift_share:.0%}). "
                      "数值: 标准化 Wasserstein 距离; 类别: Jensen-Shannon 距离.")  # fmt: skip
        drift = html_table(_round(d.table), row_class=["flag" if x else "" for x in d.table["drifted"]])
    else:
        drift_note, drift = "没有训练参照 (no training reference or no night to compare)", Markup("")
    coverage_note = (f"最近 {cov.days} 天 (last {cov.days} days to {cov.as_of}). "
                     + (f"停止报送考勤的班级 classes that stopped sending attendance: {', '.join(cov.stopped)}"
                        if cov.stopped else "没有班级停止报送考勤 (no class stopped sending attendance)")
                     + (f". 停止记录的考勤状态 statuses a school stopped recording: {', '.join(cov.stopped_statuses)}"
                        if cov.stopped_statuses else ""))  # fmt: skip
    problem = cov.classes.loc[cov.classes["stopped"] | (cov.classes["days_without_attendance"] > 0)
                              | (cov.classes["exams_missing"] > 0)]  # fmt: skip
    coverage = (html_table(problem, row_class=["flag" if x else "" for x in problem["stopped"]])
                if len(problem) else _none("所有班级数据完整 (every class complete)"))  # fmt: skip
    tables = html_table(cov.tables, row_class=["flag" if x else "" for x in cov.tables["stale"]])
    return _ENV.from_string(_TEMPLATE).render(
        title=title, subtitle=f"截至 as of {result.as_of} (数据至 data until {result.until})",
        status=result.status, status_words=_STATUS[result.status], reasons=result.reasons, lag=result.lag_days,
        n_judged=len(result.judged), n_nights=len(result.nights), notes=result.notes,
        chart=precision_chart(q.lists) if q is not None else None, lists=lists, summary=summary, lead=lead,
        min_cell=result.thresholds.min_cell, by_group=by_group, missed=missed,
        reliability=reliability_chart(c.reliability) if c is not None else None, calibration=calibration,
        drift_note=drift_note, drift=drift, coverage_note=coverage_note, coverage=coverage, tables=tables,
    )  # fmt: skip


def write_monitor_report(result: MonitorResult, path: str | Path) -> Path:
    """Write :func:`monitor_html` to ``path`` (folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(monitor_html(result), encoding="utf-8")
    return p
