"""``baoxue monitor``: read the ledger and the county data back, and judge the model in service.

Wiring only (:mod:`risk.monitoring` holds the logic): the logged runs and their snapshots
(:func:`jobs.storage.read_runs`, :func:`jobs.storage.read_snapshot`), the county's tables
(:func:`features.load.load_tables`), the model in service (its label definition, training
reference, evaluated precision at capacity and training window) and tonight's features for
the drift check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from features.config import BaoxueConfig, TrainConfig
from jobs.storage import connect, read_runs, read_snapshot
from risk.monitoring import MonitorResult, Thresholds, monitor

__all__ = ["run_monitor", "read_logged_snapshots", "MONITOR_COLUMNS", "WATCHED_COLUMNS"]

log = logging.getLogger(__name__)

#: audit groups (training.fairness.audit_groups) reported as watched groups
WATCHED_COLUMNS = ("left_behind", "migrant", "hardship")


#: the snapshot columns the monitor reads (a year of nights at 50k students is 10M rows: the
#: reasons, evidence and measures text stay in the database)
MONITOR_COLUMNS = ("student_id", "as_of", "school_id", "class_id", "grade", "probability", "rank_county",
                   "tier", "listed", "selected")  # fmt: skip


def read_logged_snapshots(
    engine, *, until: dt.date | None = None, columns: tuple[str, ...] | None = MONITOR_COLUMNS
) -> pd.DataFrame:
    """Every logged night's snapshot stacked (the latest run of each date), oldest first;
    ``columns`` only (None: every column, one run at a time)."""
    runs = read_runs(engine)
    if until is not None:
        runs = runs.loc[runs["as_of"] <= pd.Timestamp(until)]
    runs = runs.sort_values(["as_of", "finished_at"]).drop_duplicates("as_of", keep="last")
    if columns is None:
        parts = [read_snapshot(engine, run_id=r) for r in runs["run_id"]]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else read_snapshot(engine, run_id="")
    import sqlalchemy as sa

    from jobs.storage import RiskSnapshot

    t = RiskSnapshot.__table__
    ids = runs["run_id"].tolist()
    frames = []
    with engine.connect() as conn:
        for i in range(0, len(ids), 50):  # bounded IN lists
            stmt = sa.select(*(t.c[c] for c in columns)).where(t.c.run_id.in_(ids[i : i + 50]))
            frames.append(pd.read_sql(stmt, conn))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
    from risk.snapshot import TIERS

    kinds = {"student_id": "str", "school_id": "str", "class_id": "str", "grade": "int64", "probability": "float64",
             "rank_county": "int64", "listed": "bool", "selected": "bool"}  # fmt: skip
    out = frame.astype({c: k for c, k in kinds.items() if c in frame.columns})
    if "tier" in out.columns:
        out["tier"] = pd.Categorical(out["tier"].astype("str"), categories=list(TIERS))
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[s]")
    order = ["as_of", "rank_county"] if "rank_county" in out.columns else ["as_of"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def _train_config(bundle, fallback: TrainConfig) -> TrainConfig:
    if bundle is None or not bundle.config:
        return fallback
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.config.items() if k in names}
    try:
        return TrainConfig(**kw)
    except (TypeError, ValueError):
        return fallback


def _window_end(bundle, part: str) -> dt.date | None:
    text = (bundle.window or {}).get(part, "") if bundle is not None else ""
    return pd.Timestamp(text.split("..")[-1]).date() if text else None


def _same_month(bundle, night: dt.date) -> dt.date | None:
    text = (bundle.window or {}).get("fit", "")
    if ".." not in text:
        return None
    lo, hi = (pd.Timestamp(x) for x in text.split(".."))
    days = [d for d in pd.date_range(lo, hi, freq="MS") if d.month == night.month]
    return days[-1].date() if days else None


def run_monitor(
    db_url: str,
    data: str | Path,
    *,
    as_of: dt.date | None = None,
    config: BaoxueConfig | None = None,
    model=None,
    thresholds: Thresholds | None = None,
) -> MonitorResult:
    """Monitor the model in service on ``as_of`` (what ``baoxue monitor`` calls).

    Parameters
    ----------
    db_url : str
        The ledger (``[job] db_url``).
    data : str or Path
        The county's data folder or URL (the same the nightly job reads).
    as_of : date, optional
        The monitor's date; default the last day the data describes.
    config : BaoxueConfig, optional
        Default ``BaoxueConfig()``.
    model : str, Path or ModelBundle, optional
        The model in service (default ``[job] model_uri``); without one that loads, the
        label definition is ``[train]`` and the drift check is left out.
    thresholds : Thresholds, optional
        The monitor's bounds (:class:`risk.monitoring.status.Thresholds`).
    """
    from features.build import build_features
    from features.load import load_tables
    from training.fairness import audit_groups
    from training.fit import prepare_features
    from training.labels import observable_as_of_dates, observed_until

    cfg = config or BaoxueConfig()
    tables = load_tables(cfg.data, data).tables
    as_of = as_of or observed_until(tables).date()
    engine = connect(db_url)
    try:
        snapshots = read_logged_snapshots(engine, until=as_of)
    finally:
        engine.dispose()

    bundle = None
    try:
        from risk.score import load_model

        bundle = load_model(model if model is not None else cfg.job.model_uri).bundle
    except (FileNotFoundError, OSError, ValueError) as exc:
        log.warning("model not loaded (%s): drift check left out", exc)
    tcfg = _train_config(bundle, cfg.train)

    nights = sorted(pd.to_datetime(snapshots["as_of"]).dt.normalize().unique())
    reference = current = None
    source = "bundle"
    if bundle is not None and nights:
        last_night = pd.Timestamp(nights[-1]).date()
        current = prepare_features(build_features(tables, last_night, cfg), bundle.features)
        reference = bundle.reference or None
        fit_end = _window_end(bundle, "fit")
        if not reference and fit_end is not None:
            from training.reference import feature_reference

            # the latest fit date in the night's month (the term's rhythm is not drift)
            fit_end = _same_month(bundle, last_night) or fit_end
            ref_frame = prepare_features(build_features(tables, fit_end, cfg), bundle.features)
            reference = feature_reference(ref_frame)
            source = f"features on {fit_end} (the bundle holds no reference)"
    until = min(as_of, observed_until(tables).date())
    judged = observable_as_of_dates(nights, tcfg, until=until)
    groups = None
    if judged:
        g = audit_groups(tables, judged)
        groups = g[["student_id", "as_of", *[c for c in WATCHED_COLUMNS if c in g.columns]]]
    cap = cfg.risk.capacity_per_school
    evaluated = (bundle.metrics or {}).get(f"precision_at_cap{cap}") if bundle is not None else None
    last_trained = (
        (_window_end(bundle, "valid") or _window_end(bundle, "fit")) if bundle is not None else None
    )
    return monitor(
        snapshots,
        tables,
        as_of=as_of,
        train_config=tcfg,
        reference=reference,
        current=current,
        groups=groups,
        evaluated_precision=evaluated,
        last_trained_as_of=last_trained,
        thresholds=thresholds,
        reference_source=source,
    )
