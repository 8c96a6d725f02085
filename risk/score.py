"""Scoring: load a model bundle (file or MLflow URI) and turn features into calibrated risk.

The model is a :class:`training.bundle.ModelBundle`. :func:`load_model` reads it from a
joblib file or from the MLflow model registry (``models:/baoxue@champion``,
``models:/baoxue/3``, ``runs:/<run_id>/model``) and records which version it is.
:func:`score` checks the features frame against the bundle (a missing or mistyped column
is a :class:`~features.errors.DataContractError` naming it) and returns calibrated
probabilities, chunk by chunk so that memory stays bounded at any cohort size.

The fast path asks LightGBM's booster for the raw margin and applies the bundle's
calibration map to it directly. Which input the map expects (the model probability, or
its log-odds as sklearn >= 1.8 passes) is found on the first rows of every call by
comparing with ``bundle.predict_proba``; when neither matches, the bundle's own
``predict_proba`` scores every chunk (slower, same result).

Examples
--------
>>> import numpy as np
>>> list(chunks(5, 2))
[slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from features.errors import ModelUnreadable
from training.bundle import ModelBundle, load_bundle

__all__ = ["ScoringModel", "load_model", "score", "raw_margin", "design_matrix", "chunks", "DEFAULT_CHUNK"]

#: rows scored at a time; memory is bounded by a chunk's model matrix
DEFAULT_CHUNK = 100_000


@dataclass(frozen=True)
class ScoringModel:
    """A bundle and where it came from.

    Attributes
    ----------
    bundle : ModelBundle
    source : str
        The path or URI it was loaded from.
    version : str
        What the snapshot records as ``model_version``: the registered model and version
        (MLflow) or the file name and the first 12 hex digits of its SHA-256, plus the code
        version the model was trained with.
    """

    bundle: ModelBundle
    source: str
    version: str


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def load_model(model: str | Path | ModelBundle, *, tracking_uri: str | None = None) -> ScoringModel:
    """Load the model to score with.

    Parameters
    ----------
    model : str, Path or ModelBundle
        A bundle file written by :func:`training.bundle.save_bundle`, an MLflow model URI
        (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/model``), or a
        bundle already in memory.
    tracking_uri : str, optional
        MLflow tracking URI for ``models:/`` and ``runs:/`` URIs (default: MLflow's own).

    Returns
    -------
    ScoringModel
    """
    if isinstance(model, ModelBundle):
        return ScoringModel(model, "<in memory>", f"in-memory bundle ({model.code_version})")
    text = str(model)
    if text.startswith(("models:/", "runs:/")):
        return _load_mlflow(text, tracking_uri)
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(
            f"model {text!r} is neither a bundle file nor an MLflow URI (models:/NAME@ALIAS); "
            "train one with `baoxue train` or `make demo`"
        )
    bundle = load_bundle(path)
    return ScoringModel(bundle, str(path), f"{path.name} sha256:{_sha(path)} ({bundle.code_version})")


def _load_mlflow(uri: str, tracking_uri: str | None) -> ScoringModel:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if tracking_uri:
        from training.tracking import use_store

        use_store(tracking_uri)
    # MLflow creates a missing sqlite store (./mlruns.db by default) on first use, then finds
    # no model in it: say so instead, and leave nothing behind
    stores = {mlflow.get_tracking_uri(), mlflow.get_registry_uri() if uri.startswith("models:/") else None}
    for store in sorted(s for s in stores if s):
        missing = _missing_store(store)
        if missing is not None:
            raise ModelUnreadable(
                f"model {uri}: no MLflow store at {store} ({missing} does not exist); pass a bundle file "
                "with --model, or set [train] tracking_uri to the store `baoxue train` logged to"
            )
    label = uri
    try:
        if uri.startswith("models:/"):
            name_part = uri[len("models:/") :]
            client = MlflowClient()
            if "@" in name_part:
                name, alias = name_part.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            else:
                name, _, ver = name_part.partition("/")
                mv = client.get_model_version(name, ver)
            label = f"{mv.name} v{mv.version}"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
            found = sorted(local.rglob("*.joblib"))
            if not found:
                raise ModelUnreadable(f"MLflow model {uri} holds no baoxue bundle (*.joblib artifact)")
            bundle = load_bundle(found[0])
    except (MlflowException, OSError) as exc:
        first = str(getattr(exc, "message", exc)).strip().splitlines()
        raise ModelUnreadable(
            f"model {uri} (MLflow store {mlflow.get_tracking_uri()}): {first[0] if first else type(exc).__name__}"
        ) from exc
    return ScoringModel(bundle, uri, f"{label} ({bundle.code_version})")


def _missing_store(store: str) -> str | None:
    """The file or folder of a local MLflow store that does not exist (None: it does, or the
    store is a server).

    >>> _missing_store("sqlite:////nowhere/mlruns.db"), _missing_store("http://mlflow:5000")
    ('/nowhere/mlruns.db', None)
    """
    from urllib.parse import unquote, urlparse

    if store.startswith("sqlite:///"):
        path = store[len("sqlite:///") :].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
    elif store.startswith("file:"):
        path = unquote(urlparse(store).path)
    elif "://" in store:
        return None
    else:
        path = store
    return None if Path(path).exists() else path


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of ``range(n)`` of at most ``size`` rows each (one at least), in order: how
    scoring and contributions walk a large frame."""
    for start in range(0, n, max(1, size)):
        yield slice(start, min(n, start + size))


def design_matrix(bundle: ModelBundle, features: pd.DataFrame) -> np.ndarray:
    """The model's input as one float64 array: numeric columns as they are (NaN = missing),
    categorical ones as their code in the training categories (NaN for unseen or missing),
    which is what LightGBM makes of a pandas frame itself, without its copies.

    Call :meth:`ModelBundle.check` first (``score`` and ``contributions`` do).
    """
    out = np.empty((len(features), len(bundle.features)), dtype="float64")
    for j, c in enumerate(bundle.features):
        col = features[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = bundle.categories.get(c)
            if cats is not None and list(col.cat.categories) != list(cats):
                col = col.cat.set_categories(cats)
            codes = col.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        elif col.dtype == bool:
            out[:, j] = col.to_numpy(dtype="float64")
        else:
            out[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    return out


def raw_margin(bundle: ModelBundle, features: pd.DataFrame, *, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """LightGBM's raw score (log-odds before calibration) of every row, chunk by chunk."""
    bundle.check(features)
    booster = bundle.model.booster_
    out = np.empty(len(features), dtype="float64")
    for part in chunks(len(features), chunk_size):
        out[part] = booster.predict(design_matrix(bundle, features.iloc[part]), raw_score=True)
    return out


def _calibrate(bundle: ModelBundle, values: np.ndarray, prob: np.ndarray) -> np.ndarray | None:
    """Apply the bundle's calibration map to ``values`` (the margins or ``prob``, the model's
    own probabilities, which order the rows inside isotonic steps); None if its layout is
    unknown."""
    cal = bundle.calibrator
    pieces = getattr(cal, "calibrated_classifiers_", None)
    if not pieces:
        return None
    out = np.zeros(len(values), dtype="float64")
    for piece in pieces:
        calibrators = getattr(piece, "calibrators", None)
        if calibrators is None or len(calibrators) != 1:
            return None
        out += np.asarray(calibrators[0].predict(values), dtype="float64")
    out = np.clip(out / len(pieces), 0.0, 1.0)
    tie = float(getattr(cal, "tie_break", 0.0))  # training.calibrate.OrderedCalibration
    return (1 - tie) * out + tie * prob if tie else out


def score(
    bundle: ModelBundle | ScoringModel, features: pd.DataFrame, *, chunk_size: int = DEFAULT_CHUNK
) -> pd.Series:
    """Calibrated probability of dropping out within the horizon, one per row of ``features``.

    Parameters
    ----------
    bundle : ModelBundle or ScoringModel
    features : DataFrame
        The features frame (:func:`features.build.build_features`); extra columns are ignored.
    chunk_size : int
        Rows per chunk.

    Returns
    -------
    Series
        Named ``probability``, indexed like ``features``.
    """
    if isinstance(bundle, ScoringModel):
        bundle = bundle.bundle
    if len(features) == 0:
        return pd.Series(np.array([], dtype="float64"), index=features.index, name="probability")
    margin = raw_margin(bundle, features, chunk_size=chunk_size)
    p = None
    # probe rows spread over the frame, with the lowest and highest margins
    probe = np.unique(
        np.r_[np.linspace(0, len(features) - 1, 256).astype("int64"), margin.argmin(), margin.argmax()]
    )
    reference = bundle.predict_proba(features.iloc[probe]).to_numpy()
    prob = expit(margin)
    for values in (margin, prob):
        candidate = _calibrate(bundle, values[probe], prob[probe])
        if candidate is not None and np.allclose(candidate, reference, rtol=0, atol=1e-9):
            p = _calibrate(bundle, values, prob)
            break
    if p is None:  # an unfamiliar calibrator: let it do the whole thing
        p = np.concatenate(
            [
                bundle.predict_proba(features.iloc[part]).to_numpy()
                for part in chunks(len(features), chunk_size)
            ]
        )
    return pd.Series(p, index=features.index, name="probability")
