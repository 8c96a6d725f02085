"""`make demo`: the main job on the built-in simulated county.

Simulates a county, loads and validates it the way a real county's export is loaded
(rejects file included), evaluates the model recipe against the baselines and the oracle on
the last school year, trains and calibrates the model on every labelled month, logs it to
MLflow (alias ``champion``), and writes the feature matrix of the latest month. Wiring only:
each step is a library call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from features.build import build_features
from features.config import BaoxueConfig
from features.load import load_tables, summarize, write_rejects
from features.simulate import read_truth, simulate_county, write_county

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What the demo produced and where."""

    out: Path
    data_dir: Path
    rows_written: dict[str, int]
    summary: pd.DataFrame
    rejects_file: Path
    meta: dict
    artefacts: dict[str, Path] = field(default_factory=dict)
    headline: pd.DataFrame | None = None
    as_of: pd.Timestamp | None = None


def run_demo(
    out: str | Path,
    *,
    students: int = 3000,
    years: int = 3,
    seed: int = 0,
    preset: str = "current",
    cfg: BaoxueConfig | None = None,
    train: bool = True,
) -> DemoResult:
    """Simulate a county into ``out/county``, load it back through the data contract, and
    (with ``train``) evaluate, train, track and build the latest month's features."""
    cfg = cfg or BaoxueConfig()
    out = Path(out)
    data_dir = out / "county"
    county = simulate_county(students=students, years=years, seed=seed, preset=preset, attendance=False)
    rows = write_county(county, data_dir)
    log.info("simulated %d students into %s", county.meta["students_total"], data_dir)
    result = load_tables(cfg.data, data_dir)
    rejects_file = write_rejects(result.rejects, out / cfg.data.rejects_file)
    demo = DemoResult(
        out=out,
        data_dir=data_dir,
        rows_written=rows,
        summary=summarize(result),
        rejects_file=rejects_file,
        meta=county.meta,
    )
    if not train:
        return demo
    from training.bundle import save_bundle
    from training.evaluate import train_tables, write_report
    from training.tracking import log_run

    tracking = f"sqlite:///{(out / 'mlruns.db').resolve()}"
    cfg = replace(cfg, train=replace(cfg.train, tracking_uri=tracking))
    truth = read_truth(data_dir)
    bundle, report = train_tables(result.tables, cfg, truth=truth, evaluate_first=True)
    demo.artefacts["model bundle"] = save_bundle(bundle, out / "model" / "bundle.joblib")
    if report is not None:
        demo.artefacts["evaluation report"] = write_report(report, out / "evaluation") / "report.md"
        demo.headline = report.headline()
    demo.artefacts[f"MLflow run {log_run(bundle, cfg.train, report=report)}"] = out / "mlruns.db"
    last = result.tables.attendance["date"].max()
    demo.as_of = pd.Timestamp(last.year, last.month, 1)
    frame = build_features(result.tables, demo.as_of.date(), cfg).reset_index()
    path = out / f"features_{demo.as_of.date()}.parquet"
    frame.to_parquet(path, index=False)
    demo.artefacts[f"features on {demo.as_of.date()} ({len(frame):,} students)"] = path
    return demo
