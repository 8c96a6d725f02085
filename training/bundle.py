"""The model bundle: everything needed to score, in one joblib file, loadable without MLflow.

A :class:`ModelBundle` holds the fitted LightGBM model, its calibrator, the feature list
with dtypes and categories, the training config, the data window (fit / validation /
test as-of dates) and the code version. :meth:`ModelBundle.predict_proba` checks a
features frame against the bundle before scoring and names the first missing or
mistyped column.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from features.config import TrainConfig
from features.errors import DataContractError, ModelUnreadable
from training.fit import FittedModel, prepare_features
from training.reference import feature_reference
from training.splits import TemporalDesign

__all__ = [
    "BUNDLE_FORMAT",
    "ModelBundle",
    "bundle_from_fit",
    "save_bundle",
    "load_bundle",
    "code_version",
    "feature_schema",
]

#: bumped when the bundle layout changes; :func:`load_bundle` refuses other formats
BUNDLE_FORMAT = 1


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout.

    >>> code_version().startswith("baoxue ")
    True
    """
    try:
        version = metadata.version("baoxue")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"baoxue {version}" + (f" ({sha})" if sha else "")


def feature_schema(X: pd.DataFrame) -> tuple[dict[str, str], dict[str, list]]:
    """Dtype name of every column, and the categories of the categorical ones."""
    dtypes = {c: str(X[c].dtype) for c in X.columns}
    cats = {c: X[c].cat.categories.tolist() for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
    return dtypes, cats


@dataclass(frozen=True)
class ModelBundle:
    """A fitted, calibrated risk model and what it was fitted on.

    Attributes
    ----------
    model : LGBMClassifier
        The fitted LightGBM model (``risk/`` explains it with TreeSHAP).
    calibrator : CalibratedClassifierCV
        ``model`` frozen and calibrated on a later period.
    features : tuple of str
        Feature columns, in model order.
    dtypes : dict
        Dtype name per feature (``category`` or ``float64`` after :func:`prepare_features`).
    categories : dict
        Categories per categorical feature.
    config : dict
        The ``TrainConfig`` as a dict.
    window : dict
        First..last as-of date of the fit, validation and test periods.
    code_version : str
        :func:`code_version` at training time.
    metrics : dict
        Headline test metrics, when evaluated.
    sampling : dict
        How the fit rows were sampled (:class:`training.sample.SampleRecord`: share, seed,
        rows and rows kept), or how the model was fitted on a cluster
        (:func:`training.cluster.fit_model_dask`); empty when LightGBM saw every row.
    reference : dict
        Compact sketch of every feature on the fit rows (:func:`training.reference.feature_reference`)
        for the monitor's drift check; empty in bundles written before it was kept.
    thresholds : dict
        The tiers' red / yellow thresholds and the triggers' measured lifts, chosen on the
        evaluation year (:func:`training.thresholds.choose_thresholds`,
        :meth:`features.tiering.Thresholds.as_dict`); empty when the bundle was not evaluated.
    """

    model: Any
    calibrator: Any
    features: tuple[str, ...]
    dtypes: dict[str, str]
    categories: dict[str, list]
    config: dict[str, Any]
    window: dict[str, str]
    code_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    format: int = BUNDLE_FORMAT
    sampling: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)

    def check(self, frame: pd.DataFrame) -> None:
        """Raise :class:`DataContractError` naming the first missing or mistyped feature column."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataContractError(
                f"features frame: column {missing[0]!r} is missing{more}; the model bundle "
                f"({self.code_version}) needs {len(self.features)} feature columns. Build the features "
                "with the same baoxue version and config as the model"
            )
        for c in self.features:
            want_cat = self.dtypes[c] == "category"
            is_cat = isinstance(frame[c].dtype, pd.CategoricalDtype)
            numeric = pd.api.types.is_numeric_dtype(frame[c].dtype) or pd.api.types.is_bool_dtype(
                frame[c].dtype
            )
            if want_cat and not is_cat:
                raise DataContractError(
                    f"features frame: column {c!r} must be a pandas category (as in training), got {frame[c].dtype}"
                )
            if not want_cat and not numeric:
                raise DataContractError(f"features frame: column {c!r} must be numeric, got {frame[c].dtype}")

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.check(frame)
        X = prepare_features(frame, self.features)
        for c, cats in self.categories.items():
            X[c] = X[c].cat.set_categories(cats)  # unseen codes become missing, as LightGBM does
        return X

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series:
        """Calibrated probability of dropping out within the horizon, one per row.

        Parameters
        ----------
        frame : DataFrame
            Features (e.g. ``features.build.build_features``); extra columns are ignored.

        Returns
        -------
        Series
            Named ``risk``, indexed like ``frame``.
        """
        if len(frame) == 0:
            return pd.Series(np.array([], dtype="float64"), index=frame.index, name="risk")
        p = self.calibrator.predict_proba(self._matrix(frame))[:, 1]
        return pd.Series(p, index=frame.index, name="risk")

    def raw_score(self, frame: pd.DataFrame) -> pd.Series:
        """The uncalibrated LightGBM probability (what SHAP values explain)."""
        p = self.model.predict_proba(self._matrix(frame))[:, 1]
        return pd.Series(p, index=frame.index, name="raw_score")


def bundle_from_fit(
    fitted: FittedModel, data: pd.DataFrame, config: TrainConfig, design: TemporalDesign
) -> ModelBundle:
    """The bundle of a fitted model: its feature schema read from ``data``, the config, the
    design's window, the code version, how the fit rows were sampled and the fit rows'
    feature reference for drift monitoring (:func:`training.reference.feature_reference`;
    no metrics yet).

    ``fitted`` comes from :func:`training.fit.fit_model` (or
    :func:`training.cluster.fit_model_dask`) on ``data`` with ``design`` and ``config``.
    """
    dtypes, cats = feature_schema(prepare_features(data, fitted.features))
    fit_rows = data.loc[design.part(data["as_of"], "fit")]
    reference = feature_reference(prepare_features(fit_rows, fitted.features), as_of=fit_rows["as_of"])
    return ModelBundle(
        model=fitted.estimator,
        calibrator=fitted.calibrator,
        features=fitted.features,
        dtypes=dtypes,
        categories=cats,
        config=asdict(config),
        window=design.window(),
        code_version=code_version(),
        sampling=dict(fitted.sampling),
        reference=reference,
    )


def save_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    """Write ``bundle`` with joblib (compressed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, path, compress=3)
    return path


def load_bundle(path: str | Path) -> ModelBundle:
    """Read a bundle written by :func:`save_bundle`; no MLflow needed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model bundle {path} does not exist (train one with `baoxue train`)")
    try:
        bundle = joblib.load(path)
    except (EOFError, MemoryError) as exc:  # click would turn an EOFError into a bare "Aborted!"
        raise ModelUnreadable(path, f"the file is truncated or damaged: {type(exc).__name__}") from None
    except Exception as exc:  # unpickling a damaged or foreign file raises nearly anything
        raise ModelUnreadable(
            path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if not isinstance(bundle, ModelBundle):
        raise DataContractError(f"{path} holds a {type(bundle).__name__}, not a baoxue ModelBundle")
    if bundle.format != BUNDLE_FORMAT:
        raise DataContractError(
            f"{path} is bundle format {bundle.format}; this baoxue reads format {BUNDLE_FORMAT}: retrain"
        )
    if "sampling" not in vars(bundle):  # written before sampling was recorded: every row was used
        object.__setattr__(bundle, "sampling", {})
    if "reference" not in vars(bundle):  # written before the drift reference was kept
        object.__setattr__(bundle, "reference", {})
    if "thresholds" not in vars(bundle):  # written before the tiers' thresholds were kept
        object.__setattr__(bundle, "thresholds", {})
    return bundle
