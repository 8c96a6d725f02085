"""The simulated students: who they are, where they live, which school and class they attend,
and the rows that say so (``students``, ``classes``, the enrolment dates).

A new student's household is drawn with them (:mod:`features.sim.household`).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from features.sim.calendar import SchoolYear
from features.sim.household import caregiver, household_rows
from features.sim.names import class_name
from features.sim.state import SimState

__all__ = [
    "class_id",
    "classes_rows",
    "close_student",
    "enrol_dates",
    "new_students",
    "place",
    "student_rows",
]


def _month(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def new_students(sim: SimState, k: int, grade: np.ndarray, year: int, enrol_date: dt.date) -> np.ndarray:
    """Add ``k`` students in ``grade`` for school year ``year``, with their household; their numbers."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
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
    pop.town[idx] = rng.integers(0, sim.n_town, k)
    pop.village[idx] = rng.integers(0, sim.geo.villages, k)
    has_tp = sim.geo.tp_of[pop.town[idx], pop.village[idx]] >= 0
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
    pop.caregiver[idx] = caregiver(sim, lb)
    poor = rng.random(k) < p.poverty
    pop.poor[idx] = poor
    pop.poor_type[idx] = rng.choice(5, k, p=[0.6, 0.2, 0.15, 0.03, 0.02])
    ill = rng.random(k) < (p.parent_chronic + p.parent_disabled)
    pop.parent_ill[idx] = ill
    pop.ability[idx] -= 0.15 * poor + 0.1 * (lb == 3)
    household_rows(sim, idx, year)
    return idx


def enrol_dates(sim: SimState, idx: np.ndarray) -> np.ndarray:
    """The first day of the month each student first enrolled (their ``enrol_ym``)."""
    m = sim.pop.enrol_m[idx]
    return np.array([np.datetime64(dt.date(int(x // 12), int(x % 12) + 1, 1)) for x in m]) if len(m) else m


def student_rows(sim: SimState, idx: np.ndarray, year: int, sy: SchoolYear, start_idx: np.ndarray) -> None:
    """This year's ``students`` versions (and a second one for the few who change class mid-year)."""
    pop = sim.pop
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
            "student_id": sim.sid(idx),
            "valid_from": vf,
            "valid_to": pd.NaT,
            "school_id": sim.geo.schools["school_id"].to_numpy()[sch],
            "class_id": class_id(sim, sch, pop.grade[idx], pop.klass[idx], year),
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
            "inclusive_ed": np.array(["none", "visual", "hearing", "intellectual", "other"])[pop.disab[idx]],
            "disability_type": np.where(pop.disab[idx] > 0, "registered", None),
            "health_status": pop.health[idx],
            "distance_km": np.round(pop.dist[idx] * np.where(pop.grade[idx] >= 7, 3.0, 1.0), 1),
            "commute_mode": commute,
        }
    )
    sim.rows["students"].append(frame)
    # a few students change class mid-year: a new version
    mover = sim.rng.random(len(idx)) < sim.preset.class_change_midyear
    if mover.any():
        mv = frame.loc[mover].copy()
        nd = len(sy.school_days)
        day = sim.rng.integers(nd // 4, 3 * nd // 4, mover.sum())
        mv["valid_from"] = pd.to_datetime(sy.school_days[day])
        newk = (pop.klass[idx[mover]] + 1) % 3
        mv["class_id"] = class_id(sim, sch[mover], pop.grade[idx[mover]], newk, year)
        sim.rows["students"].append(mv)


def close_student(sim: SimState, idx: np.ndarray, dates) -> None:
    """Record the exit dates that close the students' last ``students`` version."""
    sim.closed.append(pd.DataFrame({"student_id": sim.sid(idx), "closed": pd.to_datetime(np.asarray(dates))}))


def classes_rows(sim: SimState, idx: np.ndarray, year: int) -> None:
    """This year's ``classes`` rows, with a head teacher each."""
    pop = sim.pop
    frame = pd.DataFrame(
        {"school": pop.school[idx], "grade": pop.grade[idx], "klass": pop.klass[idx]}
    ).drop_duplicates()
    k_all = frame.assign(klass=(frame["klass"] + 1) % 3)
    frame = pd.concat([frame, k_all]).drop_duplicates()
    s, g, k = frame["school"].to_numpy(), frame["grade"].to_numpy(), frame["klass"].to_numpy()
    sch = sim.geo.schools["school_id"].to_numpy()[s]
    ht = np.char.add(np.char.add(sch.astype(str), "-HT"), np.char.add(g.astype(str), (k + 1).astype(str)))
    sim.rows["classes"].append(
        pd.DataFrame(
            {
                "class_id": class_id(sim, s, g, k, year),
                "school_id": sch,
                "academic_year": year,
                "grade": g,
                "head_teacher_id": ht,
                "name": [class_name(gg, kk + 1) for gg, kk in zip(g, k, strict=True)],
            }
        )
    )


def place(sim: SimState, idx: np.ndarray, year: int) -> None:
    """School, boarding and class for students in ``idx`` for school year ``year``."""
    pop, p, rng, geo = sim.pop, sim.preset, sim.rng, sim.geo
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
    has_b = sim.geo.schools["has_boarding"].to_numpy()[school]
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


def class_id(
    sim: SimState, school: np.ndarray, grade: np.ndarray, klass: np.ndarray, year: int
) -> np.ndarray:
    """The class ids ``<school>-<year>-g<grade>-<class>``."""
    sch = sim.geo.schools["school_id"].to_numpy()[school]
    return np.char.add(
        np.char.add(np.char.add(sch.astype(str), f"-{year}-g"), grade.astype(str)),
        np.char.add("-", (klass + 1).astype(str)),
    )
