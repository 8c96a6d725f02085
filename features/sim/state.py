"""The simulator's state: the random stream, the county, the per-student arrays and the rows
written so far, plus one school year's schedule.

The simulator is a set of free functions over one :class:`SimState` (population, household,
dropout, exams, truth, attendance and year modules); they draw from the state's single
random stream, so the order of the calls fixes the county.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import TABLES
from features.sim.calendar import SchoolYear
from features.sim.geography import COUNTY_CODE, geography
from features.sim.presets import Preset

__all__ = ["COLUMNS", "Population", "SimState", "YearSchedule"]


@dataclass
class YearSchedule:
    """What the simulator decided for every student in one school year (arrays indexed by the
    internal student number; day values are indices into ``sy.school_days``, -1 = none).

    The attendance generator, the exams and the truth all read their schedule from here.
    """

    sy: SchoolYear
    start: np.ndarray  # first school day enrolled this year
    end: np.ndarray  # first school day no longer enrolled (exclusive)
    run_s: np.ndarray  # (n, 2) start of an unexcused run per term
    run_e: np.ndarray  # (n, 2) its end (exclusive)
    ramp_s: np.ndarray  # (n, 2) start of the rising-absence precursor before the run
    peak: np.ndarray  # (n, 2) daily unexcused probability the precursor rises to
    out_from: np.ndarray  # first day after the dropout mark (no rows from here) ...
    out_to: np.ndarray  # ... until a return at this day
    long_leave: np.ndarray  # day a long leave starts before a dropout
    fatal_day: np.ndarray  # day the current dropout began (reset when brought back)
    fatal_t: np.ndarray  # (n, 2) day of a dropout in each term (kept for the truth)

    @classmethod
    def new(cls, sy: SchoolYear, n: int) -> YearSchedule:
        none = lambda *shape: np.full(shape or (n,), -1, np.int32)  # noqa: E731
        return cls(
            sy=sy, start=np.zeros(n, np.int32), end=np.full(n, len(sy.school_days), np.int32),
            run_s=none(n, 2), run_e=none(n, 2), ramp_s=none(n, 2), peak=np.zeros((n, 2), np.float32),
            out_from=none(), out_to=none(), long_leave=none(), fatal_day=none(), fatal_t=none(n, 2),
        )  # fmt: skip


class Population:
    """Growable per-student arrays (internal index = position)."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.cap = capacity
        self.a: dict[str, np.ndarray] = {}

    def col(self, name: str, dtype, fill=0) -> np.ndarray:
        if name not in self.a:
            self.a[name] = np.full(self.cap, fill, dtype=dtype)
        return self.a[name]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["a"][name]
        except KeyError:
            raise AttributeError(name) from None

    def add(self, k: int) -> np.ndarray:
        if self.n + k > self.cap:
            new = max(self.cap * 2, self.n + k)
            for key, arr in self.a.items():
                grown = np.empty(new, dtype=arr.dtype)
                grown[: self.cap] = arr
                grown[self.cap :] = arr[0] if arr.dtype == object else 0
                self.a[key] = grown
            self.cap = new
        idx = np.arange(self.n, self.n + k)
        self.n += k
        return idx


#: the per-student arrays of :class:`Population` and their dtypes
COLUMNS = {
    # static
    "male": bool, "birth_m": np.int32, "overage": np.int8, "town": np.int16, "village": np.int16,
    "tp": bool, "agri": bool, "minority": bool, "migrant": bool, "only_child": bool, "sib2": bool,
    "orphan": bool, "disab": np.int8, "health": np.int16, "dist": np.float32, "ability": np.float32,
    "trend": np.float32, "anxiety": np.float32, "unobs": np.float32, "absence_z": np.float32,
    "enrol_m": np.int32,
    # dynamic
    "grade": np.int8, "in_school": bool, "lb": np.int8, "caregiver": np.int8, "poor": bool,
    "poor_type": np.int8, "parent_ill": bool, "returned": bool, "boarding": bool, "school": np.int32,
    "klass": np.int16, "exited": bool, "suspended": bool,
}  # fmt: skip


class SimState:
    """Everything the simulator knows about one county while it runs.

    The constructor builds the county's schools and draws the school effects and the
    levels-only schools; the yearly functions add students and rows.
    """

    def __init__(
        self,
        n_students: int,
        years: int,
        seed: int,
        preset: Preset,
        start_year: int,
        county_code: str = COUNTY_CODE,
        id_prefix: str = "",
    ) -> None:
        self.preset = preset
        self.id_prefix = id_prefix
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.n_students = n_students
        self.years = years
        self.start_year = start_year
        self.geo = geography(n_students, preset, county_code, id_prefix)
        self.n_town = len(np.unique(self.geo.schools["township"]))
        cap = int(n_students * (1.1 + years / 9)) + 64
        self.pop = Population(cap)
        for name, dtype in COLUMNS.items():
            self.pop.col(name, dtype)
        n_s = len(self.geo.schools)
        self.school_re = self.rng.normal(0, preset.school_sd, n_s).astype(np.float32)
        self.boarding_re = self.rng.normal(0, preset.boarding_school_sd, n_s).astype(np.float32)
        n_lv = max(1, round(preset.levels_only_school_share * n_s))
        self.levels_only = np.zeros(n_s, bool)
        self.levels_only[self.rng.choice(n_s, n_lv, replace=False)] = True
        # the year being simulated
        self.term_no = 0  # terms since the start (the ability trend's clock)
        self.n_target_g1 = 0  # the grade-1 intake of the first year
        self.alpha_by_grade: dict[int, float] = {}  # this year's grade intercepts
        # outputs
        self.rows: dict[str, list] = {name: [] for name in TABLES}
        self.episodes: list[dict] = []
        self.student_years: list[pd.DataFrame] = []
        self.risk_monthly: list[pd.DataFrame] = []
        self.att_specs: list = []  # one AttendanceSpec per school year
        self.calendars: list[SchoolYear] = []
        self.closed: list[pd.DataFrame] = []  # exit dates that close the last students row
        self.poverty_exits: list[pd.DataFrame] = []
        self.var_parts: list[tuple[float, float, float]] = []  # variance parts of the true log hazard

    def sid(self, idx: np.ndarray) -> np.ndarray:
        """The student ids of internal student numbers ``idx``."""
        idx = np.asarray(idx)
        if idx.size == 0:
            return np.array([], dtype="<U8")
        return np.char.add(f"{self.id_prefix}S", np.char.zfill(idx.astype(str), 7))

    def registry(self, idx, dates, kind: str, reason=None, verified=None) -> None:
        """Registry events of ``kind`` for students ``idx`` on ``dates`` (one date or one each)."""
        if len(idx) == 0:
            return
        dates = np.asarray(dates)
        if dates.ndim == 0 or len(dates) != len(idx):
            dates = np.repeat(np.datetime64(dates.item() if dates.ndim == 0 else dates[0], "D"), len(idx))
        self.rows["registry_events"].append(
            pd.DataFrame(
                {
                    "student_id": self.sid(np.asarray(idx)),
                    "event_date": pd.to_datetime(dates),
                    "event_type": kind,
                    "reason": reason,
                    "verified": verified
                    if verified is not None
                    else (kind in ("dropout_mark", "transfer_out")),
                }
            )
        )
