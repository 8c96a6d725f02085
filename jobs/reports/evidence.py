"""The intervention-evidence report: estimates, intervals, a forest plot, balance and overlap.

For researchers and county staff who ask "did the supports keep children in school?". One
self-contained HTML page (inline CSS, charts embedded as PNG) from an
:class:`risk.evidence.evaluate.InterventionEvaluation`. English: the estimators' words
(assumptions, warnings) are English; the policy terms keep their Chinese names.
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

from jobs.reports.charts import png_uri  # noqa: E402
from jobs.reports.html import html_table  # noqa: E402
from risk.evidence.evaluate import InterventionEvaluation  # noqa: E402

__all__ = ["evidence_html", "forest_plot", "write_evidence_report"]

_LABEL = {
    "borderline": "borderline lottery",
    "rd": "regression discontinuity",
    "aipw": "doubly robust (manual supports)",
    "event_study": "event study",
}
_OUTCOME = {
    "outcome_dropout": "dropout within 90 days",
    "outcome_attendance": "share of next 30 school days attended",
    "attendance": "share of each week's school days attended",
}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:1.5em auto;max-width:1000px;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.4em;margin-bottom:0}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
.sub{color:#555;margin-top:.2em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em;width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}
td.num,th.num{text-align:right}.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.4em .8em;margin:.4em 0}
.note{color:#444;font-size:.9em}img{max-width:100%}tr.miss td{background:#fde2e1}
</style></head><body>
<h1>{{ title }}</h1><p class="sub">{{ subtitle }}</p>
<p class="note">Effects are <b>with support minus without</b>. For dropout a negative number means fewer
children dropped out (0.01 = one percentage point); for attendance a positive number means more days at school.
Each interval is a {{ level }} confidence interval. {% if simulated %}The data is <b>simulated</b>: the column
"true" is the effect the simulator applied to the same students, and a shaded row is one whose interval
misses it.{% endif %}</p>
<h2>Estimates</h2>
{{ estimates }}
<img src="{{ forest }}" alt="forest plot of the estimates">
{% for w in warnings %}<div class="warn">{{ w }}</div>{% endfor %}
<h2>Who was compared, and what each design assumes</h2>
{{ designs }}
<h2>Balance in the lottery (borderline band)</h2>
<p class="note">Lottery winners and losers should look alike before the draw; a standardised mean
difference (SMD) of the risk score beyond ±0.1 is worth a look, beyond ±0.25 a sign the band was not
randomised as recorded.</p>
{{ balance }}
<h2>Overlap and balance of the doubly robust comparison</h2>
<p class="note">Supports teachers gave of their own accord are compared with similar students who did not
get them. The comparison is only as good as the overlap of the propensity (the chance of a support given the
recorded covariates) and the balance after weighting.</p>
{% if overlap %}<img src="{{ overlap }}" alt="propensity overlap">{% endif %}
{{ aipw_balance }}
<h2>By subgroup (the lottery, dropout)</h2>
{{ groups }}
<h2>Notes</h2>
<ul>{% for n in notes %}<li class="note">{{ n }}</li>{% endfor %}</ul>
<p class="note">Made by baoxue. Estimates describe groups of students, never an individual child.</p>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _outcomes(table: pd.DataFrame) -> list[str]:
    """The outcomes of ``table``: the known ones in report order, then any other."""
    present = list(dict.fromkeys(table["outcome"].astype("str")))
    return [o for o in _OUTCOME if o in present] + [o for o in present if o not in _OUTCOME]


def forest_plot(table: pd.DataFrame) -> str:
    """Estimates with intervals, one row each, one panel per outcome (every design appears,
    the event study's weekly attendance too); true effects as crosses."""
    outcomes = _outcomes(table)
    n = max(int(table["outcome"].astype("str").value_counts().max()), 2)
    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.6 * len(outcomes), 0.45 * n + 1.2), squeeze=False)
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        t = table.loc[table["outcome"] == outcome].reset_index(drop=True)
        y = np.arange(len(t))[::-1]
        est = t["estimate"].to_numpy(dtype=float)
        lo, hi = t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float)
        # an interval need not contain its point estimate (a permutation interval, a pooled fallback)
        ax.errorbar(
            est,
            y,
            xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)],
            fmt="o",
            color="#1f4e79",
            capsize=3,
            label="estimate",
        )
        if "true_effect" in t.columns:
            ax.plot(t["true_effect"].to_numpy(dtype=float), y, "x", color="#c00000", ms=8, label="true")
        ax.axvline(0, color="#888", lw=0.8)
        ax.set_yticks(y, [f"{_LABEL.get(e, e)}\n{k}" for e, k in zip(t["estimator"], t["intervention_type"])])
        ax.set_title(_OUTCOME.get(outcome, outcome), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return png_uri(fig)


def _overlap_plot(ev: InterventionEvaluation) -> str | None:
    res = next((r for r in ev.results if r.estimator == "aipw"), None)
    hist = res.diagnostics.get("propensity_histogram") if res is not None else None
    if hist is None or not len(hist):
        return None
    h = pd.DataFrame(hist)
    fig, ax = plt.subplots(figsize=(6, 2.6))
    x = np.arange(len(h))
    cols = [c for c in h.columns if c not in ("bin", "low", "high", "bin_low", "bin_high")]
    width = 0.8 / max(len(cols), 1)
    for i, c in enumerate(cols):
        ax.bar(x + i * width, h[c].to_numpy(dtype=float), width=width, label=str(c))
    labels = [f"{lo:.1f}-{hi:.1f}" for lo, hi in zip(h["bin_low"], h["bin_high"], strict=True)]
    ax.set_xticks(x + 0.4 - width / 2, labels, rotation=45, fontsize=7, ha="right")
    ax.set_xlabel("propensity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return png_uri(fig)


def evidence_html(ev: InterventionEvaluation, *, title: str = "What the supports achieved (帮扶成效)",
                  subtitle: str = "") -> str:  # fmt: skip
    """The report as one HTML page."""
    t = ev.table.copy()
    if not len(t):
        t = pd.DataFrame(
            columns=["estimator", "intervention_type", "outcome", "estimate", "ci_low", "ci_high", "p_value",
                     "n", "n_treated", "n_control", "estimand", "sample"]
        )  # fmt: skip
    t["design"] = t["estimator"].map(_LABEL).fillna(t["estimator"])
    t["outcome_words"] = t["outcome"].map(_OUTCOME).fillna(t["outcome"])
    for c in ("estimate", "ci_low", "ci_high", "true_effect", "p_value"):
        if c in t.columns:
            t[c] = t[c].astype(float).round(4).astype("str").replace("nan", "")
    headers = {"design": "design", "intervention_type": "support", "outcome_words": "outcome", "estimate": "estimate",
               "ci_low": "CI low", "ci_high": "CI high", "p_value": "p", "n": "n", "n_treated": "treated",
               "n_control": "control"}  # fmt: skip
    if ev.simulated:
        headers["true_effect"] = "true"
    miss = [
        "miss" if (ev.simulated and c is False) else "" for c in t.get("covers", pd.Series([None] * len(t)))
    ]
    estimates = html_table(
        t, headers, row_class=miss, numeric=["estimate", "ci_low", "ci_high", "p_value", "n"]
    )
    designs = html_table(
        t.assign(assumptions=t.get("assumptions", "")),
        {"design": "design", "outcome_words": "outcome", "estimand": "estimand", "sample": "sample",
         "assumptions": "assumptions"},
    )  # fmt: skip
    balance_rows = []
    for r in ev.results:
        if r.estimator != "borderline":
            continue
        comp = r.diagnostics.get("compliance", {}) or {}
        balance_rows.append(
            {"outcome": _OUTCOME.get(r.outcome, r.outcome), "winners": r.n_treated, "losers": r.n_control,
             "score SMD": round(float(r.diagnostics.get("score_smd", np.nan)), 3),
             "winners supported": comp.get("assigned_share_in"), "losers supported": comp.get("assigned_share_out"),
             "strata dropped": r.diagnostics.get("strata_dropped")}
        )  # fmt: skip
    balance = (
        html_table(pd.DataFrame(balance_rows)) if balance_rows else Markup("<p>No lottery in these runs.</p>")
    )
    aipw = next((r for r in ev.results if r.estimator == "aipw"), None)
    if aipw is not None and aipw.diagnostics.get("balance") is not None:
        b = pd.DataFrame(aipw.diagnostics["balance"])
        aipw_balance = html_table(b.round(3) if hasattr(b, "round") else b)
    else:
        aipw_balance = Markup("<p>No doubly robust comparison (too few manual supports).</p>")
    if len(ev.by_group):
        g = ev.by_group.copy()
        for c in ("estimate", "ci_low", "ci_high", "p_holm", "true_effect"):
            if c in g.columns:
                g[c] = g[c].astype(float).round(4).astype("str").replace("nan", "")
        gh = {"subgroup": "subgroup", "value": "value", "estimate": "estimate", "ci_low": "CI low", "ci_high": "CI high",
              "n": "n", "p_holm": "p (Holm)", "error": "why no estimate"}  # fmt: skip
        if "true_effect" in g.columns:
            gh["true_effect"] = "true"
        groups = html_table(g, {k: v for k, v in gh.items() if k in g.columns})
    else:
        groups = Markup("<p>No subgroup estimates.</p>")
    warnings = [f"{_LABEL.get(r.estimator, r.estimator)}, {_OUTCOME.get(r.outcome, r.outcome)}: {w}"
                for r in ev.results for w in r.warnings]  # fmt: skip
    level = f"{ev.results[0].ci_level:.0%}" if ev.results else "95%"
    return _ENV.from_string(_TEMPLATE).render(
        title=title, subtitle=subtitle, estimates=estimates, forest=forest_plot(ev.table) if len(ev.table) else "",
        designs=designs, balance=balance, overlap=_overlap_plot(ev), aipw_balance=aipw_balance, groups=groups,
        warnings=warnings, notes=ev.notes, simulated=ev.simulated, level=level,
    )  # fmt: skip


def write_evidence_report(ev: InterventionEvaluation, path: str | Path, *, subtitle: str = "") -> Path:
    """Write :func:`evidence_html` to ``path`` (folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    runs = sorted(ev.decisions["run"].unique()) if "run" in ev.decisions.columns else []
    sub = subtitle or (f"runs {runs[0]} to {runs[-1]} ({len(runs)} runs)"
                       if runs else "")  # fmt: skip
    p.write_text(evidence_html(ev, subtitle=sub), encoding="utf-8")
    return p
