"""The evaluation report: the model and its baselines side by side on a later test period.

:func:`evaluation_data` joins the feature panel, the labels and the audit groups;
:func:`evaluate` fits the LightGBM model and the baselines on the design's ``fit`` dates,
calibrates each on the same later ``valid`` rows, and scores every one on the ``test``
dates (default: every month of the last school year). The deployment path (no test
period, the latest labelled months validate and calibrate) is :mod:`training.pipeline`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import BaoxueConfig, TrainConfig
from features.contract import Tables
from features.names import feature_names
from features.tiering import Thresholds, rule_flag_mask, trigger_masks
from training.baselines import RuleBaseline, SchoolContextBaseline, logistic_baseline, oracle_scores
from training.bundle import ModelBundle, bundle_from_fit
from training.fairness import AUDIT_ATTRIBUTES, FairnessAudit, audit_groups, fairness_audit
from training.fit import explain_speed, fit_model, panel_feature_columns, prepare_features
from training.labels import label_panel, observable_as_of_dates, observed_until
from training.metrics import per_month_metrics, reliability_table, score_metrics
from training.splits import TemporalDesign, last_year_design, monthly_as_of_dates
from training.thresholds import cells, choose_thresholds, row_capacity, tier_labels, tier_table

__all__ = [
    "RULE_COLUMNS",
    "rule_columns",
    "labelled_as_of_dates",
    "evaluation_data",
    "EvaluationReport",
    "evaluate",
    "labelled_panel",
    "evaluate_tables",
    "markdown_table",
    "write_report",
]

log = logging.getLogger(__name__)


def rule_columns(config: BaoxueConfig | None = None) -> tuple[str, str, str]:
    """Feature columns the county rule reads: absence share of school days this term, failed
    subjects in the latest exam, the class's bottom ``bottom_share`` (features.attendance /
    academic; the last name follows ``[features] bottom_share``).

    >>> rule_columns()[-1]
    'acad_bottom20_class'
    """
    return ("att_absence_rate_term", "acad_failed_subjects_last", feature_names(config).bottom_class)


#: :func:`rule_columns` under the default configuration
RULE_COLUMNS = rule_columns()
_KEY = ["student_id", "as_of"]


def labelled_as_of_dates(tables: Tables, config: TrainConfig) -> list[pd.Timestamp]:
    """Monthly as-of dates from the first attendance day whose label window is observed."""
    until = observed_until(tables)
    start = tables.attendance["date"].min()
    return observable_as_of_dates(monthly_as_of_dates(start, until, config), config, until=until)


def evaluation_data(tables: Tables, features: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Join a feature panel with labels and audit groups, on (``student_id``, ``as_of``).

    Parameters
    ----------
    tables : Tables
        The county's tables (labels and audit groups are read from them).
    features : DataFrame
        ``features.build.build_panel`` output: feature columns, with ``as_of`` and
        ``student_id`` as columns or as index levels.

    Returns
    -------
    DataFrame
        One row per labelled, uncensored (student, as-of date) that has features:
        ``student_id``, ``as_of``, ``label``, ``event_date``, ``school_id`` (category),
        ``grade``, the audit attributes, and the feature columns.
    """
    if not {"as_of", "student_id"} <= set(features.columns):
        features = features.reset_index()
    dates = sorted(pd.to_datetime(features["as_of"]).dt.normalize().unique())
    labels = label_panel(tables, dates, config)
    groups = audit_groups(tables, dates)
    feats = features.assign(
        student_id=features["student_id"].astype("str"),
        as_of=pd.to_datetime(features["as_of"]).astype("datetime64[s]"),
    )
    lab = labels.assign(student_id=labels["student_id"].astype("str"))
    grp = groups.assign(student_id=groups["student_id"].astype("str"))
    data = lab.merge(grp, on=_KEY, how="inner", validate="one_to_one")
    data = data.merge(feats, on=_KEY, how="inner", validate="one_to_one", suffixes=("", "_feature"))
    data["student_id"] = pd.Categorical(data["student_id"], categories=tables.student_ids.astype("str"))
    data["school_id"] = data["school_id"].astype("category")
    return data.sort_values(_KEY, kind="stable").reset_index(drop=True)


def markdown_table(table: pd.DataFrame, *, index: bool = True, digits: int = 4) -> str:
    """A GitHub markdown table of ``table`` (no extra dependency), for reports and benchmarks.

    Floats keep ``digits`` decimals (``digits`` significant digits from 1000 up), NaN is an
    empty cell, timestamps are dates; ``index=True`` writes the index as the first columns.

    >>> t = pd.DataFrame({"auc": [0.81234, np.nan], "n": [1200, 30]}, index=pd.Index(["a", "b"], name="model"))
    >>> print(markdown_table(t))
    | model | auc | n |
    |---|---|---|
    | a | 0.8123 | 1200 |
    | b |  | 30 |
    """
    t = table.reset_index() if index else table

    def cell(v) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.{digits}g}" if abs(v) >= 1000 else f"{round(v, digits)}"
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%d")
        return str(v)

    head = "| " + " | ".join(map(str, t.columns)) + " |"
    rule = "|" + "|".join("---" for _ in t.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join([head, rule, *body])


@dataclass(frozen=True)
class EvaluationReport:
    """Model and baselines on the test period.

    Attributes
    ----------
    metrics : DataFrame
        One row per model (``lightgbm``, ``rule``, ``logistic``, ``school_context``, and
        ``oracle`` on simulated data); columns from :func:`training.metrics.score_metrics`,
        plus the champion's explanation speed.
    reliability : DataFrame
        Reliability tables of every model (column ``model``).
    per_month : DataFrame
        Per test month, every model (column ``model``).
    fairness : FairnessAudit
        The model's list audited across groups.
    rule_list : dict
        The county rule's own list (any flag): share listed, precision, recall.
    counts : dict
        Rows and positives in each part of the design.
    """

    metrics: pd.DataFrame
    reliability: pd.DataFrame
    per_month: pd.DataFrame
    fairness: FairnessAudit
    rule_list: dict[str, float]
    counts: dict[str, float]
    design: TemporalDesign
    bundle: ModelBundle
    explain: dict[str, float] = field(default_factory=dict)
    thresholds: Thresholds | None = None  # chosen on the test rows (training.thresholds)
    tiers: pd.DataFrame = field(default_factory=pd.DataFrame)  # training.thresholds.tier_table
    capacity: int = 10  # the per-school capacity of the precision_at_cap columns

    def summary(self) -> dict:
        """The headline as one JSON-ready object (``baoxue train --json`` / ``evaluate --json``):
        the model's :func:`training.table.metrics_json` keys, an ``oracle`` object (None off the
        simulator), ``baselines`` (rule, logistic, school_context) with the same keys, ``tiers``
        = {red, yellow, blue, none: {share, precision, recall, lift}}, the ``thresholds`` and
        the number of distinct probabilities of the model's test scores."""
        from training.table import metrics_json
        from training.thresholds import tier_summary

        m = self.metrics

        def one(name: str) -> dict:
            return metrics_json(m.loc[name].to_dict(), capacity=self.capacity)

        out = one("lightgbm")
        out["oracle"] = one("oracle") if "oracle" in m.index else None
        out["baselines"] = {n: one(n) for n in m.index if n not in ("lightgbm", "oracle")}
        out["tiers"] = tier_summary(self.tiers) if len(self.tiers) else None
        out["thresholds"] = None if self.thresholds is None else _json_safe(self.thresholds.as_dict())
        d = m.loc["lightgbm"].get("distinct_probabilities")
        out["distinct_probabilities"] = None if d is None or pd.isna(d) else int(d)
        return out

    def headline(self) -> pd.DataFrame:
        """The columns that matter most, one row per model."""
        cols = [
            "roc_auc",
            "pr_auc",
            "precision_at_5pct",
            "precision_at_10pct",
            "recall_at_10pct",
            "lift_at_10pct",
            "brier",
            "ece",
            "distinct_probabilities",
        ]
        cap = [c for c in self.metrics.columns if c.startswith("precision_at_cap")]
        return self.metrics[[c for c in cols + cap if c in self.metrics.columns]]

    def _thresholds_line(self) -> str:
        t = self.thresholds
        if t is None:
            return "Thresholds: not chosen."
        lifts = ", ".join(f"{k} {v:.2f}" for k, v in t.trigger_lift.items())
        return (
            f"Thresholds chosen on the test year: red {t.red_risk:.4f}, yellow {t.yellow_risk:.4f} "
            f"(base rate {t.base_rate:.4f}); trigger lifts: {lifts}."
        )

    def to_markdown(self) -> str:
        """A short report for people (no student ids, no names)."""
        w = self.design.window()
        lines = [
            "# baoxue evaluation",
            "",
            f"Fit {w['fit']}, validation/calibration {w['valid']}, test {w['test']} (gap {self.design.gap_days} days).",
            f"Rows: {', '.join(f'{k} {v:g}' for k, v in self.counts.items())}.",
            "",
            "## Model and baselines",
            "",
            markdown_table(self.headline()),
            "",
            f"County rule's own list (any flag): {self.rule_list}",
            "",
            "## Tiers on the test year (lightgbm, the list policy of features.tiering)",
            "",
            self._thresholds_line(),
            "",
            markdown_table(self.tiers.loc[self.tiers["month"] == "all"].drop(columns="month"), index=False)
            if len(self.tiers)
            else "(not measured)",
            "",
            "Per month:",
            "",
            markdown_table(self.tiers.loc[self.tiers["month"] != "all"], index=False)
            if len(self.tiers)
            else "",
            "",
            "## Champion explanation cost",
            "",
            ", ".join(f"{k} {v:,.1f}" for k, v in self.explain.items()),
            "",
            "## Fairness gaps (max - min over groups, top list)",
            "",
            markdown_table(self.fairness.gaps),
            "",
            "## Per test month (lightgbm)",
            "",
            markdown_table(
                self.per_month.loc[self.per_month["model"] == "lightgbm"].drop(columns="model"), index=False
            ),
        ]
        return "\n".join(lines) + "\n"


def _json_safe(value):
    """NaN and infinities as None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _numeric_and_categorical(data: pd.DataFrame, cols: Sequence[str]) -> tuple[list[str], list[str]]:
    cat = [c for c in cols if isinstance(data[c].dtype, pd.CategoricalDtype)]
    return [c for c in cols if c not in cat], cat


def evaluate(
    data: pd.DataFrame,
    config: TrainConfig,
    *,
    design: TemporalDesign | None = None,
    truth: pd.DataFrame | None = None,
    capacity: int = 10,
    absence_share: float = 0.10,
    rule_columns: Sequence[str] = RULE_COLUMNS,
    attributes: Sequence[str] = AUDIT_ATTRIBUTES,
    explain_rows: int = 2000,
    county: BaoxueConfig | None = None,
) -> EvaluationReport:
    """Fit the model and the baselines, and measure them on the test period.

    Parameters
    ----------
    data : DataFrame
        :func:`evaluation_data` output.
    config : TrainConfig
        Model, calibration, list sizes and bins.
    design : TemporalDesign, optional
        Default :func:`~training.splits.last_year_design`.
    truth : DataFrame, optional
        The simulator's ``truth/risk_monthly``: adds the oracle row.
    capacity : int
        Students per school and as-of date that staff can visit (``RiskConfig.capacity_per_school``).
    absence_share : float
        The rule's chronic-absence threshold (``RulesConfig.chronic_absence_share``).
    rule_columns : sequence of str
        Absence share, failed subjects, bottom-20% columns the rule reads; the rule is
        left out (with a log line) when the panel lacks them.
    county : BaoxueConfig, optional
        The county's whole configuration, for the tiers' thresholds and triggers
        (``[risk]``, the configured feature names); default: the defaults.
    """
    design = design or last_year_design(data["as_of"].unique(), config)
    feats = panel_feature_columns(data)
    test = design.part(data["as_of"], "test")
    if not test.any():
        raise ValueError("the design has no test rows in data")
    test_rows = data.loc[test].reset_index(drop=True)
    counts: dict[str, float] = {}
    for part in ("fit", "valid", "test"):
        m = design.part(data["as_of"], part)
        counts[f"{part}_rows"] = float(m.sum())
        counts[f"{part}_positives"] = float(data.loc[m, "label"].sum())

    fitted = fit_model(data, design, config)
    counts["calibration_sigmoid"] = float(fitted.calibrator.method == "sigmoid")
    X_test = prepare_features(test_rows, feats)
    scores: dict[str, np.ndarray] = {"lightgbm": fitted.predict_proba(X_test)}
    explain = explain_speed(fitted.estimator, X_test, max_rows=explain_rows)

    rule_list: dict[str, float] = {}
    if all(c in data.columns for c in rule_columns):
        rule = RuleBaseline(*rule_columns, absence_share=absence_share)
        fitted_rule = fit_model(data, design, config, features=list(rule_columns), estimator=rule)
        scores["rule"] = fitted_rule.predict_proba(prepare_features(test_rows, list(rule_columns)))
        flagged = rule.predict(test_rows)
        y = test_rows["label"].to_numpy()
        rule_list = {
            "listed_share": float(flagged.mean()),
            "precision": float(y[flagged == 1].mean()) if flagged.any() else float("nan"),
            "recall": float(flagged[y == 1].mean()) if y.any() else float("nan"),
        }
    else:
        log.warning("rule baseline left out: the panel lacks %s", [c for c in rule_columns if c not in data])

    num, cat = _numeric_and_categorical(data, feats)
    lr = fit_model(data, design, config, estimator=logistic_baseline(num, cat, seed=config.seed))
    scores["logistic"] = lr.predict_proba(X_test)
    ctx_cols = ["school_id", "grade"]
    ctx = fit_model(data, design, config, features=ctx_cols, estimator=SchoolContextBaseline())
    scores["school_context"] = ctx.predict_proba(prepare_features(test_rows, ctx_cols))
    if truth is not None:
        scores["oracle"] = oracle_scores(test_rows, truth)

    rows, rel, months = {}, [], []
    for name, p in scores.items():
        rows[name] = score_metrics(
            test_rows, p, shares=config.top_shares, capacity=capacity, n_bins=config.n_bins, seed=config.seed
        )
        rows[name]["distinct_probabilities"] = float(len(np.unique(np.asarray(p, dtype="float64"))))
        rel.append(reliability_table(test_rows["label"], p, n_bins=config.n_bins).assign(model=name))
        months.append(per_month_metrics(test_rows, p).assign(model=name))
    metrics = pd.DataFrame.from_dict(rows, orient="index")
    metrics.index.name = "model"
    for k, v in explain.items():
        metrics.loc["lightgbm", k] = v
    audit = fairness_audit(
        test_rows,
        scores["lightgbm"],
        share=max(config.top_shares),
        attributes=[a for a in attributes if a in test_rows.columns],
        min_group_size=config.min_group_size,
    )
    county = county or BaoxueConfig(train=config)
    y_test = test_rows["label"].to_numpy()
    thresholds = choose_thresholds(
        y_test,
        scores["lightgbm"],
        trigger_masks(test_rows, county),
        county.risk,
        red_rule=rule_flag_mask(test_rows),
        groups=cells(test_rows),
        capacity=row_capacity(test_rows, county.risk, capacity),
    )
    tiers = tier_table(
        test_rows, tier_labels(test_rows, scores["lightgbm"], thresholds, county, capacity=capacity)
    )
    bundle = bundle_from_fit(fitted, data, config, design)
    headline = {k: float(v) for k, v in metrics.loc["lightgbm"].items() if pd.notna(v)}
    bundle = replace(bundle, metrics=headline, thresholds=thresholds.as_dict())
    return EvaluationReport(
        metrics=metrics,
        reliability=pd.concat(rel, ignore_index=True),
        per_month=pd.concat(months, ignore_index=True),
        fairness=audit,
        rule_list=rule_list,
        counts=counts,
        design=design,
        bundle=bundle,
        explain=explain,
        thresholds=thresholds,
        tiers=tiers,
        capacity=capacity,
    )


def labelled_panel(tables: Tables, config: BaoxueConfig) -> pd.DataFrame:
    """:func:`evaluation_data` of every :func:`labelled_as_of_dates` month, features built from ``tables``."""
    from features.build import build_panel

    dates = labelled_as_of_dates(tables, config.train)
    return evaluation_data(tables, build_panel(tables, [d.date() for d in dates], config), config.train)


def evaluate_tables(
    tables: Tables, config: BaoxueConfig, *, truth: pd.DataFrame | None = None
) -> EvaluationReport:
    """Features, labels and the evaluation report of one county, straight from its tables.

    Uses ``config.risk.capacity_per_school`` and ``config.rules.chronic_absence_share``.
    """
    return evaluate(
        labelled_panel(tables, config),
        config.train,
        truth=truth,
        capacity=config.risk.capacity_per_school,
        absence_share=config.rules.chronic_absence_share,
        rule_columns=rule_columns(config),
        county=config,
    )


def write_report(report: EvaluationReport, out: str | Path) -> Path:
    """Write ``report.md`` and the report tables (CSV) to the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report.to_markdown(), encoding="utf-8")
    report.metrics.to_csv(out / "metrics.csv")
    report.reliability.to_csv(out / "reliability.csv", index=False)
    report.per_month.to_csv(out / "per_month.csv", index=False)
    report.fairness.by_group.to_csv(out / "fairness_by_group.csv", index=False)
    report.fairness.gaps.to_csv(out / "fairness_gaps.csv")
    report.tiers.to_csv(out / "tiers.csv", index=False)
    return out
