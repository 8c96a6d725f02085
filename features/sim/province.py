"""A simulated province: counties that differ in size, seed and calibration, written as
Hive-style partitions (``county=<code>/<table>.parquet``, see :mod:`features.province`).

County-level variation (an assumption, not calibrated to a real province): sizes follow a
log-normal spread around the mean (sd 0.4 on the log scale, at least 50 students); poverty
varies from half to 1.8 times the preset's share, left-behind shares from 0.6 to 1.5 times,
and the annual dropout targets from 0.7 to 1.5 times. Every county has its own seed, its own
county code (``99PPCC``: province 99, not a real one) and ids prefixed with that code.

``PROVINCE/province.json`` lists the counties with their sizes, seeds and factors.

Examples
--------
>>> plans = plan_province(3, students=1500, seed=1)
>>> [p.code for p in plans]
['990101', '990102', '990103']
>>> len({p.seed for p in plans}), sum(p.students for p in plans) > 1000
(3, True)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from features.province import PARTITION_KEY
from features.sim.county import simulate_county, write_county
from features.sim.presets import Preset, get_preset

__all__ = ["CountyPlan", "plan_province", "simulate_province", "county_code"]

#: counties per prefecture in the generated codes (99 PP CC)
_PER_PREFECTURE = 20


def county_code(k: int) -> str:
    """The code of the ``k``-th county (0-based): ``99`` + prefecture + county, 6 digits.

    >>> county_code(0), county_code(20)
    ('990101', '990201')
    """
    return f"99{k // _PER_PREFECTURE + 1:02d}{k % _PER_PREFECTURE + 1:02d}"


@dataclass(frozen=True)
class CountyPlan:
    """One simulated county of a province."""

    code: str
    students: int
    seed: int
    poverty_factor: float
    left_behind_factor: float
    dropout_factor: float

    def preset(self, base: Preset) -> Preset:
        """``base`` with this county's poverty, left-behind and dropout levels."""
        return replace(
            base,
            poverty=min(0.6, base.poverty * self.poverty_factor),
            left_behind_both=base.left_behind_both * self.left_behind_factor,
            left_behind_one=base.left_behind_one * self.left_behind_factor,
            annual_dropout=tuple(min(0.5, r * self.dropout_factor) for r in base.annual_dropout),
        )


def plan_province(counties: int, *, students: int, seed: int = 0) -> list[CountyPlan]:
    """Sizes, seeds and calibration factors of ``counties`` counties of about ``students`` in all."""
    if counties < 1:
        raise ValueError(f"counties must be >= 1, got {counties}")
    if students < 50 * counties:
        raise ValueError(f"students must be >= 50 per county ({50 * counties}), got {students}")
    rng = np.random.default_rng([seed, counties, 7])
    weights = rng.lognormal(0.0, 0.4, counties)
    sizes = np.maximum(50, np.round(weights / weights.sum() * students)).astype(int)
    return [
        CountyPlan(
            code=county_code(k),
            students=int(sizes[k]),
            seed=seed * 1000 + k + 1,
            poverty_factor=round(float(rng.uniform(0.5, 1.8)), 3),
            left_behind_factor=round(float(rng.uniform(0.6, 1.5)), 3),
            dropout_factor=round(float(rng.uniform(0.7, 1.5)), 3),
        )
        for k in range(counties)
    ]


def simulate_province(
    out: str | Path,
    *,
    counties: int,
    students: int,
    years: int = 3,
    seed: int = 0,
    preset: str = "current",
    start_year: int | None = None,
) -> list[dict]:
    """Simulate and write a province, one county at a time (memory: one county).

    Returns each county's simulator metadata (``meta.json``) plus its ``code``.
    """
    out = Path(out)
    base = get_preset(preset)
    plans = plan_province(counties, students=students, seed=seed)
    metas = []
    for plan in plans:
        county = simulate_county(
            students=plan.students,
            years=years,
            seed=plan.seed,
            preset=plan.preset(base),
            start_year=start_year,
            attendance=False,
            county_code=plan.code,
            id_prefix=plan.code,
        )
        write_county(county, out / f"{PARTITION_KEY}={plan.code}")
        metas.append({"code": plan.code, **county.meta})
    (out / "province.json").write_text(
        json.dumps(
            {"preset": preset, "years": years, "seed": seed, "counties": [asdict(p) for p in plans]},
            indent=2,
        ),
        encoding="utf-8",
    )
    return metas
