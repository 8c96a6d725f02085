"""Watching the model in service: how right past lists were, calibration, drift, coverage.

:func:`monitor` reads frames only (the logged snapshots, the county's tables, the bundle's
training reference) and returns one :class:`MonitorResult`; ``jobs.monitor`` reads the
ledger and the data and calls it. The parts:

- :mod:`~risk.monitoring.quality`: realised precision, recall and lift of every judged
  night's list per tier, beside the expected figure; the missed list; lead time; per school,
  grade band and watched group.
- :mod:`~risk.monitoring.calibration`: reliability and ECE on realised outcomes per month.
- :mod:`~risk.monitoring.drift`: each feature against the training reference.
- :mod:`~risk.monitoring.coverage`: classes that stopped sending data, stale tables.
- :mod:`~risk.monitoring.status`: the retraining rule.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import TrainConfig
from features.contract import Tables
from risk.monitoring.calibration import CalibrationDrift, calibration_drift
from risk.monitoring.coverage import Coverage, data_coverage, gaps_before
from risk.monitoring.drift import InputDrift, input_drift
from risk.monitoring.quality import INTERVENTION_NOTE, ListQuality, _join, _Keys, list_quality
from risk.monitoring.status import StatusDecision, Thresholds, decide_status
from training.labels import label_lag_days, label_panel, observable_as_of_dates, observed_until

__all__ = ["MonitorResult", "Thresholds", "monitor"]


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, pd.DataFrame):
        return [_jsonable(r) for r in v.to_dict("records")]
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(v) else v.strftime("%Y-%m-%d")
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    return v


@dataclass(frozen=True)
class MonitorResult:
    """Everything the monitor found on ``as_of``.

    ``quality`` is None when no logged night's outcome window has closed yet; ``drift`` is
    None without a reference or tonight's features.
    """

    as_of: dt.date
    until: dt.date
    nights: list[pd.Timestamp]
    judged: list[pd.Timestamp]
    quality: ListQuality | None
    calibration: CalibrationDrift | None
    drift: InputDrift | None
    coverage: Coverage
    decision: StatusDecision
    thresholds: Thresholds
    lag_days: int
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.decision.status

    @property
    def reasons(self) -> list[str]:
        return self.decision.reasons

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready dict: ``lists``, ``missed``, ``calibration``, ``drift``, ``coverage``,
        ``status``, ``reasons`` and the rest."""
        q, c, d, cov = self.quality, self.calibration, self.drift, self.coverage
        out = {
            "as_of": self.as_of,
            "until": self.until,
            "lag_days": self.lag_days,
            "nights": self.nights,
            "judged_nights": self.judged,
            "status": self.status,
            "reasons": self.reasons,
            "lists": q.lists if q else [],
            "summary": q.summary if q else [],
            "by_group": q.by_group if q else [],
            "missed": q.missed if q else [],
            "lead": q.lead_summary if q else {},
            "calibration": {"by_month": c.by_month, "reliability": c.reliability, "max_ece": c.max_ece} if c else {},
            "drift": {"share": d.share, "dataset_drift": d.dataset_drift, "threshold": d.threshold,
                      "drift_share": d.drift_share, "source": d.source, "features": d.table} if d else {},
            "coverage": {"stopped": cov.stopped, "classes": cov.classes, "schools": cov.schools, "tables": cov.tables,
                         "stopped_statuses": cov.stopped_statuses, "statuses": cov.statuses},
            "notes": self.notes,
        }  # fmt: skip
        return _jsonable(out)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)


def _day(d) -> dt.date:
    return pd.Timestamp(d).date()


def monitor(
    snapshots: pd.DataFrame,
    tables: Tables,
    *,
    as_of: dt.date,
    train_config: TrainConfig | None = None,
    reference: dict | None = None,
    current: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    evaluated_precision: float | None = None,
    last_trained_as_of: dt.date | None = None,
    thresholds: Thresholds | None = None,
    reference_source: str = "bundle",
    intervention_effect: float | None = None,
    current_as_of: dt.date | None = None,
    labels: pd.DataFrame | None = None,
    nights: list | None = None,
) -> MonitorResult:
    """Judge the logged lists, calibration, drift and coverage on ``as_of``.

    Parameters
    ----------
    snapshots : DataFrame
        The logged nights' snapshots stacked (``jobs.storage.read_snapshot`` per run).
    tables : Tables
        The county's tables up to now: labels (the training definition), coverage and the
        missed children's data gaps are read from them.
    as_of : date
        The monitor's date: outcome windows must close by ``min(as_of, last observed day)``.
    train_config : TrainConfig
        The label definition (the bundle's ``config``); default ``TrainConfig()``.
    reference : dict, optional
        The training reference (``ModelBundle.reference``); with ``current`` (tonight's
        model matrix) the drift check runs.
    groups : DataFrame, optional
        Watched-group membership per (student, night) (:func:`list_quality`).
    evaluated_precision : float, optional
        The evaluation's precision at capacity (``ModelBundle.metrics``).
    last_trained_as_of : date, optional
        The last as-of date the model learnt from (the new-school-year rule).
    current_as_of : date, optional
        The date ``current`` describes (its month picks the reference's month); default the
        last logged night.
    intervention_effect : float, optional
        What the evidence estimators attribute to the supports (a dropout-rate difference),
        quoted in the note beside the expected figures.
    labels : DataFrame, optional
        The judged nights' labels when the caller has them
        (``training.labels.label_panel(tables, judged, train_config, until=until)``, e.g.
        from :func:`risk.monitoring.panel.judged_panel`); default computed here.
    nights : list of Timestamp, optional
        The logged nights, when ``snapshots`` holds only some of them (the judged ones:
        nothing else is read from the rows); default the nights in ``snapshots``.
    """
    cfg = train_config or TrainConfig()
    t = thresholds or Thresholds(max_ece=0.05)
    as_of = _day(as_of)
    until = min(as_of, _day(observed_until(tables)))
    snaps = snapshots.assign(as_of=pd.to_datetime(snapshots["as_of"]).dt.normalize())
    snaps = snaps.loc[snaps["as_of"] <= pd.Timestamp(as_of)]
    if nights is None:
        nights = sorted(pd.Timestamp(d) for d in snaps["as_of"].unique())
    else:
        nights = sorted(
            {pd.Timestamp(d).normalize() for d in nights if pd.Timestamp(d) <= pd.Timestamp(as_of)}
        )
    judged = observable_as_of_dates(nights, cfg, until=until)
    notes = [INTERVENTION_NOTE]
    if intervention_effect is not None and not math.isnan(intervention_effect):
        notes.append(
            f"证据估计的帮扶效果 (effect the evidence estimators attribute to supports): "
            f"{intervention_effect:+.3f} 辍学率 (dropout rate, with minus without support)"
        )
    quality = calibration = None
    if judged:
        if labels is None:
            labels = label_panel(tables, judged, cfg, until=until)
        judged_snaps = snaps.loc[snaps["as_of"].isin(judged)]
        quality = list_quality(judged_snaps, labels, groups=groups, min_cell=t.min_cell)
        if len(quality.missed):
            gaps = gaps_before(tables, quality.missed)
            missed = quality.missed.drop(columns=[c for c in gaps.columns if c in quality.missed.columns
                                                  and c not in ("student_id", "event_date")])  # fmt: skip
            missed = missed.merge(gaps, on=["student_id", "event_date"], how="left")
            quality = ListQuality(**{**vars(quality), "missed": missed})
        # the scored rows with their labels, in the snapshots' order (an inner join on child and
        # night by integer keys: risk.monitoring.quality)
        keys = _Keys(judged_snaps["student_id"], labels["student_id"])
        i, j = _join(keys.of(0, judged_snaps["as_of"]), keys.of(1, labels["as_of"]))
        merged = pd.DataFrame(
            {
                "student_id": pd.Categorical.from_codes(
                    keys.codes[0][i], categories=pd.Index(keys.ids, dtype="str")
                ),
                "as_of": judged_snaps["as_of"].astype("datetime64[s]").to_numpy()[i],
                "probability": judged_snaps["probability"].to_numpy()[i],
                "label": labels["label"].to_numpy()[j],
            }
        )
        calibration = calibration_drift(
            merged, n_bins=t.n_bins, max_ece=t.max_ece, oe_bounds=(t.oe_min, t.oe_max)
        )
    else:
        notes.append(
            f"没有结果窗口已关闭的名单 (no logged night's outcome window has closed: it needs {label_lag_days(cfg)} "
            f"days after the night, data end {until})"
        )
    drift = None
    if reference and reference.get("features") and current is not None and len(current):
        when = pd.Timestamp(current_as_of) if current_as_of is not None else (nights[-1] if nights else as_of)
        drift = input_drift(
            reference, current, month=f"{when:%m}", threshold=t.drift_threshold, drift_share=t.drift_share,
            source=reference_source,
        )  # fmt: skip
    coverage = data_coverage(tables, until)
    cap_high = below = None
    if quality is not None:
        s = quality.summary.set_index("tier")
        if s.loc["capacity", "n"]:
            cap_high = float(s.loc["capacity", "precision_high"])
        below = [
            r for r in s.index if s.loc[r, "n"] and s.loc[r, "precision_high"] < s.loc[r, "expected_low"]
        ]
    months = calibration.by_month if calibration is not None else None
    latest = months.loc[months["month"] != "all"].tail(1) if months is not None else None
    decision = decide_status(
        as_of=as_of,
        thresholds=t,
        drift_share=drift.share if drift is not None else None,
        overall_ece=calibration.overall_ece if calibration is not None else None,
        latest_month_ece=float(latest["ece"].iloc[0]) if latest is not None and len(latest) else None,
        any_month_out=bool(months is not None and (~months["within_bounds"]).any()),
        oe=tuple(
            float(v)
            for v in months.loc[months["month"] == "all", ["observed_to_expected", "oe_low", "oe_high"]].iloc[
                0
            ]
        )
        if months is not None and (months["month"] == "all").any()
        else None,
        capacity_high=cap_high,
        evaluated_precision=evaluated_precision,
        below_expected=below,
        stopped_classes=coverage.stopped,
        stopped_statuses=coverage.stopped_statuses,
        stale_tables=coverage.tables.loc[coverage.tables["stale"], "table"].tolist(),
        last_trained_as_of=last_trained_as_of,
    )
    return MonitorResult(
        as_of=as_of, until=until, nights=nights, judged=judged, quality=quality, calibration=calibration,
        drift=drift, coverage=coverage, decision=decision, thresholds=t, lag_days=label_lag_days(cfg), notes=notes,
    )  # fmt: skip
