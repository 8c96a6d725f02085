"""One simulated school year, in the order its random draws are made.

Enrolment (the first year's cohort, or a new grade-1 intake, plus transfers in), schools and
classes, the year's churn exits, the two terms' hazards and episodes (with the 小升初 no-shows
and the autumn dropouts brought back in spring), the truth, attendance's schedule, exams, aid,
family events, and the year end (graduation, promotion, repetition). Every step draws from
``sim.rng``: changing their order changes the county.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.sim.attendance import AttendanceSpec
from features.sim.calendar import SchoolYear, school_year
from features.sim.dropout import add_episodes, calibrate, log_hazard, timing_density
from features.sim.exams import exam_rows
from features.sim.household import aid, family_events, spring_festival
from features.sim.population import (
    classes_rows,
    close_student,
    enrol_dates,
    new_students,
    place,
    student_rows,
)
from features.sim.state import SimState, YearSchedule
from features.sim.truth import record_variance, truth_monthly

__all__ = ["run_year"]

#: the churn exits drawn for the year, in the order they are drawn (and resolved)
CHURN_KINDS = ("transfer_out", "deceased", "abroad", "suspend")


def run_year(sim: SimState, year: int) -> None:
    """Simulate school year ``year`` (September ``year`` to July ``year + 1``)."""
    p, pop = sim.preset, sim.pop
    sy = school_year(year)
    sim.calendars.append(sy)
    sim.term_no = 2 * (year - sim.start_year)
    idx, inn, in_day = _enrol(sim, sy, year)
    place(sim, idx, year)
    yr = YearSchedule.new(sy, pop.n)
    yr.start[inn] = in_day
    yr.end[pop.grade[: pop.n] == 9] = sy.snap(sy.zhongkao) + 1
    student_rows(sim, idx, year, sy, yr.start)
    classes_rows(sim, idx, year)
    exit_day, exit_kind = _churn_exits(sim, idx, len(sy.school_days))
    terms = _terms(sim, yr, idx, inn, exit_day)
    _resolve_exits(sim, yr, idx, exit_day, exit_kind)
    # truth: monthly 90-day probabilities for students in school at the start of the year
    truth_monthly(sim, idx, yr, terms.p_term, terms.p_noshow, terms.dens)
    sim.student_years.append(_student_year(sim, idx, year, terms))
    record_variance(sim, terms.parts0)
    # attendance's schedule for the chunked generator
    lh = terms.lh_year[idx]
    u = p.unexcused_base * np.exp(0.6 * pop.absence_z[idx] + 0.15 * (lh - lh.mean()))
    sim.att_specs.append(
        AttendanceSpec.of_year(yr, idx, u.astype(np.float32), sim.seed * 1000 + year, p, sim.id_prefix)
    )
    exam_rows(sim, idx, yr)
    aid(sim, idx, sy)
    family_events(sim, idx, sy)
    _year_end(sim, yr, idx, year)


def _enrol(sim: SimState, sy: SchoolYear, year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The year's new students and their registry events: students in school, transfers in,
    and the school day each transfer arrives."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
    nd = len(sy.school_days)
    first_year = year == sim.start_year
    if first_year:
        per_grade = np.full(9, max(sim.n_students // 9, 1))
        grades = np.repeat(np.arange(1, 10), per_grade)
        new_students(sim, len(grades), grades, year, sy.autumn_start)
        sim.n_target_g1 = per_grade[0]
    else:
        k = int(sim.n_target_g1 * (1 + rng.normal(0, 0.03)))
        new = new_students(sim, k, np.ones(k, np.int8), year, sy.autumn_start)
        sim.registry(new, sy.autumn_start, "enrol")
    # transfers in: mostly at the start of the year
    k_in = rng.binomial(int(pop.in_school[: pop.n].sum()), p.transfer_in)
    inn = new_students(sim, k_in, rng.integers(1, 10, k_in).astype(np.int8), year, sy.autumn_start)
    in_day = np.where(rng.random(k_in) < 0.6, 0, rng.integers(0, nd, k_in))
    idx = np.flatnonzero(pop.in_school[: pop.n])
    if first_year:
        old = idx[~np.isin(idx, inn)]
        sim.registry(old, enrol_dates(sim, old), "enrol")
    sim.registry(inn, sy.school_days[in_day], "transfer_in")
    return idx, inn, in_day


def _churn_exits(sim: SimState, idx: np.ndarray, nd: int) -> tuple[np.ndarray, np.ndarray]:
    """The day and kind of each student's first churn exit this year (``nd`` and "" for none)."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
    exit_day = np.full(pop.n, nd, np.int32)
    exit_kind = np.full(pop.n, "", dtype=object)
    rates = {"transfer_out": p.transfer_out, "deceased": p.deceased, "abroad": p.abroad, "suspend": p.suspend}
    for kind in CHURN_KINDS:
        hit = idx[rng.random(len(idx)) < rates[kind]]
        day = np.where(rng.random(len(hit)) < 0.4, nd - 1, rng.integers(5, nd, len(hit)))
        better = day < exit_day[hit]
        exit_day[hit[better]] = day[better]
        exit_kind[hit[better]] = kind
    return exit_day, exit_kind


class _Terms:
    """What the two terms leave for the truth: per student (internal number) the term dropout
    probabilities, the no-show probability, the autumn log hazard and bottom-fifth flag; the
    seasonal densities and the autumn hazard's parts."""

    def __init__(self, n: int) -> None:
        self.p_term = np.zeros((n, 2))
        self.p_noshow = np.zeros(n)
        self.lh_year = np.zeros(n)
        self.bottom_year = np.zeros(n, bool)
        self.dens: dict[bool, np.ndarray] = {}
        self.parts0: dict = {}


def _terms(sim: SimState, yr: YearSchedule, idx: np.ndarray, inn: np.ndarray, exit_day: np.ndarray) -> _Terms:
    """Both terms' hazards and episodes, written into ``yr`` and the registry."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
    sy = yr.sy
    nd = len(sy.school_days)
    out = _Terms(pop.n)
    dens = out.dens = {False: timing_density(sim, sy, False), True: timing_density(sim, sy, True)}
    spring0 = int(np.argmax(sy.term == 1))
    for term in (0, 1):
        if term == 1:
            spring_festival(sim, idx, sy)
            sim.term_no += 1
        in_term = idx[
            (pop.in_school[idx]) & (yr.fatal_day[idx] < 0) & (exit_day[idx] > (0 if term == 0 else spring0))
        ]
        if term == 1:
            in_term = np.union1d(in_term, _bring_back(sim, yr, idx, spring0))
        base, parts = log_hazard(sim, in_term)
        if term == 0:
            alpha = calibrate(sim, in_term, base)
            sim.alpha_by_grade = {
                int(gr): float(alpha[pop.grade[in_term] == gr][0]) for gr in np.unique(pop.grade[in_term])
            }
            out.parts0 = dict(parts, alpha=alpha, grade=pop.grade[in_term].copy())
            out.bottom_year[in_term] = parts["bottom20"]
            out.lh_year[in_term] = base
        lookup = np.full(10, -10.0)
        for gr, a in sim.alpha_by_grade.items():
            lookup[gr] = a
        lam = np.exp(lookup[pop.grade[in_term]] + base)
        gr9 = pop.grade[in_term] == 9
        w_term = np.where(gr9, dens[True][sy.term == term].sum(), dens[False][sy.term == term].sum())
        p_fatal = 1 - np.exp(-lam * w_term)
        out.p_term[in_term, term] = p_fatal
        p_ep = np.minimum(0.95, p_fatal / p.episode_share_fatal)
        u = rng.random(len(in_term))
        fatal = u < p_fatal
        nonfatal = (u >= p_fatal) & (u < np.maximum(p_ep, p_fatal))
        # g7 no-shows at the autumn start (小升初)
        ns = np.zeros(len(in_term), bool)
        if term == 0:
            g7 = (pop.grade[in_term] == 7) & ~np.isin(in_term, inn)
            rel = np.exp(base[g7] - base[g7].mean())
            pns = np.clip(p.noshow_g7 * rel / rel.mean(), 0, 0.9)
            out.p_noshow[in_term[g7]] = pns
            ns[np.flatnonzero(g7)[rng.random(g7.sum()) < pns]] = True
            fatal &= ~ns
            nonfatal &= ~ns
        # episode day from the seasonal density restricted to the term
        day = np.empty(len(in_term), np.int64)
        for is9 in (False, True):
            m = gr9 == is9
            w = dens[is9] * (sy.term == term)
            cdf = np.cumsum(w / w.sum())
            day[m] = np.minimum(np.searchsorted(cdf, rng.random(m.sum())), nd - 1)
        day[ns] = 0
        # an episode after the student left for another reason does not happen
        ok = (day < exit_day[in_term]) & (day >= yr.start[in_term])
        fatal &= ok
        nonfatal &= ok
        ns &= ok
        add_episodes(sim, yr, in_term, day, fatal | ns, nonfatal, ns, term)
        yr.fatal_t[in_term[fatal | ns], term] = day[fatal | ns]
    return out


def _bring_back(sim: SimState, yr: YearSchedule, idx: np.ndarray, spring0: int) -> np.ndarray:
    """Dropouts of the autumn term brought back at the spring start (day ``spring0``)."""
    fatal_day, out_from = yr.fatal_day, yr.out_from
    back = idx[
        (fatal_day[idx] >= 0)
        & (fatal_day[idx] < spring0)
        & (sim.rng.random(len(idx)) < sim.preset.dropout_return_share)
    ]
    back = back[(out_from[back] >= 0) & (out_from[back] <= spring0)]
    yr.out_to[back] = spring0
    sim.pop.returned[back] = True
    sim.registry(back, np.repeat(yr.sy.school_days[spring0], len(back)), "return_mark", verified=True)
    fatal_day[back] = -1
    return back


def _resolve_exits(
    sim: SimState, yr: YearSchedule, idx: np.ndarray, exit_day: np.ndarray, exit_kind: np.ndarray
) -> None:
    """Record the churn exits: one counts only if it comes before a dropout."""
    pop, fatal_day = sim.pop, yr.fatal_day
    churn = idx[(exit_kind[idx] != "") & ((fatal_day[idx] < 0) | (exit_day[idx] < fatal_day[idx]))]
    for kind in CHURN_KINDS:
        sel = churn[exit_kind[churn] == kind]
        if not len(sel):
            continue
        dates = yr.sy.school_days[exit_day[sel]]
        sim.registry(sel, dates, kind, verified=True)
        yr.end[sel] = np.minimum(yr.end[sel], exit_day[sel])
        if kind != "suspend":
            pop.in_school[sel] = False
            pop.exited[sel] = True
            close_student(sim, sel, dates)
        else:
            pop.suspended[sel] = True


def _student_year(sim: SimState, idx: np.ndarray, year: int, terms: _Terms) -> pd.DataFrame:
    """The truth's ``student_years`` rows of this year."""
    pop = sim.pop
    return pd.DataFrame(
        {
            "student_id": sim.sid(idx),
            "academic_year": year,
            "grade": pop.grade[idx],
            "school_id": sim.geo.schools["school_id"].to_numpy()[pop.school[idx]],
            "bottom20": terms.bottom_year[idx],
            "log_hazard": terms.lh_year[idx],
            "p_autumn": terms.p_term[idx, 0],
            "p_spring": terms.p_term[idx, 1],
            "p_noshow": terms.p_noshow[idx],
            "left_behind": pop.lb[idx],
            "poor": pop.poor[idx],
            "boarding": pop.boarding[idx],
        }
    )


def _year_end(sim: SimState, yr: YearSchedule, idx: np.ndarray, year: int) -> None:
    """Graduation, promotion and repetition; suspended students resume; dropouts stay out."""
    p, rng, pop, fatal_day = sim.preset, sim.rng, sim.pop, yr.fatal_day
    still = idx[pop.in_school[idx] & (fatal_day[idx] < 0) & ~pop.suspended[idx]]
    still = still[yr.end[still] > 0]
    g = pop.grade[still]
    grad = still[g == 9]
    end_date = np.datetime64(yr.sy.spring_end)
    sim.registry(grad, np.repeat(end_date, len(grad)), "graduate")
    pop.in_school[grad] = False
    pop.exited[grad] = True
    close_student(sim, grad, np.repeat(end_date, len(grad)))
    rest = still[g < 9]
    rep_rate = np.where(pop.grade[rest] >= 7, p.repeat_junior, p.repeat_primary)
    low = pop.ability[rest] < -0.8
    repeat = rng.random(len(rest)) < rep_rate * np.where(low, 4.0, 0.3)
    prom = rest[~repeat]
    sim.registry(prom, np.repeat(end_date, len(prom)), "promote")
    pop.grade[prom] += 1
    pop.overage[rest[repeat]] += 1
    # suspended students resume next year; dropouts not brought back stay out
    sus = idx[pop.suspended[idx]]
    if year + 1 < sim.start_year + sim.years and len(sus):
        sim.registry(sus, np.repeat(np.datetime64(dt.date(year + 1, 9, 1)), len(sus)), "resume")
    pop.suspended[sus] = False
    out = idx[(fatal_day[idx] >= 0)]
    pop.in_school[out] = False
