"""Temporal splits over as-of dates, never over row positions.

A panel has thousands of students per as-of date, so sklearn's ``TimeSeriesSplit``
(equally spaced rows) does not apply. :class:`AsOfSplit` follows sklearn's splitter
protocol (``split``, ``get_n_splits``) so that ``cross_validate(cv=...)`` and
``CalibratedClassifierCV(cv=...)`` accept it. Its gap is at least the label lag
(horizon + suspected-mark resolution window, :func:`~training.labels.label_lag_days`):
every training row's label window is closed before the test as-of date.

:func:`last_year_design` is the default evaluation (train on earlier school years,
test on every month of the last one); :func:`deployment_design` is what ``baoxue train``
uses (no test period: the latest labelled months validate and calibrate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import TrainConfig
from features.errors import ConfigError
from features.time import school_year_of
from training.labels import label_lag_days

__all__ = [
    "AsOfSplit",
    "TemporalDesign",
    "monthly_as_of_dates",
    "last_year_design",
    "deployment_design",
]


def monthly_as_of_dates(
    start: dt.date | str, end: dt.date | str, config: TrainConfig | None = None
) -> list[pd.Timestamp]:
    """First day of each month in ``[start, end]`` whose month is in ``config.as_of_months``.

    >>> [d.strftime("%Y-%m-%d") for d in monthly_as_of_dates("2024-06-15", "2024-10-01")]
    ['2024-09-01', '2024-10-01']
    """
    months = (config or TrainConfig()).as_of_months
    first = pd.Timestamp(start).to_period("M").to_timestamp()
    if first < pd.Timestamp(start):
        first = first + pd.offsets.MonthBegin(1)
    days = pd.date_range(first, pd.Timestamp(end), freq="MS")
    return [d for d in days if d.month in months]


def _as_dates(groups, X) -> np.ndarray:
    if groups is None:
        if isinstance(X, pd.DataFrame) and "as_of" in X.columns:
            groups = X["as_of"]
        else:
            raise ValueError(
                "AsOfSplit needs each row's as-of date: pass groups=panel['as_of'] or an X with an 'as_of' column"
            )
    return pd.to_datetime(np.asarray(groups)).to_numpy().astype("datetime64[D]")


class AsOfSplit:
    """Cross-validation over as-of dates: test on one date, train on dates ``gap_days`` earlier.

    The last ``n_splits`` distinct as-of dates are the test folds, in time order. A fold's
    training rows are those whose as-of date is at least ``gap_days`` before its test date,
    so with ``gap_days >= label_lag_days(config)`` no training label window reaches the test
    date.

    Parameters
    ----------
    n_splits : int, default 4
        Number of test dates (folds).
    gap_days : int, default 120
        Minimum days from a training as-of date to the test as-of date; use at least the
        label horizon (the default is horizon 90 + resolution 30).

    Examples
    --------
    >>> days = pd.to_datetime(["2024-01-01"] * 2 + ["2024-03-01"] * 2 + ["2024-06-01"] * 2)
    >>> cv = AsOfSplit(n_splits=2, gap_days=90, allow_empty=True)
    >>> [(tr.tolist(), te.tolist()) for tr, te in cv.split(None, groups=days)]
    [([], [2, 3]), ([0, 1, 2, 3], [4, 5])]

    The first fold has no training date 90 days before 2024-03-01 (2024-01-01 is only 60
    days before); by default (``allow_empty=False``) the splitter refuses it:

    >>> cv = AsOfSplit(n_splits=2, gap_days=90, allow_empty=False)
    >>> list(cv.split(None, groups=days))
    Traceback (most recent call last):
    ...
    ValueError: AsOfSplit: no training as-of date at least 90 days before the test date 2024-03-01; use fewer splits or a smaller gap_days
    """

    def __init__(self, n_splits: int = 4, gap_days: int = 120, *, allow_empty: bool = False) -> None:
        self.n_splits = n_splits
        self.gap_days = gap_days
        self.allow_empty = allow_empty

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds (``n_splits``)."""
        return self.n_splits

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` per test date.

        ``groups`` holds each row's as-of date (or ``X`` has an ``as_of`` column).
        """
        if self.n_splits < 1:
            raise ValueError(f"AsOfSplit: n_splits must be >= 1, got {self.n_splits}")
        if self.gap_days < 0:
            raise ValueError(f"AsOfSplit: gap_days must be >= 0, got {self.gap_days}")
        days = _as_dates(groups, X)
        unique = np.unique(days)
        if len(unique) < self.n_splits:
            raise ValueError(
                f"AsOfSplit: n_splits={self.n_splits} but only {len(unique)} distinct as-of dates"
            )
        gap = np.timedelta64(self.gap_days, "D")
        for test_day in unique[-self.n_splits :]:
            train = np.flatnonzero(days <= test_day - gap)
            if len(train) == 0 and not self.allow_empty:
                raise ValueError(
                    f"AsOfSplit: no training as-of date at least {self.gap_days} days before the test "
                    f"date {test_day}; use fewer splits or a smaller gap_days"
                )
            yield train, np.flatnonzero(days == test_day)


@dataclass(frozen=True)
class TemporalDesign:
    """Which as-of dates fit the model, which validate and calibrate it, which test it.

    ``valid`` dates are at least ``gap_days`` after every ``fit`` date and ``test`` dates
    at least ``gap_days`` after every ``valid`` date (checked on construction).
    """

    fit: tuple[pd.Timestamp, ...]
    valid: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    gap_days: int

    def __post_init__(self) -> None:
        gap = pd.Timedelta(days=self.gap_days)
        for early, late, what in ((self.fit, self.valid, "fit/valid"), (self.valid, self.test, "valid/test")):
            if early and late and max(early) + gap > min(late):
                raise ConfigError(
                    f"{what} dates overlap: {max(early).date()} + {self.gap_days} days > {min(late).date()}"
                )

    def part(self, as_of: pd.Series, which: str) -> np.ndarray:
        """Boolean mask of the rows whose ``as_of`` is in part ``which`` ('fit', 'valid', 'test')."""
        dates = pd.DatetimeIndex(getattr(self, which)).as_unit("s")
        return pd.to_datetime(as_of).dt.as_unit("s").isin(dates).to_numpy()

    def window(self) -> dict[str, str]:
        """First and last date of each part, as ISO strings (recorded with the model)."""
        out = {}
        for name in ("fit", "valid", "test"):
            dates = getattr(self, name)
            out[name] = f"{min(dates).date()}..{max(dates).date()}" if dates else ""
        return out


def _dates(as_of_dates: Iterable) -> list[pd.Timestamp]:
    return sorted({pd.Timestamp(d).normalize() for d in as_of_dates})


def _fit_valid(before: list[pd.Timestamp], config: TrainConfig, gap: pd.Timedelta):
    if len(before) < 1:
        raise ConfigError("no labelled as-of date is available for validation and calibration")
    valid = before[-config.valid_months :]
    fit = [d for d in before if d + gap <= valid[0]]
    if not fit:
        raise ConfigError(
            f"no as-of date is {gap.days} days before the validation period starting {valid[0].date()}; "
            "simulate or load more years, or lower [train] valid_months"
        )
    return fit, valid


def last_year_design(as_of_dates: Iterable, config: TrainConfig) -> TemporalDesign:
    """Train on earlier school years, test on every as-of date of the last school year.

    ``as_of_dates`` are the labelled dates (:func:`~training.labels.observable_as_of_dates`).
    Validation (early stopping + calibration) takes the last ``config.valid_months`` dates
    at least the label lag before the test year; fitting takes the dates at least the
    label lag before validation.

    Examples
    --------
    >>> dates = monthly_as_of_dates("2021-09-01", "2024-03-01")
    >>> d = last_year_design(dates, TrainConfig())
    >>> d.window()
    {'fit': '2021-09-01..2022-11-01', 'valid': '2023-03-01..2023-05-01', 'test': '2023-09-01..2024-03-01'}
    """
    dates = _dates(as_of_dates)
    if not dates:
        raise ConfigError("no labelled as-of dates")
    gap = pd.Timedelta(days=label_lag_days(config))
    last = school_year_of(dates[-1].date())
    test = [d for d in dates if school_year_of(d.date()) == last]
    before = [d for d in dates if d + gap <= test[0]]
    fit, valid = _fit_valid(before, config, gap)
    return TemporalDesign(tuple(fit), tuple(valid), tuple(test), gap.days)


def deployment_design(as_of_dates: Iterable, config: TrainConfig) -> TemporalDesign:
    """The model to deploy: the latest ``valid_months`` labelled dates validate and calibrate.

    >>> d = deployment_design(monthly_as_of_dates("2021-09-01", "2024-03-01"), TrainConfig())
    >>> d.window()["valid"], d.test
    ('2024-01-01..2024-03-01', ())
    """
    dates = _dates(as_of_dates)
    gap = pd.Timedelta(days=label_lag_days(config))
    fit, valid = _fit_valid(dates, config, gap)
    return TemporalDesign(tuple(fit), tuple(valid), (), gap.days)
