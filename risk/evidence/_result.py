"""The one result object every evidence estimator returns, and the checks they share."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features.errors import BaoxueError, DataContractError

__all__ = [
    "EffectEstimate",
    "EstimationError",
    "results_frame",
    "jsonable",
    "require_columns",
    "as_bool",
    "outcome_values",
    "is_binary",
    "normal_p_value",
    "z_value",
    "plural",
]

_PLURALS = {"stratum": "strata", "student": "students", "child": "children"}


def plural(n: int, noun: str) -> str:
    """``n noun`` in words that agree: "1 estimate", "16 strata", "0 runs".

    >>> plural(1, "estimate"), plural(16, "stratum"), plural(0, "run")
    ('1 estimate', '16 strata', '0 runs')
    """
    return f"{n:,} {noun if n == 1 else _PLURALS.get(noun, noun + 's')}"


class EstimationError(BaoxueError, ValueError):
    """The data cannot support the design asked for (no randomised students, no variation, ...)."""


#: the scalar fields of :class:`EffectEstimate`, in table order
SCALAR_FIELDS: tuple[str, ...] = (
    "estimator",
    "intervention_type",
    "outcome",
    "estimand",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_level",
    "ci_method",
    "se",
    "p_value",
    "n",
    "n_treated",
    "n_control",
    "sample",
)


@dataclass(frozen=True, kw_only=True)
class EffectEstimate:
    """One effect estimate with its interval, its sample and its assumptions in words.

    Effects are differences *treated minus control* on the outcome's own scale: for
    ``outcome_dropout`` a negative estimate means fewer dropouts (percentage points / 100),
    for ``outcome_attendance`` a positive one means more days present (share of days).

    Attributes
    ----------
    estimator : str
        ``borderline``, ``rd``, ``aipw`` or ``event_study``.
    intervention_type : str
        The ``interventions.type`` (or ``"case"`` for selection onto a list); ``"any"`` when pooled.
    outcome : str
        Outcome column, e.g. ``outcome_dropout``.
    estimand : str
        What is estimated, in words (ITT among randomised students, ATE, effect at the cut-off ...).
    estimate, ci_low, ci_high : float
        Point estimate and confidence interval bounds.
    ci_level : float
        E.g. 0.95.
    ci_method : str
        How the interval was computed (``newcombe``, ``bootstrap-percentile``, ``rdrobust-robust-bc`` ...).
    se, p_value : float
        Standard error and two-sided p-value for "no effect" (NaN when the method gives none).
    n, n_treated, n_control : int
        Rows used.
    sample : str
        The sample definition in words.
    assumptions : tuple of str
        Identifying assumptions, each a sentence.
    diagnostics : dict
        Estimator-specific checks (numbers, small DataFrames).
    warnings : tuple of str
        Problems a reader must see next to the estimate (poor overlap, weak first stage ...).

    Examples
    --------
    >>> r = EffectEstimate(estimator="borderline", intervention_type="case", outcome="outcome_dropout",
    ...     estimand="ITT", estimate=-0.05, ci_low=-0.09, ci_high=-0.01, ci_level=0.95, ci_method="newcombe",
    ...     se=0.02, p_value=0.01, n=400, n_treated=200, n_control=200, sample="band",
    ...     assumptions=("random assignment",))
    >>> r.to_frame()[["estimate", "n"]].to_dict("records")
    [{'estimate': -0.05, 'n': 400}]
    >>> r.to_dict()["assumptions"]
    ['random assignment']
    """

    estimator: str
    intervention_type: str
    outcome: str
    estimand: str
    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    ci_method: str
    se: float
    p_value: float
    n: int
    n_treated: int
    n_control: int
    sample: str
    assumptions: tuple[str, ...]
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def covers(self, value: float) -> bool:
        """Whether the confidence interval contains ``value`` (e.g. a simulated true effect)."""
        return bool(self.ci_low <= value <= self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        """One row with the scalar fields, assumptions joined by ``" | "`` and warnings likewise."""
        row = {k: getattr(self, k) for k in SCALAR_FIELDS}
        row["assumptions"] = " | ".join(self.assumptions)
        row["warnings"] = " | ".join(self.warnings)
        return pd.DataFrame([row])

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable: DataFrames become lists of records, NaN becomes None."""
        return jsonable(asdict(self))


def results_frame(results: Iterable[EffectEstimate]) -> pd.DataFrame:
    """Stack several results into one table (one row each), e.g. for a report or ``--json``."""
    frames = [r.to_frame() for r in results]
    if not frames:
        return pd.DataFrame(columns=[*SCALAR_FIELDS, "assumptions", "warnings"])
    return pd.concat(frames, ignore_index=True)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: frames as lists of records, Series and mappings as dicts
    (keys as text), arrays as lists, numpy scalars as Python ones, NaN as ``None`` and
    Timestamps as ISO text; what the estimators' ``to_dict`` and the evaluation write.

    >>> jsonable({"a": np.int64(2), "b": [np.float64("nan"), True]})
    {'a': 2, 'b': [None, True]}
    """
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return jsonable(obj.to_dict())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


# --- shared checks and small statistics -------------------------------------------------------


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, table: str = "decisions") -> None:
    """Raise :class:`DataContractError` naming every missing column of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"{table}: missing column(s) {missing}; it has {list(frame.columns)}"
            " (build it with risk.evidence.decisions_frame)"
        )


def as_bool(frame: pd.DataFrame, column: str, *, table: str = "decisions") -> np.ndarray:
    """``frame[column]`` as a bool array; missing values are an error naming the column."""
    s = frame[column]
    if s.isna().any():
        raise DataContractError(
            f"{table}.{column}: {int(s.isna().sum())} missing value(s); expected True/False"
        )
    return s.to_numpy(dtype=bool)


def outcome_values(frame: pd.DataFrame, column: str, *, table: str = "decisions") -> np.ndarray:
    """``frame[column]`` as floats; missing values are an error naming the column."""
    s = pd.to_numeric(frame[column], errors="coerce")
    if s.isna().any():
        raise DataContractError(
            f"{table}.{column}: {int(s.isna().sum())} missing or non-numeric value(s);"
            " drop censored rows before estimating"
        )
    return s.to_numpy(dtype=float)


def is_binary(y: np.ndarray) -> bool:
    """Whether every value is 0 or 1."""
    return bool(np.isin(y, (0.0, 1.0)).all())


def normal_p_value(estimate: float, se: float) -> float:
    """Two-sided p-value of ``estimate / se`` against a standard normal (NaN if se is 0 or NaN)."""
    if not np.isfinite(se) or se <= 0:
        return float("nan")
    return float(2 * stats.norm.sf(abs(estimate / se)))


def z_value(level: float) -> float:
    """The two-sided normal critical value for ``level`` (0.95 -> 1.96)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))
