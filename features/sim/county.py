"""The simulated county: every contract table for a county, plus the truth behind it.

The generator is a term-level proportional-hazards model calibrated to SIMULATOR.md:
each student's annual dropout hazard is ``exp(alpha_grade + observed causes + school
effect + unobserved causes)``; ``alpha_grade`` is solved every year so the grade's
dropout rate hits the preset's target. Dropouts (and the more common suspected-dropout
episodes that end in a return) happen on school days drawn from the seasonal timing of
SIMULATOR.md, and are preceded by what schools really see (rising unexcused absence,
falling results) but the outcome itself is never written into an input column.

The truth goes to ``truth/``: the true 90-day probability of a positive label for each
student at each month start (``risk_monthly``), the latent factors, every episode, and
``meta.json`` with the realised calibration figures. No feature builder or model reads it.

Examples
--------
>>> county = simulate_county(students=400, years=3, seed=1, preset="reap_2010")
>>> sorted(county.frames)[:4]
['aid', 'attendance', 'calendar', 'classes']
>>> county.meta["students_total"] > 400
True
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import TABLES
from features.sim.calendar import SchoolYear, school_year
from features.sim.presets import Preset, get_preset

__all__ = ["SimulatedCounty", "simulate_county", "write_county", "read_truth", "TRUTH_DIR"]

log = logging.getLogger(__name__)

TRUTH_DIR = "truth"
COUNTY_CODE = "990101"  # not a real county
HORIZON_DAYS = 90  # the truth's label horizon (DATA_CONTRACT "The label")
MARK_DAY = 5  # the registry 疑似辍学 mark falls on the 5th consecutive school day out
DROPOUT_AFTER_DAYS = 30  # still out a month after the mark -> registry 辍学

# attendance status codes (order of features.contract attendance.status)
PRESENT, LATE, LEFT_EARLY, LEAVE_SICK, LEAVE_PERSONAL, UNEXCUSED = range(6)
STATUS_CODES = ("present", "late", "left_early", "leave_sick", "leave_personal", "unexcused")
_LB_STATUS = np.array([0, 1, 1, 2])  # none, father, mother, both -> contract status
_LB_ABSENT = np.array([None, "father", "mother", "both"], dtype=object)
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶")
_GIVEN = list("子涵浩宇欣怡梓轩雨佳俊杰诗琪嘉明晨阳思远文博一诺梦瑶志强春燕秀英建华丽娟海波")


@dataclass
class SimulatedCounty:
    """Frames of every contract table (contract column names), the truth and the metadata."""

    frames: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    meta: dict
    faults: pd.DataFrame | None = None
    # the simulator and chunk size, so write_county can stream attendance not built in memory
    _generator: tuple[_Simulator, int] | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------------
# geography


@dataclass
class _Geo:
    schools: pd.DataFrame  # school_id, township, school_type, ...
    primary_of: np.ndarray  # [township, village] -> school index
    tp_of: np.ndarray  # [township, village] -> teaching point index or -1
    junior_of: np.ndarray  # [township] -> school index
    villages: int


def _geography(
    rng: np.random.Generator, n_students: int, p: Preset, county_code: str = COUNTY_CODE, id_prefix: str = ""
) -> _Geo:
    n_town = max(1, round(n_students / p.students_per_township))
    villages = max(1, round(p.students_per_township * 6 / 9 / 320))
    rows: list[dict] = []
    primary_of = np.zeros((n_town, villages), dtype=np.int32)
    tp_of = np.full((n_town, villages), -1, dtype=np.int32)
    junior_of = np.zeros(n_town, dtype=np.int32)

    def add(town: int, kind: str, urban: str, boarding: bool) -> int:
        rows.append(
            {
                "school_id": f"{id_prefix}SCH{len(rows) + 1:05d}",
                "county_code": county_code,
                "township": f"T{town + 1:02d}",
                "school_type": kind,
                "urban_rural": urban,
                "has_boarding": boarding,
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
                primary_of[t, v] = add(t, "primary", urban if v == 0 else "rural", v == 0)
            if v % 2 == 1:
                tp_of[t, v] = add(t, "teaching_point", "rural", False)
        if not nine_year:
            junior_of[t] = add(t, "junior", urban, True)
    return _Geo(pd.DataFrame(rows), primary_of, tp_of, junior_of, villages)


# --------------------------------------------------------------------------------------------
# one school year's schedule


@dataclass
class _Year:
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
    def new(cls, sy: SchoolYear, n: int) -> _Year:
        none = lambda *shape: np.full(shape or (n,), -1, np.int32)  # noqa: E731
        return cls(
            sy=sy, start=np.zeros(n, np.int32), end=np.full(n, len(sy.school_days), np.int32),
            run_s=none(n, 2), run_e=none(n, 2), ramp_s=none(n, 2), peak=np.zeros((n, 2), np.float32),
            out_from=none(), out_to=none(), long_leave=none(), fatal_day=none(), fatal_t=none(n, 2),
        )  # fmt: skip

    def attendance_spec(self, idx: np.ndarray, u: np.ndarray, seed: int, preset: Preset) -> dict:
        """The slice of the schedule the chunked attendance generator needs."""
        take = ("start", "end", "run_s", "run_e", "ramp_s", "peak", "out_from", "out_to", "long_leave")
        return {"sy": self.sy, "idx": idx, "u": u, "seed": seed, "preset": preset,
                **{name: getattr(self, name)[idx] for name in take}}  # fmt: skip


# --------------------------------------------------------------------------------------------
# the population


class _Pop:
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


_COLS = {
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


def _month(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Simulator:
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
        self.p = preset
        self.id_prefix = id_prefix
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.n_students = n_students
        self.years = years
        self.start_year = start_year
        self.geo = _geography(self.rng, n_students, preset, county_code, id_prefix)
        n_town = len(np.unique(self.geo.schools["township"]))
        self.n_town = n_town
        cap = int(n_students * (1.1 + years / 9)) + 64
        self.pop = _Pop(cap)
        for name, dtype in _COLS.items():
            self.pop.col(name, dtype)
        s = self.geo.schools
        n_s = len(s)
        self.school_re = self.rng.normal(0, preset.school_sd, n_s).astype(np.float32)
        self.boarding_re = self.rng.normal(0, preset.boarding_school_sd, n_s).astype(np.float32)
        n_lv = max(1, round(preset.levels_only_school_share * n_s))
        self.levels_only = np.zeros(n_s, bool)
        self.levels_only[self.rng.choice(n_s, n_lv, replace=False)] = True
        # outputs
        self.rows: dict[str, list] = {name: [] for name in TABLES}
        self.episodes: list[dict] = []
        self.student_years: list[pd.DataFrame] = []
        self.risk_monthly: list[pd.DataFrame] = []
        self.att_specs: list[dict] = []
        self.calendars: list[SchoolYear] = []
        self._closed: list[pd.DataFrame] = []  # exit dates that close the last students row
        self._poverty_exits: list[pd.DataFrame] = []
        self._var: list[tuple[float, float, float]] = []  # variance parts of the true log hazard

    # ---------------------------------------------------------------- students
    def new_students(self, k: int, grade: np.ndarray, year: int, enrol_date: dt.date) -> np.ndarray:
        p, rng, pop = self.p, self.rng, self.pop
        idx = pop.add(k)
        pop.male[idx] = rng.random(k) < 0.53
        over = np.where(rng.random(k) < p.overage, 1 + (rng.random(k) < 0.25), 0)
        pop.overage[idx] = over
        # on-time: 6 years old on Aug 31 before entering grade 1
        grade = np.asarray(grade, dtype=np.int64)
        g1_year = year - (grade - 1)
        birth_year = g1_year - 7 - over
        birth_month = rng.integers(8, 20, k)  # Sep (year-7) .. Aug (year-6)
        pop.birth_m[idx] = birth_year * 12 + birth_month
        pop.enrol_m[idx] = np.where(grade == 1, _month(enrol_date), g1_year * 12 + 8)
        pop.town[idx] = rng.integers(0, self.n_town, k)
        pop.village[idx] = rng.integers(0, self.geo.villages, k)
        has_tp = self.geo.tp_of[pop.town[idx], pop.village[idx]] >= 0
        pop.tp[idx] = has_tp & (rng.random(k) < 0.35)
        pop.agri[idx] = rng.random(k) < 0.9
        pop.minority[idx] = rng.random(k) < 0.15
        pop.migrant[idx] = rng.random(k) < p.migrant_child
        only = rng.random(k) < p.only_child
        pop.only_child[idx] = only
        pop.sib2[idx] = ~only & (rng.random(k) < p.siblings_2plus / max(1e-9, 1 - p.only_child))
        pop.orphan[idx] = rng.random(k) < 0.005
        disab = rng.random(k) < p.disabled
        pop.disab[idx] = np.where(disab, rng.integers(1, 5, k), 0)
        pop.health[idx] = np.where(disab, 50, np.where(rng.random(k) < 0.05, 20, 10))
        pop.dist[idx] = np.round(rng.lognormal(math.log(2.0), 0.8, k), 1)
        pop.ability[idx] = rng.normal(0, 1, k)
        pop.trend[idx] = rng.normal(0, 1, k)
        pop.anxiety[idx] = rng.normal(0, 1, k)
        pop.unobs[idx] = rng.normal(0, p.unobserved_other_sd, k)
        pop.absence_z[idx] = rng.normal(0, 1, k)
        pop.grade[idx] = grade
        pop.in_school[idx] = True
        # household
        u = rng.random(k)
        lb = np.zeros(k, np.int8)
        one = p.left_behind_one
        lb[u < p.left_behind_both] = 3
        single = (u >= p.left_behind_both) & (u < p.left_behind_both + one)
        lb[single] = np.where(rng.random(single.sum()) < p.mother_share_single, 2, 1)
        lb[pop.migrant[idx]] = 0
        pop.lb[idx] = lb
        pop.caregiver[idx] = self._caregiver(lb)
        poor = rng.random(k) < p.poverty
        pop.poor[idx] = poor
        pop.poor_type[idx] = rng.choice(5, k, p=[0.6, 0.2, 0.15, 0.03, 0.02])
        ill = rng.random(k) < (p.parent_chronic + p.parent_disabled)
        pop.parent_ill[idx] = ill
        pop.ability[idx] -= 0.15 * poor + 0.1 * (lb == 3)
        self._household_rows(idx, year)
        return idx

    def _caregiver(self, lb: np.ndarray) -> np.ndarray:
        # 0 parent, 1 grandparent, 2 relative, 3 alone, 4 institution
        draw = self.rng.choice(5, len(lb), p=[0.0, 0.80, 0.15, 0.03, 0.02])
        return np.where(lb == 3, draw, 0).astype(np.int8)

    def sid(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.size == 0:
            return np.array([], dtype="<U8")
        return np.char.add(f"{self.id_prefix}S", np.char.zfill(idx.astype(str), 7))

    def _household_rows(self, idx: np.ndarray, year: int) -> None:
        """Initial guardians, left-behind, hardship rows and names for new students."""
        rng, pop = self.rng, self.pop
        k = len(idx)
        sids = self.sid(idx)
        known = pd.Timestamp(dt.date(year, 9, 1)) - pd.to_timedelta(rng.integers(30, 900, k), unit="D")
        lb = pop.lb[idx]
        self.rows["left_behind"].append(
            pd.DataFrame(
                {
                    "student_id": sids,
                    "effective_date": known,
                    "status": _LB_STATUS[lb],
                    "absent_parent": _LB_ABSENT[lb],
                    "caregiver": np.array(["parent", "grandparent", "relative", "alone", "institution"])[
                        pop.caregiver[idx]
                    ],
                }
            )
        )
        ill = pop.parent_ill[idx]
        ill_parent = rng.random(k) < 0.5  # which parent is ill: father / mother
        for member, rel, away in ((1, "father", np.isin(lb, (1, 3))), (2, "mother", np.isin(lb, (2, 3)))):
            health = np.where(ill & (ill_parent == (member == 1)), "chronic", "none")
            self.rows["guardians"].append(
                pd.DataFrame(
                    {
                        "student_id": sids,
                        "member_no": member,
                        "relation": rel,
                        "is_guardian": ~away,
                        "migrant_work": np.where(
                            away, np.where(rng.random(k) < 0.7, "out_province", "in_province"), "none"
                        ),
                        "health_issue": health,
                        "valid_from": known,
                        "valid_to": pd.NaT,
                    }
                )
            )
        gp = lb == 3
        if gp.any():
            self.rows["guardians"].append(
                pd.DataFrame(
                    {
                        "student_id": sids[gp],
                        "member_no": 3,
                        "relation": "grandparent",
                        "is_guardian": True,
                        "migrant_work": "none",
                        "health_issue": "none",
                        "valid_from": known[gp],
                        "valid_to": pd.NaT,
                    }
                )
            )
        poor = pop.poor[idx]
        if poor.any():
            types = np.array(["registered_poor", "monitored", "dibao", "tekun", "de_facto_unsupported"])
            self.rows["hardship"].append(
                pd.DataFrame(
                    {
                        "student_id": sids[poor],
                        "hardship_type": types[pop.poor_type[idx][poor]],
                        "level": rng.choice(
                            ["special", "moderate", "general"], poor.sum(), p=[0.2, 0.4, 0.4]
                        ),
                        "valid_from": known[poor],
                        "valid_to": pd.NaT,
                    }
                )
            )
        names = np.char.add(
            np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), k)],
            np.char.add(
                np.array(_GIVEN)[rng.integers(0, len(_GIVEN), k)],
                np.where(rng.random(k) < 0.6, np.array(_GIVEN)[rng.integers(0, len(_GIVEN), k)], ""),
            ),
        )
        self.rows["student_names"].append(pd.DataFrame({"student_id": sids, "name": names}))

    # ---------------------------------------------------------------- schools and classes
    def place(self, idx: np.ndarray, year: int) -> None:
        """School, boarding and class for students in ``idx`` for school year ``year``."""
        pop, p, rng, geo = self.pop, self.p, self.rng, self.geo
        g = pop.grade[idx]
        town, vil = pop.town[idx], pop.village[idx]
        school = np.where(
            g >= 7,
            geo.junior_of[town],
            np.where(
                (g <= 3) & pop.tp[idx] & (geo.tp_of[town, vil] >= 0),
                geo.tp_of[town, vil],
                geo.primary_of[town, vil],
            ),
        )
        pop.school[idx] = school
        has_b = self.geo.schools["has_boarding"].to_numpy()[school]
        dist = pop.dist[idx] * np.where(g >= 7, 3.0, 1.0)  # junior schools are farther away
        share = np.where(g >= 7, p.boarding_junior, np.where(g >= 4, p.boarding_primary * 1.8, 0.0))
        logit = np.log(share / (1 - share + 1e-9) + 1e-9) + 0.4 * (np.log(dist + 0.1) - math.log(2.0))
        pop.boarding[idx] = has_b & (share > 0) & (rng.random(len(idx)) < _sigmoid(logit))
        size = np.where(g >= 7, p.class_size_junior, p.class_size_primary)
        # classes: shuffle inside (school, grade) and cut into classes of about `size`
        order = np.lexsort((rng.random(len(idx)), g, school))
        key = school[order].astype(np.int64) * 10 + g[order]
        start = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
        group_n = np.repeat(np.diff(np.r_[start, len(order)]), np.diff(np.r_[start, len(order)]))
        n_classes = np.maximum(1, np.round(group_n / size[order])).astype(int)
        klass = np.empty(len(idx), np.int16)
        klass[order] = (rank * n_classes // group_n).astype(np.int16)
        pop.klass[idx] = klass

    def class_id(self, school: np.ndarray, grade: np.ndarray, klass: np.ndarray, year: int) -> np.ndarray:
        sch = self.geo.schools["school_id"].to_numpy()[school]
        return np.char.add(
            np.char.add(np.char.add(sch.astype(str), f"-{year}-g"), grade.astype(str)),
            np.char.add("-", (klass + 1).astype(str)),
        )

    # ---------------------------------------------------------------- hazard
    def log_hazard(self, idx: np.ndarray) -> np.ndarray:
        """Log annual hazard without the grade intercept; also records the parts."""
        pop, p = self.pop, self.p
        g = pop.grade[idx]
        term_no = self.term_no
        comp = pop.ability[idx] + 0.25 * pop.trend[idx] * term_no
        bottom = self._bottom20(idx, comp)
        lb = pop.lb[idx]
        far_day = (pop.dist[idx] * np.where(g >= 7, 3.0, 1.0) > 5) & ~pop.boarding[idx]
        observed = (
            math.log(p.rr_bottom20) * bottom
            - math.log(p.rr_trend_minus_1sd) * pop.trend[idx]
            + math.log(p.rr_poor) * pop.poor[idx]
            + math.log(p.rr_parent_ill) * pop.parent_ill[idx]
            + math.log(p.rr_mother_away) * np.isin(lb, (2, 3))
            + math.log(p.rr_father_only) * (lb == 1)
            + math.log(p.rr_overage_per_year) * pop.overage[idx]
            + (math.log(p.rr_boarding) + self.boarding_re[pop.school[idx]]) * pop.boarding[idx]
            + math.log(p.rr_male) * pop.male[idx]
            + math.log(p.rr_siblings_2plus) * pop.sib2[idx]
            + math.log(p.rr_far_day_student) * far_day
            + math.log(p.rr_returned) * pop.returned[idx]
        )
        school = self.school_re[pop.school[idx]]
        unobserved = math.log(p.rr_anxiety_per_sd) * pop.anxiety[idx] + pop.unobs[idx]
        self._parts = {"bottom20": bottom, "observed": observed, "school": school, "unobserved": unobserved}
        return observed + school + unobserved

    def _bottom20(self, idx: np.ndarray, comp: np.ndarray) -> np.ndarray:
        pop = self.pop
        key = pop.school[idx].astype(np.int64) * 1000 + pop.grade[idx] * 50 + pop.klass[idx]
        frame = pd.DataFrame({"k": key, "c": comp})
        pct = frame.groupby("k")["c"].rank(pct=True, method="average").to_numpy()
        return pct <= 0.2

    def calibrate(self, idx: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Grade intercepts so each grade's annual dropout matches the preset."""
        alpha = np.zeros(len(idx))
        g = self.pop.grade[idx]
        for grade in range(1, 10):
            m = g == grade
            if not m.any():
                continue
            target = self.p.annual_dropout[grade]
            lo, hi = -25.0, 5.0
            b = base[m]
            for _ in range(50):
                mid = (lo + hi) / 2
                if np.mean(1 - np.exp(-np.exp(mid + b))) > target:
                    hi = mid
                else:
                    lo = mid
            alpha[m] = (lo + hi) / 2
        return alpha

    # ---------------------------------------------------------------- timing
    def timing_density(self, sy: SchoolYear, grade9: bool) -> np.ndarray:
        """Share of the year's episodes starting on each school day (sums to 1)."""
        p = self.p
        d = sy.school_days
        w = np.zeros(len(d))
        aut = d < np.datetime64(sy.autumn_start + dt.timedelta(days=p.autumn_window_days))
        spr0 = np.datetime64(sy.spring_start)
        fest = (d >= spr0) & (d < spr0 + np.timedelta64(p.festival_window_days, "D"))
        zk = np.datetime64(sy.zhongkao)
        pre = (d < zk) & (d >= zk - np.timedelta64(p.zhongkao_window_days, "D"))
        after_zk = d >= zk
        rest = ~aut & ~fest & ~(pre if grade9 else np.zeros_like(pre))
        if grade9:
            rest &= ~after_zk
        shares = {"aut": p.timing_autumn_start, "fest": p.timing_after_festival, "rest": 1.0}
        shares["rest"] = 1 - p.timing_autumn_start - p.timing_after_festival - p.timing_pre_zhongkao
        scale = 1.0 if grade9 else 1 / (1 - p.timing_pre_zhongkao)
        w[aut] = shares["aut"] * scale / aut.sum()
        w[fest] = shares["fest"] * scale / fest.sum()
        w[rest] += shares["rest"] * scale / rest.sum()
        if grade9:
            w[pre] = p.timing_pre_zhongkao / pre.sum()
        return w / w.sum()

    # ---------------------------------------------------------------- one school year
    def run_year(self, year: int) -> None:
        p, rng, pop = self.p, self.rng, self.pop
        sy = school_year(year)
        self.calendars.append(sy)
        nd = len(sy.school_days)
        first_year = year == self.start_year
        self.term_no = 2 * (year - self.start_year)
        if first_year:
            per_grade = np.full(9, max(self.n_students // 9, 1))
            grades = np.repeat(np.arange(1, 10), per_grade)
            self.new_students(len(grades), grades, year, sy.autumn_start)
            self.n_target_g1 = per_grade[0]
        else:
            k = int(self.n_target_g1 * (1 + rng.normal(0, 0.03)))
            new = self.new_students(k, np.ones(k, np.int8), year, sy.autumn_start)
            self._registry(new, sy.autumn_start, "enrol")
        # transfers in: mostly at the start of the year
        k_in = rng.binomial(int(pop.in_school[: pop.n].sum()), p.transfer_in)
        inn = self.new_students(k_in, rng.integers(1, 10, k_in).astype(np.int8), year, sy.autumn_start)
        in_day = np.where(rng.random(k_in) < 0.6, 0, rng.integers(0, nd, k_in))
        idx = np.flatnonzero(pop.in_school[: pop.n])
        if first_year:
            old = idx[~np.isin(idx, inn)]
            self._registry(old, self._enrol_dates(old), "enrol")
        self._registry(inn, sy.school_days[in_day], "transfer_in")
        self.place(idx, year)
        yr = _Year.new(sy, pop.n)
        start_idx, end_idx = yr.start, yr.end
        start_idx[inn] = in_day
        g = pop.grade[: pop.n]
        zk_idx = sy.snap(sy.zhongkao)
        end_idx[g == 9] = zk_idx + 1
        self._student_rows(idx, year, sy, start_idx)
        self._classes_rows(idx, year)

        # ---- churn exits drawn for the year (transfer out, death, abroad, suspend)
        exit_day = np.full(pop.n, nd, np.int32)
        exit_kind = np.full(pop.n, "", dtype=object)
        for kind, rate in (
            ("transfer_out", p.transfer_out),
            ("deceased", p.deceased),
            ("abroad", p.abroad),
            ("suspend", p.suspend),
        ):
            hit = idx[rng.random(len(idx)) < rate]
            day = np.where(rng.random(len(hit)) < 0.4, nd - 1, rng.integers(5, nd, len(hit)))
            better = day < exit_day[hit]
            exit_day[hit[better]] = day[better]
            exit_kind[hit[better]] = kind

        # ---- terms: hazard, episodes
        out_from, out_to, fatal_day, fatal_t = yr.out_from, yr.out_to, yr.fatal_day, yr.fatal_t
        p_term = np.zeros((pop.n, 2))
        p_noshow = np.zeros(pop.n)
        dens = {False: self.timing_density(sy, False), True: self.timing_density(sy, True)}
        spring0 = int(np.argmax(sy.term == 1))
        lh_year = np.zeros(pop.n)
        for term in (0, 1):
            if term == 1:
                self._spring_festival(idx, sy)
                self.term_no += 1
            in_term = idx[
                (pop.in_school[idx]) & (fatal_day[idx] < 0) & (exit_day[idx] > (0 if term == 0 else spring0))
            ]
            if term == 1:
                # dropouts of the autumn term brought back at the spring start
                back = idx[
                    (fatal_day[idx] >= 0)
                    & (fatal_day[idx] < spring0)
                    & (rng.random(len(idx)) < p.dropout_return_share)
                ]
                back = back[(out_from[back] >= 0) & (out_from[back] <= spring0)]
                out_to[back] = spring0
                pop.returned[back] = True
                self._registry(
                    back, np.repeat(sy.school_days[spring0], len(back)), "return_mark", verified=True
                )
                fatal_day[back] = -1
                in_term = np.union1d(in_term, back)
            base = self.log_hazard(in_term)
            if term == 0:
                alpha = self.calibrate(in_term, base)
                alpha_by_grade = {
                    int(gr): float(alpha[pop.grade[in_term] == gr][0]) for gr in np.unique(pop.grade[in_term])
                }
                self._alpha_by_grade = alpha_by_grade
                parts0 = dict(self._parts, alpha=alpha, grade=pop.grade[in_term].copy())
                bottom_year = np.zeros(pop.n, bool)
                bottom_year[in_term] = parts0["bottom20"]
                lh_year[in_term] = base
            lookup = np.full(10, -10.0)
            for gr, a in self._alpha_by_grade.items():
                lookup[gr] = a
            alpha = lookup[pop.grade[in_term]]
            lam = np.exp(alpha + base)
            gr9 = pop.grade[in_term] == 9
            w_term = np.where(gr9, dens[True][sy.term == term].sum(), dens[False][sy.term == term].sum())
            p_fatal = 1 - np.exp(-lam * w_term)
            p_term[in_term, term] = p_fatal
            p_ep = np.minimum(0.95, p_fatal / p.episode_share_fatal)
            u = rng.random(len(in_term))
            fatal = u < p_fatal
            nonfatal = (u >= p_fatal) & (u < np.maximum(p_ep, p_fatal))
            # g7 no-shows at the autumn start (小升初)
            if term == 0:
                g7 = (pop.grade[in_term] == 7) & ~np.isin(in_term, inn)
                rel = np.exp(base[g7] - base[g7].mean())
                pns = np.clip(p.noshow_g7 * rel / rel.mean(), 0, 0.9)
                p_noshow[in_term[g7]] = pns
                ns = np.zeros(len(in_term), bool)
                ns[np.flatnonzero(g7)[rng.random(g7.sum()) < pns]] = True
                fatal &= ~ns
                nonfatal &= ~ns
            else:
                ns = np.zeros(len(in_term), bool)
            # episode day from the seasonal density restricted to the term
            day = np.empty(len(in_term), np.int64)
            for is9 in (False, True):
                m = gr9 == is9
                w = dens[is9] * (sy.term == term)
                cdf = np.cumsum(w / w.sum())
                day[m] = np.minimum(np.searchsorted(cdf, rng.random(m.sum())), nd - 1)
            day[ns] = 0
            # an episode after the student left for another reason does not happen
            ok = day < exit_day[in_term]
            ok &= day >= start_idx[in_term]
            fatal &= ok
            nonfatal &= ok
            ns &= ok
            self._episodes(yr, in_term, day, fatal | ns, nonfatal, ns, term)
            fatal_t[in_term[fatal | ns], term] = day[fatal | ns]
        # resolve exits: a churn exit counts only if it comes before a dropout
        churn = idx[(exit_kind[idx] != "") & ((fatal_day[idx] < 0) | (exit_day[idx] < fatal_day[idx]))]
        for kind in ("transfer_out", "deceased", "abroad", "suspend"):
            sel = churn[exit_kind[churn] == kind]
            if not len(sel):
                continue
            dates = sy.school_days[exit_day[sel]]
            self._registry(sel, dates, kind, verified=True)
            end_idx[sel] = np.minimum(end_idx[sel], exit_day[sel])
            if kind != "suspend":
                pop.in_school[sel] = False
                pop.exited[sel] = True
                self._close_student(sel, dates)
            else:
                pop.suspended[sel] = True
        # truth: monthly 90-day probabilities for students in school at the start of the year
        self._truth_monthly(idx, yr, p_term, p_noshow, dens)
        self.student_years.append(
            pd.DataFrame(
                {
                    "student_id": self.sid(idx),
                    "academic_year": year,
                    "grade": pop.grade[idx],
                    "school_id": self.geo.schools["school_id"].to_numpy()[pop.school[idx]],
                    "bottom20": bottom_year[idx],
                    "log_hazard": lh_year[idx],
                    "p_autumn": p_term[idx, 0],
                    "p_spring": p_term[idx, 1],
                    "p_noshow": p_noshow[idx],
                    "left_behind": pop.lb[idx],
                    "poor": pop.poor[idx],
                    "boarding": pop.boarding[idx],
                }
            )
        )
        self._var_parts(parts0)
        # ---- attendance spec for the chunked generator
        u = p.unexcused_base * np.exp(0.6 * pop.absence_z[idx] + 0.15 * (lh_year[idx] - lh_year[idx].mean()))
        spec = yr.attendance_spec(idx, u.astype(np.float32), self.seed * 1000 + year, p)
        self.att_specs.append({**spec, "id_prefix": self.id_prefix})
        self._exams(idx, yr)
        self._aid(idx, sy)
        self._family_events(idx, sy)
        # ---- year end: graduation, promotion, repetition
        still = idx[pop.in_school[idx] & (fatal_day[idx] < 0) & ~pop.suspended[idx]]
        still = still[end_idx[still] > 0]
        g = pop.grade[still]
        grad = still[g == 9]
        end_date = sy.spring_end
        self._registry(grad, np.repeat(np.datetime64(end_date), len(grad)), "graduate")
        pop.in_school[grad] = False
        pop.exited[grad] = True
        self._close_student(grad, np.repeat(np.datetime64(end_date), len(grad)))
        rest = still[g < 9]
        rep_rate = np.where(pop.grade[rest] >= 7, p.repeat_junior, p.repeat_primary)
        low = pop.ability[rest] < -0.8
        repeat = rng.random(len(rest)) < rep_rate * np.where(low, 4.0, 0.3)
        prom = rest[~repeat]
        self._registry(prom, np.repeat(np.datetime64(end_date), len(prom)), "promote")
        pop.grade[prom] += 1
        pop.overage[rest[repeat]] += 1
        # suspended students resume next year; dropouts not brought back stay out
        sus = idx[pop.suspended[idx]]
        if year + 1 < self.start_year + self.years and len(sus):
            self._registry(sus, np.repeat(np.datetime64(dt.date(year + 1, 9, 1)), len(sus)), "resume")
        pop.suspended[sus] = False
        out = idx[(fatal_day[idx] >= 0)]
        pop.in_school[out] = False

    # ---------------------------------------------------------------- pieces
    def _enrol_dates(self, idx: np.ndarray) -> np.ndarray:
        m = self.pop.enrol_m[idx]
        return (
            np.array([np.datetime64(dt.date(int(x // 12), int(x % 12) + 1, 1)) for x in m]) if len(m) else m
        )

    def _registry(self, idx, dates, kind: str, reason=None, verified=None) -> None:
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

    def _student_rows(self, idx: np.ndarray, year: int, sy: SchoolYear, start_idx: np.ndarray) -> None:
        pop = self.pop
        sch = pop.school[idx]
        bm = pop.birth_m[idx]
        em = pop.enrol_m[idx]
        commute = np.where(
            pop.boarding[idx], "school_bus",
            np.where(pop.dist[idx] < 2, "walk", np.where(pop.dist[idx] < 5, "bike", "public_bus")),
        )  # fmt: skip
        vf = pd.to_datetime(sy.school_days[start_idx[idx]])
        frame = pd.DataFrame(
            {
                "student_id": self.sid(idx),
                "valid_from": vf,
                "valid_to": pd.NaT,
                "school_id": self.geo.schools["school_id"].to_numpy()[sch],
                "class_id": self.class_id(sch, pop.grade[idx], pop.klass[idx], year),
                "grade": pop.grade[idx],
                "sex": np.where(pop.male[idx], "M", "F"),
                "birth_ym": [f"{b // 12}-{b % 12 + 1:02d}" for b in bm],
                "ethnicity_code": np.where(pop.minority[idx], "05", "01"),
                "hukou_type": np.where(pop.agri[idx], "agri", "non_agri"),
                "enrol_ym": [f"{e // 12}-{e % 12 + 1:02d}" for e in em],
                "is_boarding": pop.boarding[idx],
                "is_migrant_child": pop.migrant[idx],
                "only_child": pop.only_child[idx],
                "orphan": pop.orphan[idx],
                "inclusive_ed": np.array(["none", "visual", "hearing", "intellectual", "other"])[
                    pop.disab[idx]
                ],
                "disability_type": np.where(pop.disab[idx] > 0, "registered", None),
                "health_status": pop.health[idx],
                "distance_km": np.round(pop.dist[idx] * np.where(pop.grade[idx] >= 7, 3.0, 1.0), 1),
                "commute_mode": commute,
            }
        )
        self.rows["students"].append(frame)
        # a few students change class mid-year: a new version
        mover = self.rng.random(len(idx)) < self.p.class_change_midyear
        if mover.any():
            mv = frame.loc[mover].copy()
            nd = len(sy.school_days)
            day = self.rng.integers(nd // 4, 3 * nd // 4, mover.sum())
            mv["valid_from"] = pd.to_datetime(sy.school_days[day])
            newk = (pop.klass[idx[mover]] + 1) % 3
            mv["class_id"] = self.class_id(sch[mover], pop.grade[idx[mover]], newk, year)
            self.rows["students"].append(mv)

    def _close_student(self, idx: np.ndarray, dates) -> None:
        self._closed.append(
            pd.DataFrame({"student_id": self.sid(idx), "closed": pd.to_datetime(np.asarray(dates))})
        )

    def _classes_rows(self, idx: np.ndarray, year: int) -> None:
        pop = self.pop
        frame = pd.DataFrame(
            {"school": pop.school[idx], "grade": pop.grade[idx], "klass": pop.klass[idx]}
        ).drop_duplicates()
        k_all = frame.assign(klass=(frame["klass"] + 1) % 3)
        frame = pd.concat([frame, k_all]).drop_duplicates()
        s, g, k = frame["school"].to_numpy(), frame["grade"].to_numpy(), frame["klass"].to_numpy()
        sch = self.geo.schools["school_id"].to_numpy()[s]
        ht = np.char.add(np.char.add(sch.astype(str), "-HT"), np.char.add(g.astype(str), (k + 1).astype(str)))
        self.rows["classes"].append(
            pd.DataFrame(
                {
                    "class_id": self.class_id(s, g, k, year),
                    "school_id": sch,
                    "academic_year": year,
                    "grade": g,
                    "head_teacher_id": ht,
                }
            )
        )

    def _spring_festival(self, idx: np.ndarray, sy: SchoolYear) -> None:
        """Parents leave or come back after Spring Festival; left-behind rows and events."""
        p, rng, pop = self.p, self.rng, self.pop
        live = idx[pop.in_school[idx] & ~pop.migrant[idx]]
        redraw = live[rng.random(len(live)) > p.left_behind_persistence]
        u = rng.random(len(redraw))
        new = np.zeros(len(redraw), np.int8)
        new[u < p.left_behind_both] = 3
        single = (u >= p.left_behind_both) & (u < p.left_behind_both + p.left_behind_one)
        new[single] = np.where(rng.random(single.sum()) < p.mother_share_single, 2, 1)
        old = pop.lb[redraw]
        changed = new != old
        who, new, old = redraw[changed], new[changed], old[changed]
        if not len(who):
            return
        eff = np.datetime64(sy.spring_festival) + rng.integers(3, 20, len(who)).astype("timedelta64[D]")
        pop.lb[who] = new
        pop.caregiver[who] = self._caregiver(new)
        sids = self.sid(who)
        self.rows["left_behind"].append(
            pd.DataFrame(
                {
                    "student_id": sids,
                    "effective_date": pd.to_datetime(eff),
                    "status": _LB_STATUS[new],
                    "absent_parent": _LB_ABSENT[new],
                    "caregiver": np.array(["parent", "grandparent", "relative", "alone", "institution"])[
                        pop.caregiver[who]
                    ],
                }
            )
        )
        away_more = _LB_STATUS[new] > _LB_STATUS[old]
        ev = np.where(away_more | ((new == 2) & (old == 1)), "parent_migration_start", "parent_return")
        self.rows["family_events"].append(
            pd.DataFrame({"student_id": sids, "event_date": pd.to_datetime(eff), "event_type": ev})
        )
        for member, rel, codes in ((1, "father", (1, 3)), (2, "mother", (2, 3))):
            was, now = np.isin(old, codes), np.isin(new, codes)
            ch = was != now
            if not ch.any():
                continue
            self.rows["guardians"].append(
                pd.DataFrame(
                    {
                        "student_id": sids[ch],
                        "member_no": member,
                        "relation": rel,
                        "is_guardian": ~now[ch],
                        "migrant_work": np.where(now[ch], "out_province", "none"),
                        "health_issue": "none",
                        "valid_from": pd.to_datetime(eff[ch]),
                        "valid_to": pd.NaT,
                    }
                )
            )

    def _family_events(self, idx: np.ndarray, sy: SchoolYear) -> None:
        """Illness, death, divorce, disaster, moves; hardship entries and exits."""
        p, rng, pop = self.p, self.rng, self.pop
        live = idx[pop.in_school[idx]]
        span = (np.datetime64(sy.spring_end) - np.datetime64(sy.autumn_start)).astype(int)
        start = np.datetime64(sy.autumn_start)
        for kind, rate in (("parent_illness", p.parent_illness_rate), ("parent_death", p.parent_death_rate),
                           ("divorce", p.divorce_rate), ("disaster", p.disaster_rate), ("house_move", p.house_move_rate)):  # fmt: skip
            hit = live[rng.random(len(live)) < rate]
            if not len(hit):
                continue
            when = start + rng.integers(0, span, len(hit)).astype("timedelta64[D]")
            self.rows["family_events"].append(
                pd.DataFrame(
                    {"student_id": self.sid(hit), "event_date": pd.to_datetime(when), "event_type": kind}
                )
            )
            if kind in ("parent_illness", "parent_death"):
                pop.parent_ill[hit] = True  # takes effect on next term's hazard
            if kind == "disaster":
                newly = hit[~pop.poor[hit] & (rng.random(len(hit)) < 0.5)]
                pop.poor[newly] = True
                pop.poor_type[newly] = 1
                self.rows["hardship"].append(
                    pd.DataFrame(
                        {
                            "student_id": self.sid(newly),
                            "hardship_type": "monitored",
                            "level": "moderate",
                            "valid_from": pd.to_datetime(when[np.isin(hit, newly)]),
                            "valid_to": pd.NaT,
                        }
                    )  # fmt: skip
                )
        # poverty entries (monitoring) and exits
        enter = live[~pop.poor[live] & (rng.random(len(live)) < p.poverty_entry_rate)]
        when = start + rng.integers(0, span, len(enter)).astype("timedelta64[D]")
        pop.poor[enter] = True
        pop.poor_type[enter] = 1
        self.rows["hardship"].append(
            pd.DataFrame(
                {
                    "student_id": self.sid(enter),
                    "hardship_type": "monitored",
                    "level": "general",
                    "valid_from": pd.to_datetime(when),
                    "valid_to": pd.NaT,
                }
            )  # fmt: skip
        )
        leave = live[pop.poor[live] & (rng.random(len(live)) < p.poverty_exit_rate)]
        when = start + rng.integers(0, span, len(leave)).astype("timedelta64[D]")
        pop.poor[leave] = False
        self._poverty_exits.append(
            pd.DataFrame({"student_id": self.sid(leave), "exit": pd.to_datetime(when)})
        )

    def _aid(self, idx: np.ndarray, sy: SchoolYear) -> None:
        pop = self.pop
        live = idx[pop.in_school[idx]]
        for term, paid in (
            (0, sy.autumn_start + dt.timedelta(days=45)),
            (1, sy.spring_start + dt.timedelta(days=45)),
        ):
            parts = []
            rural = live[pop.agri[live]]
            parts.append(("nutrition", rural, 800.0))
            bs = live[pop.boarding[live] & pop.poor[live]]
            parts.append(("boarding_subsidy", bs, 1250.0))
            ls = live[pop.poor[live] & np.isin(pop.poor_type[live], (0, 2, 3))]
            parts.append(("living_subsidy", ls, 500.0))
            for kind, who, amount in parts:
                if not len(who):
                    continue
                self.rows["aid"].append(
                    pd.DataFrame(
                        {
                            "student_id": self.sid(who),
                            "paid_date": pd.Timestamp(paid),
                            "term_id": sy.term_id(term),
                            "aid_type": kind,
                            "amount_cny": amount,
                        }
                    )  # fmt: skip
                )

    def _episodes(self, yr: _Year, ids, day, fatal, nonfatal, noshow, term: int) -> None:
        """Write the term's dropouts and returned episodes into the schedule and the registry."""
        sy, run_s, run_e, ramp_s, peak = yr.sy, yr.run_s, yr.run_e, yr.ramp_s, yr.peak
        out_from, long_leave, fatal_day = yr.out_from, yr.long_leave, yr.fatal_day
        p, rng, pop = self.p, self.rng, self.pop
        nd = len(sy.school_days)
        dates = sy.school_days
        # fatal: out from `day`; registry mark on the 5th school day; dropout mark a month later
        f = ids[fatal]
        fd = day[fatal]
        mark = np.minimum(fd + MARK_DAY - 1, nd - 1)
        mark_date = dates[mark]
        drop_date = mark_date + np.timedelta64(DROPOUT_AFTER_DAYS, "D")
        drop_idx = np.searchsorted(dates, drop_date)  # rows stop at the dropout mark
        run_s[f, term] = fd
        run_e[f, term] = drop_idx
        out_from[f] = drop_idx
        fatal_day[f] = fd
        lo, hi = p.precursor_days
        d = rng.integers(lo, hi + 1, len(f))
        is_ns = noshow[fatal]
        ramp_s[f, term] = np.where(is_ns, -1, np.maximum(fd - d, 0))
        peak[f, term] = rng.uniform(*p.precursor_peak, len(f))
        ll = (~is_ns) & (rng.random(len(f)) < p.long_leave_before_dropout) & (fd > 10)
        long_leave[f[ll]] = fd[ll] - 8
        reasons = self._reasons(f)
        self._registry(f, mark_date, "suspected_mark", reason=reasons, verified=False)
        self._registry(f, drop_date, "dropout_mark", reason=reasons, verified=True)
        for i, s_, m_, dd, ns_ in zip(f, fd, mark, drop_date, is_ns, strict=True):
            self.episodes.append({"student_id": self.sid(np.array([i]))[0], "start_date": dates[s_], "mark_date": dates[m_],
                                  "dropout_date": dd, "fatal": True, "noshow": bool(ns_), "academic_year": sy.year,
                                  "grade": int(pop.grade[i]), "term": term, "disengage_start": dates[max(int(ramp_s[i, term]), 0)] if ramp_s[i, term] >= 0 else pd.NaT})  # fmt: skip
        # non-fatal: out for a run of school days, then back
        nf = ids[nonfatal]
        nfd = day[nonfatal]
        run = 4 + np.minimum(rng.geometric(1 / max(p.nonfatal_run_mean - 3, 1.01), len(nf)), 11)
        end = np.minimum(nfd + run, nd)
        # do not overwrite a fatal run of the other term
        free = run_s[nf, term] < 0
        nf, nfd, end, run = nf[free], nfd[free], end[free], run[free]
        run_s[nf, term] = nfd
        run_e[nf, term] = end
        lo, hi = p.nonfatal_precursor_days
        ramp_s[nf, term] = np.maximum(nfd - rng.integers(lo, hi + 1, len(nf)), 0)
        peak[nf, term] = rng.uniform(*p.nonfatal_precursor_peak, len(nf))
        marked = run >= MARK_DAY
        self._registry(
            nf[marked],
            dates[np.minimum(nfd[marked] + MARK_DAY - 1, nd - 1)],
            "suspected_mark",
            verified=False,
        )
        back = end < nd
        self._registry(nf[marked & back], dates[end[marked & back]], "return_mark", verified=True)
        for i, s_, e_ in zip(nf, nfd, end, strict=True):
            self.episodes.append({"student_id": self.sid(np.array([i]))[0], "start_date": dates[s_],
                                  "mark_date": dates[min(s_ + MARK_DAY - 1, nd - 1)] if e_ - s_ >= MARK_DAY else pd.NaT,
                                  "dropout_date": pd.NaT, "fatal": False, "noshow": False, "academic_year": sy.year,
                                  "grade": int(pop.grade[i]), "term": term, "disengage_start": pd.NaT})  # fmt: skip

    def _reasons(self, idx: np.ndarray) -> np.ndarray:
        pop, rng = self.pop, self.rng
        r = np.full(len(idx), "other", dtype=object)
        choices = [
            (pop.trend[idx] > 0.8, "learning_difficulty"),
            (pop.ability[idx] < -0.5, "learning_difficulty"),
            (pop.male[idx] & (pop.overage[idx] > 0) & (pop.grade[idx] >= 7), "work"),
            (pop.poor[idx], "economic"),
            (np.isin(pop.lb[idx], (2, 3)), "guardian"),
            (pop.anxiety[idx] > 1.5, "mental_health"),
            (pop.dist[idx] > 3, "distance"),
            (pop.disab[idx] > 0, "disability"),
            (
                ~pop.male[idx]
                & (pop.grade[idx] >= 8)
                & (pop.overage[idx] > 0)
                & (rng.random(len(idx)) < 0.2),
                "early_marriage",
            ),
        ]
        for mask, name in reversed(choices):
            r[mask] = name
        return r

    def _var_parts(self, parts: dict) -> None:
        u = parts["unobserved"]
        total = parts["alpha"] + parts["observed"] + parts["school"] + u
        within = total - parts["alpha"]
        self._var.append((float(np.var(u)), float(np.var(total)), float(np.var(within))))

    def _exams(self, idx: np.ndarray, yr: _Year) -> None:
        pop, rng = self.pop, self.rng
        sy, start_idx, end_idx, run_s, run_e = yr.sy, yr.start, yr.end, yr.run_s, yr.run_e
        out_from, out_to = yr.out_from, yr.out_to
        schedule = [
            (0, "monthly", sy.autumn_start + dt.timedelta(days=52)),
            (0, "midterm", sy.autumn_start + dt.timedelta(days=75)),
            (0, "final", sy.autumn_end - dt.timedelta(days=4)),
            (1, "monthly", sy.spring_start + dt.timedelta(days=30)),
            (1, "midterm", sy.spring_start + dt.timedelta(days=58)),
            (1, "final", sy.spring_end - dt.timedelta(days=7)),
        ]
        sch_ids = self.geo.schools["school_id"].to_numpy()
        exams, results = [], []
        for k, (term, etype, when) in enumerate(schedule):
            day = sy.snap(when)
            for grade in range(1, 10):
                if grade == 9 and etype == "final" and term == 1:
                    etype_g, day_g = "zhongkao", sy.snap(sy.zhongkao)
                else:
                    etype_g, day_g = etype, day
                who = idx[(pop.grade[idx] == grade) & (start_idx[idx] <= day_g) & (end_idx[idx] > day_g)]
                gone = (
                    (out_from[who] >= 0)
                    & (out_from[who] <= day_g)
                    & ~((out_to[who] >= 0) & (out_to[who] <= day_g))
                )
                who = who[~gone]
                if not len(who):
                    continue
                in_run = ((run_s[who, 0] >= 0) & (run_s[who, 0] <= day_g) & (run_e[who, 0] > day_g)) | (
                    (run_s[who, 1] >= 0) & (run_s[who, 1] <= day_g) & (run_e[who, 1] > day_g)
                )
                absent = in_run | (rng.random(len(who)) < 0.01)
                school = pop.school[who]
                exam_id = np.char.add(
                    np.char.add(f"E{sy.year}{k}-", sch_ids[school].astype(str)), f"-g{grade}"
                )
                date = pd.Timestamp(sy.school_days[day_g])
                ex = pd.DataFrame({"exam_id": exam_id, "school_id": sch_ids[school]}).drop_duplicates()
                exams.append(
                    ex.assign(grade=grade, term_id=sy.term_id(term), exam_type=etype_g, exam_date=date)
                )
                subjects = (
                    ["chinese", "math"]
                    + (["english"] if grade >= 3 else [])
                    + (["morality_law"] if grade >= 7 else [])
                )
                subjects += ["physics"] if grade >= 8 else []
                comp = (
                    pop.ability[who]
                    + 0.25 * pop.trend[who] * (self.term_no - 1 + term)
                    + rng.normal(0, 0.3, len(who))
                )
                for subj in subjects:
                    full = 120.0 if grade >= 7 and subj in ("chinese", "math", "english") else 100.0
                    z = comp + rng.normal(0, 0.45, len(who))
                    score = np.round(full * np.clip(0.72 + 0.13 * z, 0.05, 1.0) * 2) / 2
                    score[absent] = np.nan
                    lv_only = self.levels_only[school]
                    frame = pd.DataFrame({"student_id": self.sid(who), "exam_id": exam_id, "subject": subj,
                                          "score": np.where(lv_only, np.nan, score), "full_marks": np.where(lv_only, np.nan, full),
                                          "level": None, "absent": absent})  # fmt: skip
                    if lv_only.any():
                        pct = (
                            pd.Series(np.where(absent, np.nan, z)).groupby(exam_id).rank(pct=True).to_numpy()
                        )
                        lvl = np.select([pct >= 0.85, pct >= 0.5, pct >= 0.2], ["A", "B", "C"], "D")
                        lvl = np.where(np.isnan(pct), None, lvl)
                        frame.loc[lv_only, "level"] = lvl[lv_only]
                    results.append(frame)
        self.rows["exams"].append(pd.concat(exams, ignore_index=True))
        self.rows["exam_results"].append(pd.concat(results, ignore_index=True))

    # ---------------------------------------------------------------- truth
    def _truth_monthly(self, idx: np.ndarray, yr: _Year, p_term, p_noshow, dens) -> None:
        """True probability of a positive label within 90 days, at each month start Sep..Jun.

        Given what the generator knows at the month start: the term hazards, and whether a
        scheduled dropout has already begun to show (its precursor started, or the student
        stopped coming, before that day). Students whose dropout has not begun are scored by
        the prior over the episode day and the precursor length, conditioned on nothing
        having begun yet. Students already marked as dropouts (and not back) are left out.
        """
        p, pop = self.p, self.pop
        sy, ramp_s, fatal_t, out_to = yr.sy, yr.ramp_s, yr.fatal_t, yr.out_to
        days = sy.school_days
        nd = len(days)
        lo, hi = p.precursor_days
        k = np.arange(-nd, 2 * nd)
        F = np.clip((k - lo + 1) / (hi - lo + 1), 0, 1)  # P(precursor length d <= k)
        mark_of = days[np.minimum(np.arange(nd) + MARK_DAY - 1, nd - 1)]
        horizon = np.timedelta64(HORIZON_DAYS, "D")
        gr9 = pop.grade[idx] == 9
        back_at = out_to[idx]
        out = []
        for month in (9, 10, 11, 12, 1, 2, 3, 4, 5, 6):
            m_date = np.datetime64(dt.date(sy.year + (month < 9), month, 1))
            m_idx = int(np.searchsorted(days, m_date))
            in_window = (mark_of > m_date) & (mark_of <= m_date + horizon)
            # P(precursor not begun by m | episode day E): ramps start at max(E - d, 0)
            if m_idx == 0:
                notbegun = np.ones(nd)
            else:
                notbegun = F[np.arange(nd) - m_idx + nd]
                notbegun[np.arange(nd) < m_idx] = 0.0
            prob = np.zeros(len(idx))
            for is9 in (False, True):
                sel = gr9 == is9
                w = dens[is9]
                num, den = np.zeros(sel.sum()), np.zeros(sel.sum())
                for term in (0, 1):
                    wt = w * (sy.term == term)
                    wt = wt / wt.sum()
                    pt = p_term[idx[sel], term]
                    num += pt * float((wt * in_window * notbegun).sum())
                    den += pt * float((wt * (1 - notbegun)).sum())
                prob[sel] = num / np.maximum(1 - den, 1e-9)
            # g7 no-shows: out from the first school day, marked on the fifth
            if m_idx == 0:
                prob += p_noshow[idx] * bool(in_window[0])
            known = np.zeros(len(idx), bool)
            gone = np.zeros(len(idx), bool)
            for term in (0, 1):
                fd = fatal_t[idx, term]
                has = fd >= 0
                mark = days[np.minimum(np.maximum(fd, 0) + MARK_DAY - 1, nd - 1)]
                drop = mark + np.timedelta64(DROPOUT_AFTER_DAYS, "D")
                rs = ramp_s[idx, term]
                begun = has & (((rs >= 0) & (rs < m_idx)) | (fd < m_idx))
                returned = (back_at >= 0) & (back_at <= m_idx) & (term == 0)
                active = begun & (drop > m_date) & ~returned
                hit = active & (mark <= m_date + horizon)
                prob = np.where(active, hit.astype(float), prob)
                known |= active
                gone |= has & (drop <= m_date) & ~returned
            keep = ~(gone & ~known)
            out.append(pd.DataFrame({"student_id": self.sid(idx[keep]), "as_of": pd.Timestamp(m_date),
                                     "p_true": np.clip(prob[keep], 0, 1)}))  # fmt: skip
        self.risk_monthly.append(pd.concat(out, ignore_index=True))

    # ---------------------------------------------------------------- assemble
    def finish(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        pop = self.pop
        frames: dict[str, pd.DataFrame] = {}
        for name, parts in self.rows.items():
            if parts:
                frames[name] = pd.concat(parts, ignore_index=True)
        # students: close versions (valid_to = next version's valid_from, or the exit date)
        st = (
            frames["students"].sort_values(["student_id", "valid_from"], kind="stable").reset_index(drop=True)
        )
        nxt = st.groupby("student_id")["valid_from"].shift(-1)
        st["valid_to"] = nxt
        closed = pd.concat(self._closed, ignore_index=True) if self._closed else None
        if closed is not None:
            last = nxt.isna()
            cl = st.loc[last, ["student_id"]].merge(closed, on="student_id", how="left")["closed"].to_numpy()
            st.loc[last, "valid_to"] = cl
        frames["students"] = st
        # hardship exits
        if self._poverty_exits:
            ex = pd.concat(self._poverty_exits).drop_duplicates("student_id", keep="first")
            h = frames["hardship"]
            first_open = h.merge(ex, on="student_id", how="left")
            ok = first_open["exit"].notna() & (first_open["exit"] > h["valid_from"])
            h.loc[ok.to_numpy(), "valid_to"] = first_open.loc[ok, "exit"].to_numpy()
            frames["hardship"] = h
        # schools, calendar, staff
        frames["schools"] = self.geo.schools
        cal = []
        for sy in self.calendars:
            term = np.where(sy.dates >= np.datetime64(sy.spring_start), 1, 0)
            tid = np.array([sy.term_id(0), sy.term_id(1)])[term]
            for sch in self.geo.schools["school_id"]:
                cal.append(pd.DataFrame({"school_id": sch, "date": pd.to_datetime(sy.dates), "is_school_day": sy.is_school_day,
                                         "term_id": np.where(sy.is_school_day, tid, None), "day_type": sy.day_type}))  # fmt: skip
        frames["calendar"] = pd.concat(cal, ignore_index=True)
        frames["classes"] = frames["classes"].drop_duplicates("class_id").reset_index(drop=True)
        frames["staff"] = self._staff(frames["classes"])
        frames["exams"] = frames["exams"].drop_duplicates("exam_id").reset_index(drop=True)
        # the students table carries no name: names live in student_names only
        truth = {
            "risk_monthly": pd.concat(self.risk_monthly, ignore_index=True),
            "student_years": pd.concat(self.student_years, ignore_index=True),
            "episodes": pd.DataFrame(self.episodes),
            "latent": pd.DataFrame(
                {
                    "student_id": self.sid(np.arange(pop.n)),
                    "ability": pop.ability[: pop.n],
                    "trend": pop.trend[: pop.n],
                    "anxiety": pop.anxiety[: pop.n],
                    "unobserved_other": pop.unobs[: pop.n],
                    "siblings_2plus": pop.sib2[: pop.n],
                    "school_effect": self.school_re[pop.school[: pop.n]],
                }
            ),  # fmt: skip
        }
        return frames, truth

    def _staff(self, classes: pd.DataFrame) -> pd.DataFrame:
        rows = []
        ht = classes.sort_values("academic_year").drop_duplicates("head_teacher_id", keep="last")
        rows.append(pd.DataFrame({"staff_id": ht["head_teacher_id"], "school_id": ht["school_id"], "role": "head_teacher",
                                  "class_id": ht["class_id"], "max_open_cases": 5}))  # fmt: skip
        for _, s in self.geo.schools.iterrows():
            sid = s["school_id"]
            n_c = 1 if s["school_type"] == "teaching_point" else 2
            roles = [("principal", 0), ("academic_office", 0), ("moral_ed", 8)] + [("counsellor", 15)] * n_c
            for k, (role, cap) in enumerate(roles):
                rows.append(pd.DataFrame({"staff_id": [f"{sid}-{role[:2].upper()}{k}"], "school_id": [sid], "role": [role],
                                          "class_id": [None], "max_open_cases": [cap]}))  # fmt: skip
        return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------------
# attendance, generated in chunks


def _attendance_chunk(spec: dict, lo: int, hi: int, sid_of) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily attendance rows and leave requests for students lo..hi of one school year's spec."""
    sy: SchoolYear = spec["sy"]
    rng = np.random.default_rng([spec["seed"], lo])
    n = hi - lo
    nd = len(sy.school_days)
    col = np.arange(nd)[None, :]
    sl = slice(lo, hi)
    start, end = spec["start"][sl, None], spec["end"][sl, None]
    enrolled = (col >= start) & (col < end)
    of, ot = spec["out_from"][sl, None], spec["out_to"][sl, None]
    gone = (of >= 0) & (col >= of) & ((ot < 0) | (col < ot))
    has_row = enrolled & ~gone
    p: Preset = spec["preset"]
    u = spec["u"][sl, None] * np.where(sy.term[None, :] == 1, p.unexcused_spring_factor, 1.0)
    prob = np.broadcast_to(u, (n, nd)).astype(np.float32).copy()
    forced = np.zeros((n, nd), bool)
    for t in (0, 1):
        rs, re_ = spec["run_s"][sl, t][:, None], spec["run_e"][sl, t][:, None]
        forced |= (rs >= 0) & (col >= rs) & (col < re_)
        ramp = spec["ramp_s"][sl, t][:, None]
        in_ramp = (ramp >= 0) & (col >= ramp) & (col < rs)
        frac = (col - ramp + 1) / np.maximum(rs - ramp, 1)
        prob = np.where(in_ramp, np.maximum(prob, spec["peak"][sl, t][:, None] * frac), prob)
    r = rng.random((n, nd), dtype=np.float32)
    status = np.full((n, nd), PRESENT, np.int8)
    status[r < p.late_rate + p.left_early_rate] = LEFT_EARLY
    status[r < p.late_rate] = LATE
    # leave spells (sick / personal), 1..5 days, plus rare long ones and one before some dropouts
    start_leave = rng.random((n, nd), dtype=np.float32) < p.leave_start_rate
    length = np.minimum(rng.geometric(1 / p.leave_mean_days, (n, nd)), 5).astype(np.int8)
    long_start = rng.random((n, nd), dtype=np.float32) < p.long_leave_start_rate
    length = np.where(long_start, rng.integers(6, 16, (n, nd)), length).astype(np.int8)
    start_leave |= long_start
    ll = spec["long_leave"][sl]
    rows_ll = np.flatnonzero(ll >= 0)
    start_leave[rows_ll, ll[rows_ll]] = True
    length[rows_ll, ll[rows_ll]] = 7
    sick = rng.random((n, nd), dtype=np.float32) < 0.6
    leave_id_num = np.full((n, nd), -1, np.int64)
    si, sj = np.nonzero(start_leave & has_row)
    spell_no = np.arange(len(si))
    L = length[si, sj]
    kind = np.where(sick[si, sj], LEAVE_SICK, LEAVE_PERSONAL).astype(np.int8)
    for k in range(int(L.max()) if len(L) else 0):
        ok = (L > k) & (sj + k < nd)
        ii, jj = si[ok], sj[ok] + k
        free = leave_id_num[ii, jj] < 0
        leave_id_num[ii[free], jj[free]] = spell_no[ok][free]
        status[ii[free], jj[free]] = kind[ok][free]
    unexc = (r < prob) & (leave_id_num < 0)
    status[unexc] = UNEXCUSED
    status[forced] = UNEXCUSED
    leave_id_num[forced] = -1
    ii, jj = np.nonzero(has_row)
    sids = sid_of(spec["idx"][sl])
    prefix = f"{spec.get('id_prefix', '')}L{sy.year}-{lo:07d}-"
    lid = leave_id_num[ii, jj]
    leave_ids = np.where(lid >= 0, np.char.add(prefix, lid.astype(str)), None)
    att = pd.DataFrame(
        {
            "student_id": pd.Categorical.from_codes(ii, categories=pd.Index(sids))
            if n
            else pd.Categorical([]),
            "date": pd.to_datetime(sy.school_days[jj]),
            "session": "day",
            "status": pd.Categorical.from_codes(status[ii, jj], categories=list(STATUS_CODES)),
            "leave_id": leave_ids,
        }
    )
    # leave requests for the spells that produced at least one row
    used = np.unique(lid[lid >= 0])
    end_j = np.minimum(sj + L - 1, nd - 1)
    lr = pd.DataFrame(
        {
            "leave_id": np.char.add(prefix, spell_no.astype(str)),
            "student_id": sids[si],
            "start_date": pd.to_datetime(sy.school_days[sj]),
            "end_date": pd.to_datetime(sy.school_days[end_j]),
            "reason": np.where(kind == LEAVE_SICK, "sick", np.where(L > 5, "family", "personal")),
            "approver_role": np.where(L > 5, "principal", np.where(L > 2, "academic_office", "head_teacher")),
            "approved": True,
            "returned_at": pd.to_datetime(sy.school_days[np.minimum(end_j + 1, nd - 1)]),
        }
    ).iloc[used]
    return att, lr


def _iter_attendance(sim: _Simulator, chunk: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    for spec in sim.att_specs:
        n = len(spec["idx"])
        for lo in range(0, n, chunk):
            yield _attendance_chunk(spec, lo, min(lo + chunk, n), sim.sid)


# --------------------------------------------------------------------------------------------
# public API


def _window_shares(sim: _Simulator, fatal: pd.DataFrame) -> dict[str, float | None]:
    """Shares of dropout episodes (no-shows included) starting in the SIMULATOR.md windows."""
    if not len(fatal):
        return {
            "share_fatal_autumn_start": None,
            "share_fatal_after_festival": None,
            "share_fatal_pre_zhongkao_g9": None,
        }
    p = sim.p
    start = pd.to_datetime(fatal["start_date"]).to_numpy()
    aut = np.zeros(len(fatal), bool)
    fest = np.zeros(len(fatal), bool)
    pre = np.zeros(len(fatal), bool)
    for sy in sim.calendars:
        a0, f0, z = np.datetime64(sy.autumn_start), np.datetime64(sy.spring_start), np.datetime64(sy.zhongkao)
        aut |= (start >= a0) & (start < a0 + np.timedelta64(p.autumn_window_days, "D"))
        fest |= (start >= f0) & (start < f0 + np.timedelta64(p.festival_window_days, "D"))
        pre |= (start < z) & (start >= z - np.timedelta64(p.zhongkao_window_days, "D"))
    g9 = fatal["grade"].to_numpy() == 9
    return {
        "share_fatal_autumn_start": float(aut.mean()),
        "share_fatal_after_festival": float(fest.mean()),
        "share_fatal_pre_zhongkao_g9": float(pre[g9].mean()) if g9.any() else None,
    }


def _meta(
    sim: _Simulator, frames: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame], preset: Preset
) -> dict:
    sy = truth["student_years"]
    ep = truth["episodes"]
    fatal = ep[ep["fatal"]] if len(ep) else ep
    rates = {}
    for band, grades in (("primary_1_5", range(1, 6)), ("grade_6", [6]), ("junior_7_9", range(7, 10))):
        base = sy[sy["grade"].isin(grades)]
        n_drop = len(fatal[fatal["grade"].isin(grades) & ~fatal["noshow"]]) if len(fatal) else 0
        rates[band] = n_drop / max(len(base), 1)
    for g in range(7, 10):
        base = sy[sy["grade"] == g]
        rates[f"grade_{g}"] = (
            len(fatal[(fatal["grade"] == g) & ~fatal["noshow"]]) if len(fatal) else 0
        ) / max(len(base), 1)
    junior = sy[sy["grade"] >= 7]
    var_u = np.mean([v[0] for v in sim._var])
    var_t = np.mean([v[1] for v in sim._var])
    lb = sy[sy["grade"] >= 7]["left_behind"]
    start = pd.to_datetime(fatal["start_date"]) if len(fatal) else pd.Series([], dtype="datetime64[s]")
    return {
        "preset": preset.name,
        "county_code": str(sim.geo.schools["county_code"].iloc[0]),
        "seed": sim.seed,
        "years": sim.years,
        "start_year": sim.start_year,
        "students_total": int(sim.pop.n),
        "schools": len(frames["schools"]),
        "dropout_rate": rates,
        "noshow_rate_g7": (len(fatal[fatal["noshow"]]) if len(fatal) else 0)
        / max(len(sy[sy["grade"] == 7]), 1),
        "episodes_per_student_year_junior": (len(ep[ep["grade"] >= 7]) if len(ep) else 0)
        / max(len(junior), 1),
        "share_fatal_in_september": float((start.dt.month == 9).mean()) if len(start) else None,
        "share_fatal_in_march": float((start.dt.month == 3).mean()) if len(start) else None,
        **_window_shares(sim, fatal),
        "left_behind_share_junior": float((lb > 0).mean()),
        "left_behind_both_share_junior": float((lb == 3).mean()),
        "poverty_share": float(sy["poor"].mean()),
        "unobserved_share": float(var_u / var_t) if var_t else None,
        "unobserved_share_within_grade": float(var_u / np.mean([v[2] for v in sim._var])),
        "unobserved_sd": float(math.sqrt(var_u)),
        "horizon_days": HORIZON_DAYS,
        "levels_only_schools": int(sim.levels_only.sum()),
        "notes": "risk_monthly.p_true is the probability of a positive label (DATA_CONTRACT default, "
        "90 days) given the generator's state at the month start; spring hazards use the state "
        "after Spring Festival, a small look-ahead for as-of dates in December-February.",
    }


def simulate_county(
    students: int = 3000,
    years: int = 3,
    seed: int = 0,
    preset: str | Preset = "current",
    *,
    start_year: int | None = None,
    attendance: bool = True,
    chunk: int = 20_000,
    messy: bool = False,
    county_code: str = COUNTY_CODE,
    id_prefix: str = "",
) -> SimulatedCounty:
    """Simulate a county of about ``students`` students (grades 1-9) over ``years`` school years.

    Parameters
    ----------
    students : int
        Students enrolled at the start; each later year adds a new grade-1 intake.
    years : int
        School years to simulate (at least 1; 3 or more for temporal validation).
    seed : int
        Same arguments and seed give identical frames.
    preset : {"reap_2010", "current"} or Preset
        Calibration preset (SIMULATOR.md), or one with fields replaced
        (:func:`features.sim.get_preset`).
    start_year : int, optional
        First school year (September); the preset's default when omitted.
    attendance : bool
        Build the attendance table in memory. ``write_county`` streams it instead.
    messy : bool
        Inject the faults real exports have (see :mod:`features.sim.messy`).
    county_code : str
        The ``schools.county_code`` of every school.
    id_prefix : str
        Put before every student, school, class, staff, exam and leave id, so that ids stay
        unique across the counties of a province (:mod:`features.sim.province`).
    """
    if students < 50:
        raise ValueError(f"students must be >= 50 for a county with schools in it, got {students}")
    if years < 1:
        raise ValueError(f"years must be >= 1, got {years}")
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    sim = _Simulator(students, years, seed, p, start_year or p.start_year, county_code, id_prefix)
    for y in range(sim.start_year, sim.start_year + years):
        sim.run_year(y)
    frames, truth = sim.finish()
    if attendance:
        parts = list(_iter_attendance(sim, chunk))
        ids = pd.Index(sim.sid(np.arange(sim.pop.n)))
        att = [a.assign(student_id=a["student_id"].cat.set_categories(ids)) for a, _ in parts]
        frames["attendance"] = pd.concat(att, ignore_index=True)
        frames["leave_requests"] = pd.concat([lr for _, lr in parts], ignore_index=True)
    county = SimulatedCounty(frames=frames, truth=truth, meta=_meta(sim, frames, truth, p))
    county._generator = (sim, chunk)
    if messy:
        from features.sim.messy import make_messy

        county = make_messy(county, seed=seed)
    return county


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def write_county(county: SimulatedCounty, out: str | Path) -> dict[str, int]:
    """Write every table as ``out/<table>.parquet`` (or ``.csv`` for messy exports) and the
    truth to ``out/truth/``. Attendance is streamed chunk by chunk when it was not built in
    memory. Returns rows written per table."""
    out = Path(out)
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    csv_tables = county.meta.get("csv_tables", [])
    for name, frame in county.frames.items():
        if name in csv_tables:
            frame.to_csv(out / f"{name}.csv", index=False, encoding="utf-8-sig")
        else:
            pq.write_table(_to_arrow(frame), out / f"{name}.parquet", compression="zstd")
        counts[name] = len(frame)
    if "attendance" not in county.frames:
        sim, chunk = county._generator
        ids = pa.array(sim.sid(np.arange(sim.pop.n)))
        writer = lr_writer = None
        n_att = n_lr = 0
        try:
            for att, lr in _iter_attendance(sim, chunk):
                codes = att["student_id"].cat.codes.to_numpy()
                local = att["student_id"].cat.categories.to_numpy()
                glob = np.searchsorted(ids.to_numpy(zero_copy_only=False), local)
                dict_arr = pa.DictionaryArray.from_arrays(pa.array(glob[codes].astype(np.int32)), ids)
                table = pa.table(
                    {
                        "student_id": dict_arr,
                        "date": pa.array(att["date"].to_numpy().astype("datetime64[s]")),
                        "session": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(att), np.int8)), pa.array(["day"])),
                        "status": pa.DictionaryArray.from_arrays(pa.array(att["status"].cat.codes.to_numpy()), pa.array(list(STATUS_CODES))),
                        "leave_id": pa.array(att["leave_id"], type=pa.string(), from_pandas=True),
                    }
                )  # fmt: skip
                if writer is None:
                    writer = pq.ParquetWriter(out / "attendance.parquet", table.schema, compression="zstd")
                writer.write_table(table)
                n_att += len(att)
                lrt = _to_arrow(lr)
                if lr_writer is None:
                    lr_writer = pq.ParquetWriter(
                        out / "leave_requests.parquet", lrt.schema, compression="zstd"
                    )
                lr_writer.write_table(lrt.cast(lr_writer.schema))
                n_lr += len(lr)
        finally:
            if writer is not None:
                writer.close()
            if lr_writer is not None:
                lr_writer.close()
        counts["attendance"], counts["leave_requests"] = n_att, n_lr
    for name, frame in county.truth.items():
        pq.write_table(_to_arrow(frame), out / TRUTH_DIR / f"{name}.parquet", compression="zstd")
    if county.faults is not None:
        county.faults.to_csv(out / TRUTH_DIR / "faults.csv", index=False)
    meta = {k: v for k, v in county.meta.items() if k != "config_toml"}
    if "config_toml" in county.meta:
        (out / "baoxue.toml").write_text(county.meta["config_toml"], encoding="utf-8")
    (out / TRUTH_DIR / "meta.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return counts


def read_truth(data_dir: str | Path, name: str = "risk_monthly") -> pd.DataFrame | None:
    """A truth table of a simulated county (``DATA_DIR/truth/<name>.parquet``), or ``None`` for
    real data. Only evaluation reads it (the oracle baseline); features and models never do."""
    path = Path(data_dir) / TRUTH_DIR / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None
