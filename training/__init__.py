"""baoxue.training: labels, temporal splits, model fitting, calibration, evaluation,
fairness audit, MLflow tracking and the model bundle."""

from training.baselines import RuleBaseline, SchoolContextBaseline, logistic_baseline, oracle_scores
from training.bundle import ModelBundle, bundle_from_fit, code_version, load_bundle, save_bundle
from training.calibrate import calibrate
from training.cluster import fit_model_dask, train_bundle_dask
from training.evaluate import (
    EvaluationReport,
    evaluate,
    evaluate_tables,
    evaluation_data,
    labelled_as_of_dates,
    labelled_panel,
    markdown_table,
    write_report,
)
from training.fairness import FairnessAudit, audit_groups, fairness_audit
from training.fit import FittedModel, explain_speed, fit_lightgbm, fit_model, panel_feature_columns
from training.labels import cohort_members, label_lag_days, label_panel, make_labels, observable_as_of_dates
from training.metrics import (
    at_capacity,
    at_share,
    expected_calibration_error,
    lead_time,
    list_size_share,
    per_month_metrics,
    reliability_table,
    score_metrics,
)
from training.pipeline import train_bundle, train_tables
from training.sample import negative_sample_weights, sampling_applies
from training.splits import (
    AsOfSplit,
    TemporalDesign,
    deployment_design,
    last_year_design,
    monthly_as_of_dates,
)
from training.table import evaluate_table, metrics_json, read_table
from training.tracking import load_champion, log_run

__all__ = [
    "AsOfSplit",
    "EvaluationReport",
    "FairnessAudit",
    "FittedModel",
    "ModelBundle",
    "RuleBaseline",
    "SchoolContextBaseline",
    "TemporalDesign",
    "at_capacity",
    "at_share",
    "audit_groups",
    "bundle_from_fit",
    "calibrate",
    "code_version",
    "cohort_members",
    "deployment_design",
    "evaluate",
    "evaluate_table",
    "evaluate_tables",
    "evaluation_data",
    "expected_calibration_error",
    "explain_speed",
    "fairness_audit",
    "panel_feature_columns",
    "fit_lightgbm",
    "fit_model",
    "fit_model_dask",
    "label_lag_days",
    "label_panel",
    "labelled_as_of_dates",
    "labelled_panel",
    "last_year_design",
    "lead_time",
    "list_size_share",
    "load_bundle",
    "load_champion",
    "log_run",
    "logistic_baseline",
    "make_labels",
    "metrics_json",
    "markdown_table",
    "monthly_as_of_dates",
    "negative_sample_weights",
    "observable_as_of_dates",
    "oracle_scores",
    "per_month_metrics",
    "read_table",
    "reliability_table",
    "sampling_applies",
    "save_bundle",
    "score_metrics",
    "train_bundle",
    "train_bundle_dask",
    "train_tables",
    "write_report",
]
