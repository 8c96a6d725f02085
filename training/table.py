"""The model family on any flat table: one row per student, one outcome column.

A researcher with a table (a public data set, a survey, a school's export) runs baoxue's
recipe on it with :func:`evaluate_table`; :func:`read_table` reads the file. The recipe
is the one ``baoxue train`` fits, called, not copied: :func:`training.fit.fit_model`
fits LightGBM on the fit rows with early stopping on half of an inner validation part
and calibrates it on the other half (:func:`training.calibrate.calibrate`); the logistic
baseline (:func:`training.baselines.logistic_baseline`) gets the same calibration rows.
Figures come from :func:`training.metrics.score_metrics`.

The split
---------
- ``time`` given: train on the rows with earlier values, test on the rows with the latest
  value (one split). The inner validation is the latest training value when at least two
  remain, as ``baoxue train`` validates on a later period; else a stratified quarter.
- ``group`` given: ``StratifiedGroupKFold`` over ``folds`` (no group in both the training
  and the test part of a fold); the inner validation is a grouped quarter.
- neither: ``StratifiedKFold`` over ``folds``.

Figures are pooled over the out-of-fold predictions (one list over every test row). The
id, time and group columns and the ``drop`` columns are not features; every other column
is, and a column that is not numeric becomes a LightGBM category.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=400)
>>> frame = pd.DataFrame({"x": x, "town": rng.choice(["a", "b"], 400),
...                       "left": np.where(rng.random(400) < 1 / (1 + np.exp(1 - 2 * x)), "yes", "no")})
>>> small = TrainConfig(n_estimators=20, num_leaves=4, min_child_samples=10, early_stopping_rounds=5)
>>> result = evaluate_table(frame, label="left", positive="yes", folds=3, config=small)
>>> result["split"]["kind"], result["n_rows"], result["auc"] > 0.7, sorted(result["baselines"])
('stratified', 400, True, ['logistic'])
>>> evaluate_table(frame, label="Left", positive="yes")
Traceback (most recent call last):
...
features.errors.DataContractError: label column 'Left' is not in the table (columns: x, town, left)
"""

from __future__ import annotations

import csv
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from features.config import TrainConfig
from features.errors import DataContractError
from training.baselines import logistic_baseline
from training.calibrate import TooFewLabels
from training.fit import FittedModel, fit_model, prepare_features
from training.metrics import score_metrics
from training.splits import TemporalDesign

__all__ = ["HEADLINE_KEYS", "read_table", "evaluate_table", "metrics_json"]

log = logging.getLogger(__name__)

#: the figures :func:`evaluate_table` reports for the model and for each baseline, in order
HEADLINE_KEYS = (
    "auc",
    "roc_auc",
    "pr_auc",
    "precision_at_5pct",
    "precision_at_10pct",
    "recall_at_10pct",
    "brier",
    "ece",
    "n_rows",
    "positive_rate",
)

#: the inner validation part is one fold of this many (a quarter of the training rows)
_INNER_SPLITS = 4
#: two synthetic as-of dates that tell :func:`training.fit.fit_model` fit rows from valid rows
_FIT_DAY, _VALID_DAY = pd.Timestamp("2000-01-01"), pd.Timestamp("2000-02-01")
_SEPARATORS = ",;\t|"
_EXCEL = (".xlsx", ".xlsm", ".xls")


# --- reading --------------------------------------------------------------------------------------


def _decode(raw: bytes, path: Path) -> str:
    """UTF-8 (a BOM is dropped), else GBK (read as its superset GB18030)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DataContractError(
            f"{path.name}: neither UTF-8 nor GBK (byte {exc.start}); export it again as UTF-8 CSV"
        ) from None
    log.info("%s read as GBK", path.name)
    return text


def _sniff(text: str) -> str:
    """The separator of a CSV text: what :class:`csv.Sniffer` finds among , ; tab |, else ','."""
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {s: header.count(s) for s in _SEPARATORS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_table(path: str | Path, *, sep: str | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a flat table: CSV (any separator; UTF-8 with or without BOM, or GBK), Parquet or XLSX.

    Parameters
    ----------
    path : str or Path
        ``.parquet``, ``.xlsx`` (``.xlsm``, ``.xls``), else read as CSV (``.csv``, ``.tsv``, ``.txt``).
    sep : str, optional
        The CSV separator; sniffed (among ``, ; tab |``) when not given.
    sheet : str or int, optional
        The XLSX sheet (name or 0-based position); default the first.

    Returns
    -------
    DataFrame
        Column types as pandas infers them (numbers numeric, text ``str``); headers stripped.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "t.csv"
    ...     _ = p.write_bytes("学号;成绩\\n1;3,5\\n2;4\\n".encode("gbk"))
    ...     read_table(p).columns.tolist()
    ['学号', '成绩']
    """
    path = Path(path)
    if not path.is_file():
        raise DataContractError(f"table file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in _EXCEL:
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
        else:
            text = _decode(path.read_bytes(), path)
            frame = pd.read_csv(io.StringIO(text), sep=sep or _sniff(text))
    except DataContractError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is one clear error
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DataContractError(
            f"{path.name}: cannot read it as {'Parquet' if suffix == '.parquet' else 'XLSX' if suffix in _EXCEL else 'CSV'} "
            f"({type(exc).__name__}: {first[:200]})"
        ) from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


# --- checking the columns -------------------------------------------------------------------------


def _columns_text(frame: pd.DataFrame, limit: int = 12) -> str:
    cols = [str(c) for c in frame.columns]
    return ", ".join(cols[:limit]) + (f", … ({len(cols)} in all)" if len(cols) > limit else "")


def _require(frame: pd.DataFrame, column: str | None, role: str) -> None:
    if column is not None and column not in frame.columns:
        raise DataContractError(
            f"{role} column {column!r} is not in the table (columns: {_columns_text(frame)})"
        )


def _positive_mask(label: pd.Series, positive: Any) -> np.ndarray:
    """True where ``label`` equals ``positive``: as given, as text, or as a number ('1' = 1.0)."""
    present = label.notna().to_numpy()
    text = label.astype("str").str.strip().to_numpy()
    mask = present & (text == str(positive).strip())
    if not mask.any():
        number = pd.to_numeric(pd.Series([positive]), errors="coerce").iloc[0]
        values = pd.to_numeric(label, errors="coerce")
        if pd.notna(number) and values.notna().any():
            mask = present & (values == number).to_numpy()
    return mask


def _seen(label: pd.Series, limit: int = 10) -> str:
    counts = label.value_counts(dropna=True)
    shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(limit).items())
    return shown + (f", … ({len(counts)} values)" if len(counts) > limit else "")


def _check_id(frame: pd.DataFrame, id: str) -> None:
    ids = frame[id]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())[:5] + 1
        raise DataContractError(
            f"id column {id!r} is empty in {int(ids.isna().sum())} rows (rows {', '.join(map(str, rows))}; "
            "1 = first data row)"
        )
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids.to_numpy()[np.flatnonzero(dup)[0]]
        rows = np.flatnonzero((ids == first).to_numpy())[:5] + 1
        n = int(ids[dup].nunique())
        raise DataContractError(
            f"id column {id!r} has duplicates: {n} ids occur more than once, e.g. {first!r} in rows "
            f"{', '.join(map(str, rows))} (1 = first data row); one row per student is needed"
        )


def _check_filled(frame: pd.DataFrame, column: str, role: str) -> None:
    empty = frame[column].isna()
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())[:5] + 1
        raise DataContractError(
            f"{role} column {column!r} is empty in {int(empty.sum())} rows "
            f"(rows {', '.join(map(str, rows))}; 1 = first data row)"
        )


# --- features -------------------------------------------------------------------------------------


def _feature(s: pd.Series) -> pd.Series:
    """A numeric column as float64 (booleans 0/1, dates as days), anything else as a category."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return pd.to_numeric(s.astype("float64"), errors="raise")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return (s - pd.Timestamp("1970-01-01", tz=getattr(s.dt, "tz", None))).dt.total_seconds() / 86400
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds() / 86400
    numbers = pd.to_numeric(s, errors="coerce")
    if numbers.notna().sum() == s.notna().sum() and s.notna().any():
        return numbers.astype("float64")  # text that holds numbers only (an XLSX column, say)
    return pd.Series(pd.Categorical(s.where(s.isna(), s.astype("str"))), index=s.index)


def _features(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The feature frame under safe internal names (``f0``, ``f1``, …; a table's own names may
    hold characters LightGBM refuses, or clash with the panel's ``label``), numeric names,
    categorical names."""
    converted = {f"f{i}": _feature(frame[c]).reset_index(drop=True) for i, c in enumerate(columns)}
    X = pd.DataFrame(converted)
    cat = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return X, [c for c in X.columns if c not in cat], cat


# --- the split ------------------------------------------------------------------------------------


def _time_order(values: pd.Series) -> pd.Series:
    """A sortable key of a time column: numbers, dates, date-like text, else the text itself."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    text = values.astype("str")
    unique = pd.Series(text.unique())
    with warnings.catch_warnings():  # dateutil's "could not infer format" on mixed text
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(unique, errors="coerce", format="mixed")
    if parsed.notna().all():
        return text.map(dict(zip(unique, parsed)))
    return text


def _jsonable(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _splitter(n_splits: int, groups: np.ndarray | None, seed: int):
    if groups is None:
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def _inner_valid(y: np.ndarray, groups: np.ndarray | None, seed: int, column: str | None) -> np.ndarray:
    """Boolean mask of the inner validation quarter of training rows (grouped when ``groups``;
    a third or a half when a fold's training part holds only 3 or 2 groups)."""
    n_splits = _INNER_SPLITS
    if groups is not None:
        n_splits = min(n_splits, len(np.unique(groups)))
        if n_splits < 2:
            raise DataContractError(
                f"group column {column!r}: a fold's training part holds one group only; "
                "early stopping and calibration need another (use more groups or fewer folds)"
            )
    splitter = _splitter(n_splits, groups, seed)
    _, valid = next(iter(splitter.split(np.zeros(len(y)), y, groups)))
    mask = np.zeros(len(y), bool)
    mask[valid] = True
    return mask


def _outer_folds(y, groups, *, time_key, time_values, folds, seed, group, time) -> tuple[list, dict]:
    """(train index, test index, inner-valid mask over train or None) per fold, and the split record."""
    if time_key is not None:
        last = time_key.max()
        test = np.flatnonzero((time_key == last).to_numpy())
        train = np.flatnonzero((time_key != last).to_numpy())
        train_values = time_key.iloc[train]
        inner = None
        if train_values.nunique() >= 2:
            inner = (train_values == train_values.max()).to_numpy()
        split = {
            "kind": "time",
            "column": time,
            "folds": 1,
            "test_value": _jsonable(time_values.iloc[test[0]]),
            "train_values": int(train_values.nunique()),
            "train_rows": len(train),
            "test_rows": len(test),
            "inner": "latest training value"
            if inner is not None
            else "grouped quarter"
            if groups is not None
            else "stratified quarter",
            "note": f"trained on rows with earlier {time!r}, tested on the latest value",
        }
        return [(train, test, inner)], split
    splitter = _splitter(folds, groups, seed)
    out = [(tr, te, None) for tr, te in splitter.split(np.zeros(len(y)), y, groups)]
    split = {"kind": "grouped" if groups is not None else "stratified", "folds": folds}
    if group is not None:
        split["column"] = group
    split["inner"] = "grouped quarter" if groups is not None else "stratified quarter"
    return out, split


# --- fitting --------------------------------------------------------------------------------------


def _panel(X: pd.DataFrame, y: np.ndarray, keys: np.ndarray, valid: np.ndarray) -> pd.DataFrame:
    """The layout :func:`training.fit.fit_model` reads: the fit rows on one as-of date, the
    inner validation rows on a later one; ``student_id`` (the id, else the row) keys the
    early-stopping / calibration halves."""
    return X.assign(
        student_id=keys.astype("str"),
        as_of=np.where(valid, _VALID_DAY.to_datetime64(), _FIT_DAY.to_datetime64()).astype("datetime64[s]"),
        label=y,
    )


def _fit_fold(panel, features, num, cat, config, fold, folds) -> tuple[FittedModel, FittedModel]:
    design = TemporalDesign(fit=(_FIT_DAY,), valid=(_VALID_DAY,), test=(), gap_days=0)
    try:
        model = fit_model(panel, design, config, features=features)
        logistic = fit_model(
            panel, design, config, features=features, estimator=logistic_baseline(num, cat, seed=config.seed)
        )
    except TooFewLabels:
        raise DataContractError(
            f"fold {fold + 1} of {folds}: its calibration rows hold one class only; the table has too few "
            "positives or negatives for this split (use fewer folds or more rows)"
        ) from None
    return model, logistic


def _headline(y: np.ndarray, p: np.ndarray, seed: int) -> dict[str, Any]:
    frame = pd.DataFrame(
        {
            "label": y,
            "as_of": _VALID_DAY,
            "student_id": np.arange(len(y)).astype("str"),
            "event_date": pd.NaT,
            "school_id": "all",
        }
    )
    frame["event_date"] = frame["event_date"].astype("datetime64[s]")
    return metrics_json(score_metrics(frame, p, shares=(0.05, 0.10), seed=seed))


def metrics_json(metrics: Mapping[str, Any], *, capacity: int | None = None) -> dict[str, Any]:
    """The headline figures of a :func:`training.metrics.score_metrics` result, JSON-ready.

    Keys :data:`HEADLINE_KEYS` (``auc`` and ``roc_auc`` are the same figure; ``n_rows`` and
    ``positive_rate`` come from ``rows`` and ``base_rate``), plus ``precision_at_capacity``
    and ``recall_at_capacity`` when ``capacity`` is given. Plain ``float``/``int``; a figure
    that is undefined (NaN, e.g. AUC on one class) is ``None`` (JSON ``null``).

    >>> metrics_json({"roc_auc": 0.8, "pr_auc": float("nan"), "rows": 10.0, "base_rate": 0.2,
    ...               "precision_at_cap5": 0.5, "recall_at_cap5": 0.25}, capacity=5)  # doctest: +NORMALIZE_WHITESPACE
    {'auc': 0.8, 'roc_auc': 0.8, 'pr_auc': None, 'precision_at_5pct': None, 'precision_at_10pct': None,
     'recall_at_10pct': None, 'brier': None, 'ece': None, 'n_rows': 10, 'positive_rate': 0.2,
     'precision_at_capacity': 0.5, 'recall_at_capacity': 0.25}
    """
    source = dict(metrics)
    source.setdefault("auc", source.get("roc_auc"))
    source.setdefault("n_rows", source.get("rows"))
    source.setdefault("positive_rate", source.get("base_rate"))
    if capacity is not None:
        source.setdefault("precision_at_capacity", source.get(f"precision_at_cap{capacity}"))
        source.setdefault("recall_at_capacity", source.get(f"recall_at_cap{capacity}"))
    keys = HEADLINE_KEYS + (("precision_at_capacity", "recall_at_capacity") if capacity is not None else ())
    out: dict[str, Any] = {}
    for k in keys:
        v = source.get(k)
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            out[k] = None
        elif k == "n_rows":
            out[k] = int(v)
        else:
            out[k] = float(v)
    return out


def evaluate_table(
    frame: pd.DataFrame,
    *,
    label: str,
    positive: Any,
    id: str | None = None,
    time: str | None = None,
    group: str | None = None,
    drop: Sequence[str] = (),
    folds: int = 5,
    seed: int = 0,
    config: TrainConfig | None = None,
) -> dict[str, Any]:
    """Fit baoxue's recipe on a flat table and measure it out of fold, next to logistic regression.

    Parameters
    ----------
    frame : DataFrame
        One row per student; not changed.
    label : str
        The outcome column.
    positive : scalar
        The label value that counts as positive (compared as given, as text, or as a number,
        so ``"1"`` matches ``1``); every other non-empty value is negative. Rows with an
        empty label are left out (``rows_without_label``).
    id : str, optional
        A student id: must be unique and filled; never a feature.
    time : str, optional
        Train on the rows with earlier values, test on the rows with the latest value
        (numbers, dates or date-like text are ordered as such, other text alphabetically).
    group : str, optional
        Grouped k-fold: no value in both the training and test part of a fold (a school, a
        class). Never a feature. The inner validation part is grouped too (with ``time``,
        that is all the group does).
    drop : sequence of str
        Columns that are not features (another outcome, a leak).
    folds : int, default 5
        Number of folds (no effect with ``time``).
    seed : int, default 0
        Fold shuffling and the model's seed (``config.seed`` is replaced).
    config : TrainConfig, optional
        The model's settings (``[train]``): trees, leaves, early stopping, calibration.

    Returns
    -------
    dict
        JSON-ready: the model's :data:`HEADLINE_KEYS` (figures pooled over the test rows,
        ``n_rows`` = rows scored), ``split`` (``kind`` 'time' / 'grouped' / 'stratified',
        ``folds``, and for time the ``test_value``), ``baselines`` = ``{"logistic": {...}}``
        with the same keys, and ``label``, ``positive``, ``features``, ``categorical``,
        ``rows_without_label``, ``model``, ``calibration``.

    Raises
    ------
    DataContractError
        A named column is missing; ``positive`` never occurs in the label (the values seen
        are listed); the label holds one class only; the id has duplicates or gaps; the
        time or group column has gaps; too few rows, groups or time values for the split.
    """
    config = replace(config or TrainConfig(), seed=seed)
    if folds < 2 and time is None:
        raise DataContractError(f"folds must be at least 2, got {folds}")
    _require(frame, label, "label")
    _require(frame, id, "id")
    _require(frame, time, "time")
    _require(frame, group, "group")
    for c in drop:
        _require(frame, c, "drop")
    if id is not None:
        _check_id(frame, id)

    has_label = frame[label].notna().to_numpy()
    data = frame.loc[has_label].reset_index(drop=True)
    if not len(data):
        raise DataContractError(f"label column {label!r} is empty in every row")
    y = _positive_mask(data[label], positive).astype("int8")
    if not y.any():
        raise DataContractError(
            f"positive value {positive!r} never occurs in label column {label!r}; values seen: {_seen(data[label])}"
        )
    if y.all():
        raise DataContractError(
            f"label column {label!r} holds one class only: every labelled row is {positive!r} "
            f"(values seen: {_seen(data[label])}); positives and negatives are needed"
        )
    for column, role in ((time, "time"), (group, "group")):
        if column is not None:
            _check_filled(data, column, role)

    roles = {label, id, time, group, *drop} - {None}
    columns = [c for c in data.columns if c not in roles]
    if not columns:
        raise DataContractError("no feature columns left (label, id, time, group and drop take all of them)")
    X, num, cat = _features(data, columns)
    features = list(X.columns)

    time_key = _time_order(data[time]) if time is not None else None
    if time_key is not None and time_key.nunique() < 2:
        raise DataContractError(
            f"time column {time!r} holds one value only ({_jsonable(time_key.iloc[0])!r}); "
            "a time split needs an earlier value to train on"
        )
    groups = data[group].astype("str").to_numpy() if group is not None else None
    counts = {"positive": int(y.sum()), "negative": int(len(y) - y.sum())}
    if time_key is None:
        small = min(counts, key=counts.get)
        if counts[small] < folds:
            raise DataContractError(
                f"label column {label!r} has {counts[small]} {small} rows, fewer than folds={folds}"
            )
        if groups is not None and len(np.unique(groups)) < folds:
            raise DataContractError(
                f"group column {group!r} has {len(np.unique(groups))} values, fewer than folds={folds}"
            )
    # the early-stopping / calibration halves are drawn by row (one row per student); the
    # group only keeps the test part, and the inner validation part, apart from the fit rows
    keys = data[id].astype("str").to_numpy() if id is not None else np.arange(len(data)).astype("str")

    fold_list, split = _outer_folds(
        y,
        groups,
        time_key=time_key,
        time_values=None if time is None else data[time],
        folds=folds,
        seed=seed,
        group=group,
        time=time,
    )
    scored = np.zeros(len(y), bool)
    p_model = np.full(len(y), np.nan)
    p_logistic = np.full(len(y), np.nan)
    for k, (train, test, inner) in enumerate(fold_list):
        if inner is None:
            inner = _inner_valid(y[train], None if groups is None else groups[train], seed + k, group)
        panel = _panel(X.iloc[train], y[train], keys[train], inner)
        model, logistic = _fit_fold(panel, features, num, cat, config, k, len(fold_list))
        X_test = prepare_features(X.iloc[test], features)
        p_model[test] = model.predict_proba(X_test)
        p_logistic[test] = logistic.predict_proba(X_test)
        scored[test] = True
        log.info(
            "fold %d/%d: %d fit, %d stop, %d calibration rows",
            k + 1,
            len(fold_list),
            model.n_fit,
            model.n_stop,
            model.n_calibration,
        )

    y_scored = y[scored]
    result = _headline(y_scored, p_model[scored], seed)
    result["split"] = split
    result["baselines"] = {"logistic": _headline(y_scored, p_logistic[scored], seed)}
    result |= {
        "label": label,
        "positive": _jsonable(positive),
        "features": len(features),
        "categorical": [columns[features.index(c)] for c in cat],
        "rows_without_label": int((~has_label).sum()),
        "model": "lightgbm",
        "calibration": config.calibration,
    }
    return result
