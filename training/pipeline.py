"""The training pipeline: the model to deploy, fitted on every labelled month.

:func:`train_bundle` fits and calibrates the model on a prepared panel
(:func:`training.evaluate.evaluation_data`) with the
:func:`~training.splits.deployment_design`: no test period, the latest labelled months
validate and calibrate. :func:`train_tables` goes straight from a county's tables, and can
first evaluate the same recipe on the last school year (:mod:`training.evaluate`) so the
bundle carries its test metrics.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from features.config import BaoxueConfig, TrainConfig
from features.contract import Tables
from training.bundle import ModelBundle, bundle_from_fit
from training.evaluate import EvaluationReport, evaluate, labelled_panel, rule_columns
from training.fit import fit_model
from training.splits import TemporalDesign, deployment_design

__all__ = ["latest_window", "train_bundle", "train_tables"]


def train_bundle(
    data: pd.DataFrame, config: TrainConfig, *, design: TemporalDesign | None = None
) -> ModelBundle:
    """Fit and calibrate the model to deploy (:func:`~training.splits.deployment_design`)."""
    design = design or deployment_design(data["as_of"].unique(), config)
    fitted = fit_model(data, design, config)
    return bundle_from_fit(fitted, data, config, design)


def latest_window(data: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The rows of the latest labelled window: the as-of dates the deployed model validates
    and calibrates on (:func:`~training.splits.deployment_design`), where champion and
    challenger are compared (:func:`training.promotion.compare_on_window`)."""
    design = deployment_design(data["as_of"].unique(), config)
    return data.loc[design.part(data["as_of"], "valid")]


def train_tables(
    tables: Tables,
    config: BaoxueConfig,
    *,
    truth: pd.DataFrame | None = None,
    evaluate_first: bool = True,
    panel: pd.DataFrame | None = None,
) -> tuple[ModelBundle, EvaluationReport | None]:
    """The model to deploy, fitted on every labelled month; with ``evaluate_first`` the same
    recipe is first evaluated on the last school year and its test metrics go in the bundle.

    ``panel`` is :func:`training.evaluate.labelled_panel` of ``tables`` when the caller has
    built it already (``baoxue train`` keeps it to compare champion and challenger)."""
    data = labelled_panel(tables, config) if panel is None else panel
    report = None
    if evaluate_first:
        report = evaluate(
            data,
            config.train,
            truth=truth,
            capacity=config.risk.capacity_per_school,
            absence_share=config.rules.chronic_absence_share,
            rule_columns=rule_columns(config),
            county=config,
        )
    bundle = train_bundle(data, config.train)
    if report is not None:
        # the test metrics and the tiers' thresholds chosen on the evaluation year
        bundle = replace(bundle, metrics=report.bundle.metrics, thresholds=report.bundle.thresholds)
    return bundle, report
