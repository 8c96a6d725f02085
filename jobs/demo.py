"""`make demo`: the main job on the built-in simulated county.

Simulates a county, loads and validates it the way a real county's export is loaded
(rejects file included), and runs every later stage that exists. Wiring only: each step
is a library call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.config import BaoxueConfig
from features.load import load_tables, summarize, write_rejects
from features.simulate import simulate_county, write_county

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


def run_demo(
    out: str | Path,
    *,
    students: int = 3000,
    years: int = 3,
    seed: int = 0,
    preset: str = "current",
    cfg: BaoxueConfig | None = None,
) -> DemoResult:
    """Simulate a county into ``out/county`` and load it back through the data contract."""
    cfg = cfg or BaoxueConfig()
    out = Path(out)
    data_dir = out / "county"
    county = simulate_county(students=students, years=years, seed=seed, preset=preset, attendance=False)
    rows = write_county(county, data_dir)
    log.info("simulated %d students into %s", county.meta["students_total"], data_dir)
    result = load_tables(cfg.data, data_dir)
    rejects_file = write_rejects(result.rejects, out / cfg.data.rejects_file)
    return DemoResult(
        out=out,
        data_dir=data_dir,
        rows_written=rows,
        summary=summarize(result),
        rejects_file=rejects_file,
        meta=county.meta,
    )
