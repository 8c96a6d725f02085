"""The dropout model: a term-level proportional-hazards model and its episodes.

Each student's annual dropout hazard is ``exp(alpha_grade + observed causes + school effect +
unobserved causes)`` (:func:`log_hazard`); ``alpha_grade`` is solved every year so the grade's
dropout rate hits the preset's target (:func:`calibrate`). Episodes start on school days drawn
from the seasonal timing of SIMULATOR.md (:func:`timing_density`): a dropout is marked
疑似辍学 on its :data:`MARK_DAY`-th school day out and 辍学 :data:`DROPOUT_AFTER_DAYS` days
later; the more common suspected-dropout episodes end in a return (:func:`add_episodes`).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from features.sim.calendar import SchoolYear
from features.sim.state import SimState, YearSchedule

__all__ = ["DROPOUT_AFTER_DAYS", "MARK_DAY", "add_episodes", "calibrate", "log_hazard", "timing_density"]

#: the registry 疑似辍学 mark falls on the 5th consecutive school day out
MARK_DAY = 5
#: still out a month after the mark -> registry 辍学
DROPOUT_AFTER_DAYS = 30


def log_hazard(sim: SimState, idx: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Log annual hazard without the grade intercept, and its parts (``bottom20``, ``observed``,
    ``school``, ``unobserved``)."""
    pop, p = sim.pop, sim.preset
    g = pop.grade[idx]
    term_no = sim.term_no
    comp = pop.ability[idx] + 0.25 * pop.trend[idx] * term_no
    bottom = _bottom20(sim, idx, comp)
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
        + (math.log(p.rr_boarding) + sim.boarding_re[pop.school[idx]]) * pop.boarding[idx]
        + math.log(p.rr_male) * pop.male[idx]
        + math.log(p.rr_siblings_2plus) * pop.sib2[idx]
        + math.log(p.rr_far_day_student) * far_day
        + math.log(p.rr_returned) * pop.returned[idx]
    )
    school = sim.school_re[pop.school[idx]]
    unobserved = math.log(p.rr_anxiety_per_sd) * pop.anxiety[idx] + pop.unobs[idx]
    parts = {"bottom20": bottom, "observed": observed, "school": school, "unobserved": unobserved}
    return observed + school + unobserved, parts


def _bottom20(sim: SimState, idx: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Whether each student's composite result is in the bottom fifth of their class."""
    pop = sim.pop
    key = pop.school[idx].astype(np.int64) * 1000 + pop.grade[idx] * 50 + pop.klass[idx]
    frame = pd.DataFrame({"k": key, "c": comp})
    pct = frame.groupby("k")["c"].rank(pct=True, method="average").to_numpy()
    return pct <= 0.2


def calibrate(sim: SimState, idx: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Grade intercepts so each grade's annual dropout matches the preset."""
    alpha = np.zeros(len(idx))
    g = sim.pop.grade[idx]
    for grade in range(1, 10):
        m = g == grade
        if not m.any():
            continue
        target = sim.preset.annual_dropout[grade]
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


def timing_density(sim: SimState, sy: SchoolYear, grade9: bool) -> np.ndarray:
    """Share of the year's episodes starting on each school day (sums to 1)."""
    p = sim.preset
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


def add_episodes(sim: SimState, yr: YearSchedule, ids, day, fatal, nonfatal, noshow, term: int) -> None:
    """Write the term's dropouts and returned episodes into the schedule and the registry."""
    sy, run_s, run_e, ramp_s, peak = yr.sy, yr.run_s, yr.run_e, yr.ramp_s, yr.peak
    out_from, long_leave, fatal_day = yr.out_from, yr.long_leave, yr.fatal_day
    p, rng, pop = sim.preset, sim.rng, sim.pop
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
    reasons = _reasons(sim, f)
    sim.registry(f, mark_date, "suspected_mark", reason=reasons, verified=False)
    sim.registry(f, drop_date, "dropout_mark", reason=reasons, verified=True)
    for i, s_, m_, dd, ns_ in zip(f, fd, mark, drop_date, is_ns, strict=True):
        sim.episodes.append({"student_id": sim.sid(np.array([i]))[0], "start_date": dates[s_], "mark_date": dates[m_],
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
    sim.registry(
        nf[marked],
        dates[np.minimum(nfd[marked] + MARK_DAY - 1, nd - 1)],
        "suspected_mark",
        verified=False,
    )
    back = end < nd
    sim.registry(nf[marked & back], dates[end[marked & back]], "return_mark", verified=True)
    for i, s_, e_ in zip(nf, nfd, end, strict=True):
        sim.episodes.append({"student_id": sim.sid(np.array([i]))[0], "start_date": dates[s_],
                              "mark_date": dates[min(s_ + MARK_DAY - 1, nd - 1)] if e_ - s_ >= MARK_DAY else pd.NaT,
                              "dropout_date": pd.NaT, "fatal": False, "noshow": False, "academic_year": sy.year,
                              "grade": int(pop.grade[i]), "term": term, "disengage_start": pd.NaT})  # fmt: skip


def _reasons(sim: SimState, idx: np.ndarray) -> np.ndarray:
    """The registry's dropout reason of each student (the first cause listed that applies)."""
    pop, rng = sim.pop, sim.rng
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
            ~pop.male[idx] & (pop.grade[idx] >= 8) & (pop.overage[idx] > 0) & (rng.random(len(idx)) < 0.2),
            "early_marriage",
        ),
    ]
    for mask, name in reversed(choices):
        r[mask] = name
    return r
