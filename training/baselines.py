"""Baselines reported next to the model, each calibrated on the same later period.

1. :class:`RuleBaseline` — the rule a county uses today (ABC-style): chronic absence
   (>= 10% of school days), >= 1 failed core subject, or bottom 20% of the class.
2. :func:`logistic_baseline` — logistic regression on the same features.
3. :class:`SchoolContextBaseline` — the school's past dropout rate and the grade only.
4. :func:`oracle_scores` — on simulated data, the simulator's true probability.

All estimators follow the sklearn contract (``__init__`` stores, ``fit`` returns self,
learned attributes end in ``_``), so :func:`~training.calibrate.calibrate` accepts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.errors import DataContractError

__all__ = ["RuleBaseline", "logistic_baseline", "SchoolContextBaseline", "oracle_scores"]


def _require(X: pd.DataFrame, columns: Sequence[str], who: str) -> None:
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise DataContractError(
            f"{who}: column(s) {', '.join(missing)} not in the feature frame "
            f"(found {len(X.columns)} columns, e.g. {', '.join(map(str, X.columns[:6]))})"
        )


class RuleBaseline(ClassifierMixin, BaseEstimator):
    """The county rule of today: flag chronic absence, a failed core subject, or the bottom 20%.

    The score orders students by number of flags, then by absence share; ``predict`` is the
    rule's own list (any flag). Missing values raise no flag.

    Parameters
    ----------
    absence_col : str
        Share of school days absent (0-1).
    failed_col : str
        Number of failed core subjects in the latest exam.
    bottom_col : str
        True when in the bottom 20% of the class (学困生).
    absence_share : float, default 0.10
        Chronic absence threshold (``RulesConfig.chronic_absence_share``).

    Examples
    --------
    >>> X = pd.DataFrame({"abs": [0.0, 0.2, 0.3], "fail": [0, 0, 2], "low": [False, False, True]})
    >>> rule = RuleBaseline("abs", "fail", "low").fit(X, [0, 0, 1])
    >>> rule.flags(X).tolist(), rule.predict(X).tolist()
    ([0, 1, 3], [0, 1, 1])
    """

    def __init__(
        self, absence_col: str, failed_col: str, bottom_col: str, absence_share: float = 0.10
    ) -> None:
        self.absence_col = absence_col
        self.failed_col = failed_col
        self.bottom_col = bottom_col
        self.absence_share = absence_share

    def fit(self, X: pd.DataFrame, y=None) -> RuleBaseline:
        _require(X, [self.absence_col, self.failed_col, self.bottom_col], "RuleBaseline")
        self.classes_ = np.array([0, 1])
        return self

    def flags(self, X: pd.DataFrame) -> np.ndarray:
        """Number of rule flags (0-3) per row."""
        _require(X, [self.absence_col, self.failed_col, self.bottom_col], "RuleBaseline")
        absence = pd.to_numeric(X[self.absence_col], errors="coerce").astype("float64")
        failed = pd.to_numeric(X[self.failed_col], errors="coerce").astype("float64")
        bottom = X[self.bottom_col].astype("float64")
        return (
            (absence >= self.absence_share).astype(int)
            + (failed >= 1).astype(int)
            + (bottom == 1).astype(int)
        ).to_numpy()

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        absence = pd.to_numeric(X[self.absence_col], errors="coerce").astype("float64").fillna(0).clip(0, 1)
        score = (self.flags(X) + 0.5 * absence.to_numpy()) / 3.5  # flags first, absence breaks ties
        return np.c_[1 - score, score]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.flags(X) >= 1).astype(int)


def logistic_baseline(
    numeric: Sequence[str], categorical: Sequence[str] = (), *, C: float = 1.0, seed: int = 0
) -> Pipeline:
    """Logistic regression on the same features: median imputation with missing indicators,
    standardised numbers, one-hot categories.

    >>> X = pd.DataFrame({"att_a": [0.0, 1.0, np.nan, 3.0], "ctx_s": pd.Categorical(list("xyxy"))})
    >>> logistic_baseline(["att_a"], ["ctx_s"]).fit(X, [0, 0, 1, 1]).predict_proba(X).shape
    (4, 2)
    """
    parts = [
        (
            "num",
            make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            ),
            list(numeric),
        )
    ]
    if categorical:
        parts.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                list(categorical),
            )
        )
    return Pipeline(
        [
            ("prep", ColumnTransformer(parts, remainder="drop")),
            ("lr", LogisticRegression(C=C, max_iter=2000, random_state=seed)),
        ]
    )


class SchoolContextBaseline(ClassifierMixin, BaseEstimator):
    """The school's past dropout rate by grade: the positive rate of each (school, grade)
    in the training rows, shrunk towards the grade's rate with ``prior`` pseudo-rows.

    Examples
    --------
    >>> X = pd.DataFrame({"school_id": ["a", "a", "b", "b"], "grade": [7, 7, 7, 7]})
    >>> m = SchoolContextBaseline(prior=2).fit(X, [1, 1, 0, 0])
    >>> m.predict_proba(X)[:, 1].tolist()
    [0.75, 0.75, 0.25, 0.25]
    """

    def __init__(self, school_col: str = "school_id", grade_col: str = "grade", prior: float = 50.0) -> None:
        self.school_col = school_col
        self.grade_col = grade_col
        self.prior = prior

    def _keys(self, X: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        _require(X, [self.school_col, self.grade_col], "SchoolContextBaseline")
        return X[self.school_col].astype("str"), pd.to_numeric(X[self.grade_col], errors="coerce")

    def fit(self, X: pd.DataFrame, y) -> SchoolContextBaseline:
        school, grade = self._keys(X)
        y = pd.Series(np.asarray(y, dtype="float64"), index=X.index)
        self.global_rate_ = float(y.mean())
        g = y.groupby(grade).agg(["sum", "count"])
        self.grade_rate_ = ((g["sum"] + self.prior * self.global_rate_) / (g["count"] + self.prior)).to_dict()
        cell = y.groupby([school, grade]).agg(["sum", "count"])
        prior_rate = np.array([self.grade_rate_[gr] for gr in cell.index.get_level_values(1)])
        self.cell_rate_ = ((cell["sum"] + self.prior * prior_rate) / (cell["count"] + self.prior)).to_dict()
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        school, grade = self._keys(X)
        p = np.array(
            [
                self.cell_rate_.get((s, g), self.grade_rate_.get(g, self.global_rate_))
                for s, g in zip(school.to_numpy(), grade.to_numpy())
            ]
        )
        return np.c_[1 - p, p]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def oracle_scores(rows: pd.DataFrame, risk_monthly: pd.DataFrame) -> np.ndarray:
    """The simulator's true probability for each (student_id, as_of) row of ``rows``.

    ``risk_monthly`` is ``truth/risk_monthly.parquet`` (``student_id``, ``as_of``,
    ``p_true``). Rows without a truth value raise: the oracle must cover the test set.
    """
    _require(risk_monthly, ["student_id", "as_of", "p_true"], "oracle (truth/risk_monthly)")
    key = pd.DataFrame(
        {
            "student_id": rows["student_id"].astype("str").to_numpy(),
            "as_of": pd.to_datetime(rows["as_of"]).to_numpy(),
        }
    )
    truth = risk_monthly.assign(
        student_id=risk_monthly["student_id"].astype("str"), as_of=pd.to_datetime(risk_monthly["as_of"])
    )[["student_id", "as_of", "p_true"]]
    key["as_of"] = key["as_of"].astype("datetime64[ns]")
    truth["as_of"] = truth["as_of"].astype("datetime64[ns]")
    merged = key.merge(truth, on=["student_id", "as_of"], how="left", validate="many_to_one")
    missing = int(merged["p_true"].isna().sum())
    if missing:
        raise DataContractError(f"oracle: {missing} of {len(rows)} rows have no p_true in truth/risk_monthly")
    return merged["p_true"].to_numpy(dtype="float64")
