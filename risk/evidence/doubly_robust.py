"""Doubly robust (AIPW) estimate with cross-fitting, for observational comparisons.

Where no lottery and no cut-off decided the support, e.g. which students with a case
got tutoring and which did not, or supports staff gave by hand, students who got it
are compared with similar students who did not. Two models are fitted: the chance of
getting the support given what was known before (the *propensity*, from the
pre-assignment risk score and features), and the outcome given the same
information, separately with and without the support. The augmented inverse
probability weighting (AIPW) estimator combines them and stays consistent if
either model is right. Cross-fitting (each row predicted by models fitted on the
other folds) keeps flexible models from overfitting their own rows.

Assumptions
-----------
- No unmeasured confounding: given the covariates, getting the support does not depend
  on anything that also drives the outcome. Staff judgement ("this family will not
  cooperate") that no table records breaks it, so an AIPW estimate is weaker evidence
  than the lottery or the cut-off.
- Overlap: every kind of student had some chance of both getting and not getting the
  support. Where the policy decides deterministically (everyone inside capacity gets a
  case) there is none: rows with propensity outside ``[trim, 1 - trim]`` are left out,
  their share is reported, and an :class:`OverlapWarning` is raised when it is large.
- The covariates are measured before assignment (never after the support started).
- No spill-overs between students.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.errors import DataContractError

from ._result import (
    EffectEstimate,
    EstimationError,
    as_bool,
    is_binary,
    normal_p_value,
    outcome_values,
    require_columns,
    z_value,
)

__all__ = ["OverlapWarning", "aipw_effect"]

ASSUMPTIONS: tuple[str, ...] = (
    "No unmeasured confounding: given the covariates, who got the support is as good as random.",
    "Overlap: comparable students had a chance both to get and not to get the support (poor overlap is trimmed and reported).",
    "Covariates were known before assignment.",
    "No spill-overs: one student's support does not change another student's outcome.",
)


class OverlapWarning(UserWarning):
    """Treated and untreated students are too different for a reliable comparison."""


def _default_classifier() -> BaseEstimator:
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200),
    )


def _default_regressor() -> BaseEstimator:
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True), StandardScaler(), Ridge(alpha=1.0)
    )


def aipw_effect(
    decisions: pd.DataFrame,
    *,
    outcome: str = "outcome_dropout",
    treatment: str = "assigned",
    covariates: Sequence[str] = ("score",),
    estimand: Literal["ate", "att"] = "ate",
    propensity_model: BaseEstimator | None = None,
    outcome_model: BaseEstimator | None = None,
    n_folds: int = 5,
    trim: float = 0.01,
    max_share_trimmed: float = 0.05,
    level: float = 0.95,
    seed: int = 0,
    intervention_type: str = "any",
) -> EffectEstimate:
    """Cross-fitted AIPW estimate of the effect of ``treatment`` on ``outcome``.

    Parameters
    ----------
    decisions : DataFrame
        From :func:`risk.evidence.decisions_frame` (with features attached): ``treatment``,
        ``outcome`` and every column of ``covariates``. Missing covariate values are imputed
        (median, plus a missing-indicator) by the default models.
    outcome : str
        Outcome column (0/1 or a share).
    treatment : str
        Bool column: got the support.
    covariates : sequence of str
        Pre-assignment columns for both models; include ``score`` (the risk at assignment).
    estimand : {"ate", "att"}
        Average effect over everyone in the overlap sample, or over the treated.
    propensity_model : sklearn classifier, optional
        Default: median imputation, scaling and a logistic regression.
    outcome_model : sklearn estimator, optional
        Fitted per arm; a classifier (``predict_proba``) for 0/1 outcomes, else a regressor.
        Default: logistic regression for 0/1 outcomes, ridge regression otherwise.
    n_folds : int
        Cross-fitting folds (stratified by treatment, shuffled with ``seed``).
    trim : float
        Rows with cross-fitted propensity outside ``[trim, 1 - trim]`` are left out.
    max_share_trimmed : float
        Above this share of rows trimmed, an :class:`OverlapWarning` is issued.
    level : float
        Confidence level (normal interval from the influence function).
    seed : int
        Fold seed.
    intervention_type : str
        Label for the result.

    Returns
    -------
    EffectEstimate
        Diagnostics: ``propensity_quantiles`` and ``propensity_histogram`` (by arm, before
        trimming), ``share_trimmed``, ``effective_n`` (Kish, per arm), ``balance`` (standardised
        mean differences of the covariates before and after weighting).

    Warns
    -----
    OverlapWarning
        When more than ``max_share_trimmed`` of rows are trimmed, or the weights leave an
        effective sample below 20% of an arm.
    """
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if estimand not in ("ate", "att"):
        raise ValueError(f"estimand must be 'ate' or 'att', got {estimand!r}")
    covariates = list(covariates)
    if not covariates:
        raise ValueError("covariates must name at least one pre-assignment column (e.g. 'score')")
    require_columns(decisions, [treatment, outcome, *covariates])
    t = as_bool(decisions, treatment)
    y = outcome_values(decisions, outcome)
    try:
        X = decisions[covariates].astype(float).to_numpy()
    except (TypeError, ValueError) as exc:
        raise DataContractError(
            f"decisions: covariates {covariates} must be numeric or bool ({exc})"
        ) from None
    n1, n0 = int(t.sum()), int((~t).sum())
    if min(n1, n0) < 2 * n_folds:
        raise EstimationError(
            f"decisions.{treatment}: {n1} treated and {n0} untreated rows; need at least"
            f" {2 * n_folds} of each for {n_folds}-fold cross-fitting"
        )
    binary = is_binary(y)
    prop_model = propensity_model if propensity_model is not None else _default_classifier()
    out_model = outcome_model
    if out_model is None:
        out_model = _default_classifier() if binary else _default_regressor()

    e = np.empty(len(y))
    mu1 = np.empty(len(y))
    mu0 = np.empty(len(y))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(X, t):
        e[test] = clone(prop_model).fit(X[train], t[train]).predict_proba(X[test])[:, 1]
        for arm, mu in ((True, mu1), (False, mu0)):
            rows = train[t[train] == arm]
            mu[test] = _fit_predict(out_model, X[rows], y[rows], X[test], binary)

    keep = (e >= trim) & (e <= 1 - trim)
    share_trimmed = float(1 - keep.mean())
    tk, yk, ek, m1, m0 = t[keep], y[keep], e[keep], mu1[keep], mu0[keep]
    if tk.sum() < 2 or (~tk).sum() < 2:
        raise EstimationError(
            f"decisions.{treatment}: after trimming propensities outside [{trim}, {1 - trim}]"
            f" {int(tk.sum())} treated and {int((~tk).sum())} untreated rows remain; no overlap"
        )
    if estimand == "ate":
        psi = m1 - m0 + tk * (yk - m1) / ek - (~tk) * (yk - m0) / (1 - ek)
        estimate = float(psi.mean())
        infl = psi - estimate
    else:
        share = tk.mean()
        num = tk * (yk - m0) - (~tk) * ek / (1 - ek) * (yk - m0)
        estimate = float(num.mean() / share)
        infl = (num - tk * estimate) / share
    se = float(infl.std(ddof=1) / np.sqrt(len(infl)))
    z = z_value(level)

    w = np.where(tk, 1 / ek, 1 / (1 - ek)) if estimand == "ate" else np.where(tk, 1.0, ek / (1 - ek))
    ess = {arm: _kish(w[tk == (arm == "treated")]) for arm in ("treated", "control")}
    diagnostics: dict[str, object] = {
        "estimand": estimand,
        "share_trimmed": share_trimmed,
        "n_trimmed": int((~keep).sum()),
        "propensity_quantiles": _quantiles(e, t),
        "propensity_histogram": _histogram(e, t),
        "effective_n": ess,
        "balance": _balance(decisions.loc[keep, covariates], tk, w),
        "n_folds": n_folds,
    }
    warns: list[str] = []
    if share_trimmed > max_share_trimmed:
        warns.append(
            f"poor overlap: {share_trimmed:.1%} of rows have a propensity outside [{trim}, {1 - trim}]"
            " and were left out; the estimate describes the remaining students only"
        )
    for arm, n_arm in (("treated", int(tk.sum())), ("control", int((~tk).sum()))):
        if ess[arm] < 0.2 * n_arm:
            warns.append(
                f"poor overlap: weights leave an effective {arm} sample of {ess[arm]:.0f} of {n_arm} rows"
            )
    for message in warns:
        _warnings.warn(message, OverlapWarning, stacklevel=2)

    return EffectEstimate(
        estimator="aipw",
        intervention_type=intervention_type,
        outcome=outcome,
        estimand=(
            "average effect over students with overlap (ATE)"
            if estimand == "ate"
            else "average effect on the treated with overlap (ATT)"
        ),
        estimate=estimate,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        ci_level=level,
        ci_method=f"normal, influence-function SE ({n_folds}-fold cross-fitting, seed {seed})",
        se=se,
        p_value=normal_p_value(estimate, se),
        n=int(keep.sum()),
        n_treated=int(tk.sum()),
        n_control=int((~tk).sum()),
        sample=(
            f"all decision rows with propensity in [{trim}, {1 - trim}]"
            f" ({share_trimmed:.1%} trimmed); covariates: {', '.join(covariates)}"
        ),
        assumptions=ASSUMPTIONS,
        diagnostics=diagnostics,
        warnings=tuple(warns),
    )


def _fit_predict(
    model: BaseEstimator, X: np.ndarray, y: np.ndarray, X_new: np.ndarray, binary: bool
) -> np.ndarray:
    if binary and len(np.unique(y)) < 2:  # a fold arm with one outcome value: predict it
        return np.full(len(X_new), float(y[0]) if len(y) else 0.0)
    fitted = clone(model).fit(X, y.astype(int) if binary else y)
    if binary and hasattr(fitted, "predict_proba"):
        return fitted.predict_proba(X_new)[:, 1]
    return fitted.predict(X_new)


def _kish(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0


def _quantiles(e: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    qs = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]
    return pd.DataFrame({"quantile": qs, "treated": np.quantile(e[t], qs), "control": np.quantile(e[~t], qs)})


def _histogram(e: np.ndarray, t: np.ndarray, bins: int = 10) -> pd.DataFrame:
    edges = np.linspace(0, 1, bins + 1)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "treated": np.histogram(e[t], edges)[0],
            "control": np.histogram(e[~t], edges)[0],
        }
    )


def _balance(X: pd.DataFrame, t: np.ndarray, w: np.ndarray) -> pd.DataFrame:
    rows = []
    for col in X.columns:
        x = X[col].astype(float).to_numpy()
        ok = ~np.isnan(x)
        a, b = ok & t, ok & ~t
        if a.sum() < 2 or b.sum() < 2:
            continue
        sd = np.sqrt((x[a].var(ddof=1) + x[b].var(ddof=1)) / 2)
        raw = (x[a].mean() - x[b].mean()) / sd if sd > 0 else np.nan
        wm1, wm0 = np.average(x[a], weights=w[a]), np.average(x[b], weights=w[b])
        rows.append(
            {"covariate": col, "smd_raw": raw, "smd_weighted": (wm1 - wm0) / sd if sd > 0 else np.nan}
        )
    return pd.DataFrame(rows, columns=["covariate", "smd_raw", "smd_weighted"])
