"""The county's townships, villages and schools: who goes to which school.

Each township has villages, each village a primary school (every other one also a teaching
point for grades 1-3); each township has a junior school, or a nine-year school in every
third township. No random draws: the layout follows from the county's size.

>>> from features.sim.presets import get_preset
>>> geo = geography(900, get_preset("current"))
>>> geo.schools["school_type"].value_counts().to_dict()
{'primary': 5, 'teaching_point': 2, 'junior': 1}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.sim.names import school_name, township_name
from features.sim.presets import Preset

__all__ = ["COUNTY_CODE", "Geo", "geography"]

COUNTY_CODE = "990101"  # not a real county


@dataclass
class Geo:
    """The schools table and, per township and village, which school a student attends."""

    schools: pd.DataFrame  # school_id, township, school_type, ...
    primary_of: np.ndarray  # [township, village] -> school index
    tp_of: np.ndarray  # [township, village] -> teaching point index or -1
    junior_of: np.ndarray  # [township] -> school index
    villages: int


def geography(n_students: int, p: Preset, county_code: str = COUNTY_CODE, id_prefix: str = "") -> Geo:
    """The schools of a county of about ``n_students`` students (ids prefixed by ``id_prefix``)."""
    n_town = max(1, round(n_students / p.students_per_township))
    villages = max(1, round(p.students_per_township * 6 / 9 / 320))
    rows: list[dict] = []
    primary_of = np.zeros((n_town, villages), dtype=np.int32)
    tp_of = np.full((n_town, villages), -1, dtype=np.int32)
    junior_of = np.zeros(n_town, dtype=np.int32)

    def add(town: int, kind: str, urban: str, boarding: bool, village: int = 0) -> int:
        rows.append(
            {
                "school_id": f"{id_prefix}SCH{len(rows) + 1:05d}",
                "county_code": county_code,
                "township": township_name(town),
                "school_type": kind,
                "urban_rural": urban,
                "has_boarding": boarding,
                "name": school_name(town, village, kind),
            }
        )
        return len(rows) - 1

    for t in range(n_town):
        urban = "town" if t == 0 else "rural"
        nine_year = t % 3 == 2
        for v in range(villages):
            if v == 0 and nine_year:
                primary_of[t, v] = add(t, "nine_year", urban, True)
                junior_of[t] = primary_of[t, v]
            else:
                primary_of[t, v] = add(t, "primary", urban if v == 0 else "rural", v == 0, v)
            if v % 2 == 1:
                tp_of[t, v] = add(t, "teaching_point", "rural", False, v)
        if not nine_year:
            junior_of[t] = add(t, "junior", urban, True)
    return Geo(pd.DataFrame(rows), primary_of, tp_of, junior_of, villages)
