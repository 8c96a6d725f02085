"""Join the feature families into one matrix per as-of date, or a panel of dates.

The builders are listed explicitly in :data:`BUILDERS`; each one is a pure function
``(tables, as_of, *, config=None, cohort=None) -> DataFrame`` indexed by ``student_id``
over the same cohort (the "spine", :func:`features.cohort.cohort`), so joining is a
column concatenation.

Examples
--------
>>> from features._examples import example_tables
>>> tables = example_tables(attendance={"student_id": ["a", "b"], "date": ["2024-09-02"] * 2,
...                                     "status": ["present", "unexcused"]})
>>> X = build_features(tables, dt.date(2024, 9, 2))
>>> X.shape[0], X["att_unexcused_days_10d"].tolist()
(2, [0.0, 1.0])
>>> panel = build_panel(tables, [dt.date(2024, 9, 2), dt.date(2024, 9, 3)])
>>> list(panel.index.names), len(panel)
(['as_of', 'student_id'], 4)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pandas as pd

from features.academic import academic_features
from features.attendance import attendance_features
from features.cohort import cohort
from features.config import BaoxueConfig, feature_settings
from features.context import context_features
from features.contract import Tables
from features.hardship import hardship_features
from features.left_behind import left_behind_features

__all__ = ["BUILDERS", "FAMILIES", "build_features", "build_panel", "feature_columns"]

Builder = Callable[..., pd.DataFrame]

#: the feature builders, in column order
BUILDERS: tuple[Builder, ...] = (
    attendance_features,
    academic_features,
    hardship_features,
    left_behind_features,
    context_features,
)
#: the column prefix of each builder's family
FAMILIES: dict[str, Builder] = {
    "att": attendance_features,
    "acad": academic_features,
    "hard": hardship_features,
    "lb": left_behind_features,
    "ctx": context_features,
}


def build_features(tables: Tables, as_of: dt.date, config: BaoxueConfig | None = None) -> pd.DataFrame:
    """The feature matrix on ``as_of``: one row per cohort student, every family's columns.

    Parameters
    ----------
    tables : Tables
        Validated tables.
    as_of : date
        The day the matrix describes; only rows known on or before it are read.
    config : BaoxueConfig, optional
        The county's settings (defaults when omitted). The whole configuration, because
        the rule flags and some column names follow ``[rules]``: a bare
        :class:`~features.config.FeaturesConfig` raises ``TypeError``.

    Returns
    -------
    DataFrame
        Indexed by ``student_id`` (``str``, sorted); numeric columns ``float64``,
        categorical ones ``category`` (LightGBM reads both as they are).
    """
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    feature_settings(config)  # refuse a bare FeaturesConfig before any work
    spine = cohort(tables, as_of)
    parts = [b(tables, as_of, config=config, cohort=spine) for b in BUILDERS]
    out = pd.concat(parts, axis=1)
    out.index.name = "student_id"
    return out


def build_panel(
    tables: Tables, as_of_dates: Iterable[dt.date], config: BaoxueConfig | None = None
) -> pd.DataFrame:
    """Feature matrices of several as-of dates stacked for training.

    Returns
    -------
    DataFrame
        Indexed by (``as_of``, ``student_id``); ``as_of`` is a ``datetime64[s]`` level.
        A student appears once per date on which they are in the cohort.
    """
    dates = sorted({d.date() if isinstance(d, dt.datetime) else d for d in as_of_dates})
    frames = []
    for d in dates:
        f = build_features(tables, d, config)
        f.index = pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex([pd.Timestamp(d)] * len(f)).astype("datetime64[s]"), f.index],
            names=["as_of", "student_id"],
        )
        frames.append(f)
    return pd.concat(frames)


def feature_columns(config: BaoxueConfig | None = None) -> list[str]:
    """Every column :func:`build_features` returns under ``config``, in order.

    >>> feature_columns()[0], len(feature_columns()) > 60
    ('att_recorded_days_term', True)
    """
    from features.academic import academic_columns
    from features.attendance import attendance_columns
    from features.context import context_columns
    from features.hardship import hardship_columns
    from features.left_behind import left_behind_columns

    feature_settings(config)
    return [
        *attendance_columns(config),
        *academic_columns(config),
        *hardship_columns(config),
        *left_behind_columns(config),
        *context_columns(config),
    ]
