"""The model card and the draft personal-information impact assessment of one model version.

One document, Chinese first with English beside it, written as Markdown and as a
self-contained HTML page from what training produced: the bundle (features, window, config),
the evaluation report (metrics against the baselines, fairness audit) and the evaluation's
test rows (to replay the tiers on them). It covers:

1. purpose and the human-review statement;
2. the data used and how it is minimised (tables and fields; names and ID numbers never);
3. the restricted fields and their use (audit only unless ``[features] use_restricted``);
4. the evaluation, with a per-tier table on the test period;
5. the fairness gaps with 95% intervals (:mod:`training.fairness`);
6. the tier thresholds (``[risk]``);
7. known limits (September, 小升初 no-shows, interventions, simulated data);
8. the draft 个人信息保护影响评估 items that PIPL art. 55–56 ask for (purpose and necessity,
   impact on rights, security measures, retention).

Every number is read from the evaluation; nothing is typed in. Aggregates only: the card is
stored as an MLflow artifact beside the model (:func:`training.tracking.log_model_card`)
and written next to the bundle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.catalog import feature_info
from features.config import BaoxueConfig
from features.contract import TABLES
from risk.monitoring.intervals import wilson
from risk.tiers import assign_tiers

__all__ = ["ModelCard", "model_card", "tier_evaluation", "fairness_intervals", "write_model_card", "SECTIONS"]

#: the card's sections, in order (zh, en)
SECTIONS: tuple[tuple[str, str], ...] = (
    ("用途与人工复核", "Purpose and human review"),
    ("使用的数据与最小化", "Data used and minimised"),
    ("受限字段及其用途", "Restricted fields and their use"),
    ("评估", "Evaluation"),
    ("公平性差距", "Fairness gaps"),
    ("分级阈值", "Tier thresholds"),
    ("已知局限", "Known limits"),
    ("个人信息保护影响评估(草案)", "Personal information protection impact assessment (draft)"),
)

#: tables never read by the model (and never written to the card field by field)
_NEVER_READ = ("student_names",)

_TIERS = ("red", "yellow", "blue", "none")


@dataclass(frozen=True)
class ModelCard:
    """The card as Markdown and HTML, and the figures it quotes (for tests and callers)."""

    markdown: str
    html: str
    version: str
    tiers: pd.DataFrame
    fairness: pd.DataFrame
    headline: pd.DataFrame


# --- figures ---------------------------------------------------------------------------------


def tier_evaluation(bundle, data: pd.DataFrame, config: BaoxueConfig) -> pd.DataFrame:
    """Per tier on ``data`` (labelled rows, :func:`training.evaluate.evaluation_data`): the
    tiers :func:`risk.tiers.assign_tiers` gives each as-of date's students with ``bundle``'s
    risk, pooled over the dates: ``n``, ``dropouts``, ``precision`` with its Wilson interval,
    ``expected`` (mean risk), ``recall`` (dropouts on the tier / all dropouts).

    The county rules (registry marks, absence streaks) need the raw attendance and are not
    replayed here: a rule puts a child in red whatever the model says.
    """
    rows = []
    for _, night in data.groupby("as_of", sort=True, observed=True):
        frame = night.set_index(night["student_id"].astype("str"))
        p = bundle.predict_proba(frame)
        t = assign_tiers(p, pd.Series("", index=frame.index), frame, config=config)
        rows.append(pd.DataFrame({"tier": t["tier"].astype("str").to_numpy(), "p": p.to_numpy(),
                                  "y": frame["label"].to_numpy(dtype="float64")}))  # fmt: skip
    cols = ["tier", "n", "dropouts", "precision", "precision_low", "precision_high", "expected", "recall"]
    if not rows:
        return pd.DataFrame(columns=cols)
    all_ = pd.concat(rows, ignore_index=True)
    positives = float(all_["y"].sum())
    out = []
    for tier in _TIERS:
        part = all_.loc[all_["tier"] == tier]
        n, k = len(part), float(part["y"].sum())
        lo, hi = wilson(k, n)
        out.append({"tier": tier, "n": n, "dropouts": int(k), "precision": k / n if n else math.nan,
                    "precision_low": lo, "precision_high": hi,
                    "expected": float(part["p"].mean()) if n else math.nan,
                    "recall": k / positives if positives else math.nan})  # fmt: skip
    return pd.DataFrame(out, columns=cols)


def _newcombe(p1: float, l1: float, u1: float, p2: float, l2: float, u2: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p1 - p2`` from the two Wilson intervals."""
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def fairness_intervals(by_group: pd.DataFrame) -> pd.DataFrame:
    """Per attribute: the recall and precision gaps (highest minus lowest unsuppressed group,
    as :func:`training.fairness.fairness_audit` reports them) with 95% intervals (Wilson per
    group, Newcombe for the difference). Rows are student-months pooled over the test period,
    so the intervals are narrower than independent children would give.
    """
    out = []
    for attr, g in by_group.groupby("attribute", sort=False):
        row: dict = {"attribute": attr, "groups": int(g["recall_at_k"].notna().sum()),
                     "suppressed": int(g["recall_at_k"].isna().sum())}  # fmt: skip
        for metric, denom in (("recall_at_k", "positives"), ("precision_at_k", "listed")):
            ok = g.assign(listed=g["listed_share"] * g["n"]).dropna(subset=[metric])
            ok = ok.loc[ok[denom] > 0]
            if len(ok) < 2:
                row |= {metric: math.nan, f"{metric}_low": math.nan, f"{metric}_high": math.nan,
                        f"{metric}_groups": ""}  # fmt: skip
                continue
            hi_g, lo_g = ok.loc[ok[metric].idxmax()], ok.loc[ok[metric].idxmin()]
            ci = [(float(r[metric]), *wilson(float(r[metric]) * float(r[denom]), float(r[denom])))
                  for r in (hi_g, lo_g)]  # fmt: skip
            lo, hi = _newcombe(*ci[0], *ci[1])
            row |= {metric: ci[0][0] - ci[1][0], f"{metric}_low": max(lo, -1.0), f"{metric}_high": min(hi, 1.0),
                    f"{metric}_groups": f"{hi_g['group']} − {lo_g['group']}"}  # fmt: skip
        out.append(row)
    return pd.DataFrame(out)


# --- the document ----------------------------------------------------------------------------


def _pct(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{v:.1%}"


def _num(v, digits: int = 3) -> str:
    return "—" if v is None or pd.isna(v) else f"{v:.{digits}f}"


def _families(features) -> pd.DataFrame:
    fam = pd.Series([f.split("_", 1)[0] for f in features]).value_counts().sort_index()
    words = {"att": "考勤 attendance", "acad": "学业 academic", "lb": "留守/流动 left-behind, migrant",
             "hard": "家庭困难 hardship", "ctx": "学校与个人背景 context", "fam": "家庭 family",
             "reg": "学籍 registry", "cal": "校历 calendar"}  # fmt: skip
    return pd.DataFrame(
        {"特征族 family": [words.get(k, k) for k in fam.index], "特征数 features": fam.to_list()}
    )


def _restricted_features(features, config: BaoxueConfig) -> list[str]:
    out = []
    for f in features:
        try:
            if feature_info(f, config).restricted:
                out.append(f)
        except KeyError:
            continue
    return out


def _data_tables() -> pd.DataFrame:
    rows = []
    for t in TABLES.values():
        if t.name in _NEVER_READ:
            continue
        fields = [c.name for c in t.columns if not c.restricted]
        restricted = [c.name for c in t.columns if c.restricted]
        rows.append({"表 table": f"{t.name} {t.zh}", "字段 fields": ", ".join(fields),
                     "受限字段 restricted": ", ".join(restricted)})  # fmt: skip
    return pd.DataFrame(rows)


def _tier_thresholds(config: BaoxueConfig) -> pd.DataFrame:
    rows = [{"设置 setting": f"[risk] {f.name}", "值 value": str(getattr(config.risk, f.name))}
            for f in dataclasses.fields(config.risk) if f.name.split("_", 1)[0] in ("red", "yellow", "blue")]  # fmt: skip
    rows.append(
        {"设置 setting": "[risk] capacity_per_school", "值 value": str(config.risk.capacity_per_school)}
    )
    rows.append({"设置 setting": "[risk] watched_groups", "值 value": ", ".join(config.risk.watched_groups)})
    return pd.DataFrame(rows)


def _md_table(frame: pd.DataFrame) -> str:
    if frame is None or not len(frame):
        return "_(无 none)_"
    cells = frame.astype("str").map(lambda s: s.replace("|", "\\|"))
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in cells.itertuples(index=False))])


def _html_table(frame: pd.DataFrame) -> str:
    if frame is None or not len(frame):
        return "<p><i>无 none</i></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
        for r in frame.astype("str").itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render(title: str, subtitle: str, sections: list[tuple[str, list]]) -> tuple[str, str]:
    md = [f"# {title}", "", subtitle, ""]
    hs = [f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p>"]
    for n, (heading, blocks) in enumerate(sections, 1):
        md += [f"## {n}. {heading}", ""]
        hs.append(f"<h2 id='s{n}'>{n}. {html.escape(heading)}</h2>")
        for b in blocks:
            if isinstance(b, pd.DataFrame):
                md += [_md_table(b), ""]
                hs.append(_html_table(b))
            elif isinstance(b, list):
                md += [*(f"- {x}" for x in b), ""]
                hs.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in b) + "</ul>")
            else:
                md += [str(b), ""]
                hs.append(f"<p>{html.escape(str(b))}</p>")
    page = (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:'Noto Sans CJK SC','Noto Sans SC','Microsoft YaHei',sans-serif;margin:1.5em auto;"
        "max-width:1000px;padding:0 1em;color:#222;line-height:1.5}h1{font-size:1.4em}"
        "h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}.sub{color:#555}"
        "table{border-collapse:collapse;margin:.6em 0;font-size:.85em;width:100%}"
        "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}"
        "</style></head><body>" + "".join(hs) + "</body></html>"
    )
    return "\n".join(md).rstrip() + "\n", page


def model_card(
    bundle,
    config: BaoxueConfig,
    *,
    report=None,
    data: pd.DataFrame | None = None,
    version: str = "",
    decision: str = "",
    simulated: bool = False,
    today: dt.date | None = None,
) -> ModelCard:
    """The card of one model version.

    Parameters
    ----------
    bundle : ModelBundle
        The deployed model (features, window, config).
    config : BaoxueConfig
        The county's config (tiers, restricted fields, capacity).
    report : EvaluationReport, optional
        The evaluation of the recipe on the last school year (``baoxue train`` runs it
        first); without it the evaluation sections say so.
    data : DataFrame, optional
        The labelled panel the report was made on; its test rows replay the tiers.
    version, decision : str
        The registered model version and the promotion decision's reason.
    simulated : bool
        Trained on the simulator's county (a known limit).
    """
    cap = config.risk.capacity_per_school
    tcfg = config.train
    w = bundle.window
    headline = pd.DataFrame()
    tiers = pd.DataFrame()
    fair = pd.DataFrame()
    if report is not None:
        headline = report.headline()
        test = report.design.window().get("test", "")
        if data is not None and report.design.test:
            rows = data.loc[report.design.part(data["as_of"], "test")]
            tiers = tier_evaluation(report.bundle, rows, config)
        fair = fairness_intervals(report.fairness.by_group)
    else:
        test = ""
    metrics = report.metrics if report is not None else pd.DataFrame()
    lgb = metrics.loc["lightgbm"] if "lightgbm" in metrics.index else pd.Series(dtype="float64")
    p_cap = lgb.get(f"precision_at_cap{cap}", math.nan)
    title = f"模型说明与个人信息保护影响评估 · Model card and impact assessment: {tcfg.registered_model} {version}".strip()
    subtitle = (
        f"版本 version {version or '(未注册 unregistered)'} · 代码 code {bundle.code_version} · "
        f"训练窗口 fit {w.get('fit', '')}, 校准 valid {w.get('valid', '')} · 评估 test {test or '—'} · "
        f"生成 written {today or dt.date.today()}"
    )
    purpose = [
        f"用途:预测义务教育阶段学生在评估日后 {tcfg.horizon_days} 天内辍学或疑似辍学(未在 "
        f"{tcfg.suspected_resolution_days} 天内返校,或连续 {tcfg.streak_days} 个上学日无故缺勤)的风险,"
        f"供学校和县教育局控辍保学工作排定家访与帮扶的先后。 Purpose: rank children by the risk of "
        f"dropping out within {tcfg.horizon_days} days so that schools and the county office know whom to visit "
        "and support first.",
        "人工复核:名单只是提示,不是结论。每个被列入名单的学生都由班主任或包保责任人核实后才采取措施;"
        "模型不作出对个人有重大影响的自动化决定(《个人信息保护法》第二十四条),不用于处分、评优或招生。 "
        "Human review: a list is a prompt, never a verdict. Staff check every listed child before acting; the "
        "model makes no automated decision with a significant effect on a child (PIPL art. 24) and is never "
        "used for discipline, rankings of schools or admissions.",
        f"晋升决定 promotion: {decision or '—'}",
    ]
    restricted_used = _restricted_features(bundle.features, config)
    data_blocks = [
        "模型读取以下数据表的字段;学生姓名表从不读取,身份证号和学籍号不进入系统(学生ID为学籍号的密钥哈希)。"
        " The model reads these tables; the names table is never read, ID-card and registry numbers never "
        "enter (student_id is a keyed hash of the registry number).",
        _data_tables(),
        f"模型使用 {len(bundle.features)} 个特征,按族 (features by family):",
        _families(bundle.features),
        [
            "最小化 minimisation: 只保留评估日及以前已知的数据(point in time);日志、MLflow 和本说明只含汇总数字,"
            "不含学生个人信息 (logs, MLflow and this card hold aggregates only).",
            f"小单元格抑制 small cells: 少于 {tcfg.min_group_size} 人的公平性单元格不显示 "
            f"(fairness cells under {tcfg.min_group_size} rows are suppressed).",
        ],
    ]
    restricted_cols = [f"{t.name}.{c.name}" for t in TABLES.values() for c in t.columns if c.restricted]
    use = ", ".join(config.features.use_restricted) or "无 none"
    restricted_blocks = [
        f"受限字段 (restricted, PIPL sensitive): {', '.join(restricted_cols)}; 以及表 prisoner_child / "
        "incarceration 的所有行 (and every row of those tables).",
        f"用途:仅用于公平性审计和帮扶规则,不作为模型特征,除非 [features] use_restricted 列出。 Use: audit and "
        f"support rules only, never model features unless [features] use_restricted lists them. "
        f"本模型 use_restricted: {use}; 模型中的受限特征 restricted features in the model: "
        f"{', '.join(restricted_used) or '无 none'}.",
    ]
    if report is None:
        eval_blocks = ["未评估 not evaluated (trained with --no-evaluate-first): 评估表缺失。"]
    else:
        shown = headline.copy()
        shown = shown.map(lambda v: _num(v)).reset_index().rename(columns={"index": "model"})
        if "model" not in shown.columns:
            shown = shown.rename(columns={shown.columns[0]: "model"})
        t = tiers.copy()
        if len(t):
            t = pd.DataFrame({
                "分级 tier": t["tier"], "人次 listed (student-months)": t["n"], "辍学 dropouts": t["dropouts"],
                "精确率 precision": t["precision"].map(_pct),
                "95% 区间 interval": [f"{_pct(a)}–{_pct(b)}" for a, b in zip(t["precision_low"], t["precision_high"],
                                                                          strict=True)],
                "预期 expected (mean risk)": t["expected"].map(_pct), "召回 recall": t["recall"].map(_pct),
            })  # fmt: skip
        eval_blocks = [
            f"按时间切分:训练 {report.design.window()['fit']},校准 {report.design.window()['valid']},测试 {test}"
            f"(间隔 {report.design.gap_days} 天)。 Temporal split, test on the last school year. Rows: "
            + ", ".join(f"{k} {v:g}" for k, v in report.counts.items()),
            "模型与基线 model and baselines (county rule, logistic regression, school context"
            + (", oracle" if "oracle" in headline.index else "")
            + "):",
            shown,
            f"容量内精确率 precision at capacity ({cap} per school): {_pct(p_cap)}; ECE {_num(lgb.get('ece'))}.",
            "测试期各分级 per tier on the test period (模型风险与早期信号;县规则未重放 — rules not replayed):",
            t,
        ]
    if len(fair):
        f = pd.DataFrame({
            "属性 attribute": fair["attribute"], "组数 groups": fair["groups"], "抑制 suppressed": fair["suppressed"],
            "召回差 recall gap": fair["recall_at_k"].map(_num),
            "95% 区间": [f"{_num(a)} … {_num(b)}" for a, b in zip(fair["recall_at_k_low"], fair["recall_at_k_high"],
                                                                 strict=True)],
            "最高−最低 groups": fair["recall_at_k_groups"],
            "精确率差 precision gap": fair["precision_at_k"].map(_num),
            "95% 区间 ": [f"{_num(a)} … {_num(b)}" for a, b in zip(fair["precision_at_k_low"],
                                                                  fair["precision_at_k_high"], strict=True)],
        })  # fmt: skip
        fair_blocks = [
            f"前 {report.fairness.share:.0%} 名单上各组的召回与精确率之差(最高组减最低组),95% 区间(组内 Wilson,差值 "
            "Newcombe;学生-月份合并,区间偏窄)。 Gaps of the top list between the best and worst group, 95% "
            "intervals (Wilson per group, Newcombe for the difference; student-months pooled, so too narrow).",
            f,
        ]
    else:
        fair_blocks = ["未评估 not evaluated."]
    limits = [
        "九月 September: 新学年开学前几周,转学、升学后的学生在新学校还没有考勤和成绩记录,特征很薄;"
        "模型的评估日为每月一日,九月一日的风险主要依赖上一学年的数据。 The first weeks of the school year: "
        "children who changed school have no attendance or marks there yet; the 1 September score leans on "
        "last year's data.",
        "小升初未报到 no-shows (grade 6→7): 从未在初中报到的孩子没有初中的考勤行,只能由学籍比对(规则)发现,"
        "模型看不到他们。 Children who never show up at junior secondary have no attendance rows there: "
        "only the registry check (a rule) finds them; the model cannot.",
        "帮扶效果 interventions: 被列入名单的学生得到帮扶,有效时实际辍学率低于预期;监测报告 (baoxue monitor) "
        "把实际值与预期值并列。 Supports lower the realised rate of listed children; the monitor shows realised "
        "beside expected.",
        f"标签需要 {tcfg.horizon_days + tcfg.suspected_resolution_days} 天才能确定 (labels need "
        f"{tcfg.horizon_days + tcfg.suspected_resolution_days} days), 所以最近几个月不参与训练。",
    ]
    if simulated:
        limits.append("模拟数据 simulated: 本模型在模拟县的数据上训练,数字不代表任何真实县。 Trained on the "
                      "simulator's county: its figures describe no real county.")  # fmt: skip
    fp = 1 - p_cap if not pd.isna(p_cap) else math.nan
    recall = lgb.get(f"recall_at_cap{cap}", math.nan)
    pia = [
        "处理目的和方式的合法性、正当性、必要性 (art. 56(1) purpose and necessity): 依据《义务教育法》的控辍保学"
        "职责(《个人信息保护法》第十三条第三项:履行法定职责所必需);只处理上列字段,受限字段仅用于审计;"
        "不满十四周岁未成年人的个人信息属于敏感个人信息(第二十八条、第三十一条),须监护人知情。 Statutory duty "
        "to keep children in school (art. 13(3)); only the fields above; minors' data is sensitive (art. 28, 31).",
        f"对个人权益的影响及安全风险 (art. 56(2) impact on rights): 被列入名单可能带来标签化;测试期容量内名单中 "
        f"{_pct(fp)} 的学生最终没有辍学(误报),{_pct(1 - recall if not pd.isna(recall) else math.nan)} 的辍学学生不在"
        "容量内名单上(漏报);各组差距见第 5 节。 Being listed can stigmatise: the share of listed children who did "
        "not drop out and of dropouts not listed are from the test period; group gaps in section 5.",
        "保护措施 (art. 56(3) security measures): 学生ID为密钥哈希;姓名只在报表生成时读取,从不进入日志、"
        "MLflow 或模型;小单元格抑制;按角色访问名单;所有名单和个案记录在台账中可审计;人工复核后才采取措施。 "
        "Keyed-hash ids, names only in reports, small cells suppressed, role-based access, an auditable ledger, "
        "human review before any step.",
        "保存期限 (retention): 台账中的名单与个案记录保存至学生完成义务教育后由县教育局确定的期限;"
        "本评估报告和处理情况记录至少保存三年(第五十六条)。 Lists and cases are kept until the county sets a "
        "limit after the child leaves compulsory school; this assessment and the processing record at least "
        "three years (art. 56). 草案,须县教育局个人信息保护负责人审定。 Draft: for the county's data "
        "protection officer to review and sign.",
    ]
    sections = [
        (f"{SECTIONS[0][0]} {SECTIONS[0][1]}", purpose),
        (f"{SECTIONS[1][0]} {SECTIONS[1][1]}", data_blocks),
        (f"{SECTIONS[2][0]} {SECTIONS[2][1]}", restricted_blocks),
        (f"{SECTIONS[3][0]} {SECTIONS[3][1]}", eval_blocks),
        (f"{SECTIONS[4][0]} {SECTIONS[4][1]}", fair_blocks),
        (f"{SECTIONS[5][0]} {SECTIONS[5][1]}", [_tier_thresholds(config)]),
        (f"{SECTIONS[6][0]} {SECTIONS[6][1]}", [limits]),
        (f"{SECTIONS[7][0]} {SECTIONS[7][1]}", [pia]),
    ]
    md, page = _render(title, subtitle, sections)
    return ModelCard(markdown=md, html=page, version=version, tiers=tiers, fairness=fair, headline=headline)


def write_model_card(card: ModelCard, folder: str | Path) -> list[Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "model_card.md", folder / "model_card.html"
    md.write_text(card.markdown, encoding="utf-8")
    page.write_text(card.html, encoding="utf-8")
    return [md, page]
