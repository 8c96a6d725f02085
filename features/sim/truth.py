"""The truth behind a simulated county, written to ``truth/`` and read only by evaluation.

``risk_monthly``: the true probability of a positive 90-day label for each student at each
month start (:func:`truth_monthly`); ``student_years``: each student's year (hazard, term
probabilities, latent flags); ``episodes``: every dropout and suspected-dropout episode;
``latent``: the unobserved factors. :func:`county_meta` gives ``meta.json``: the realised
calibration figures. No feature builder or model reads any of it.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from features.sim.dropout import DROPOUT_AFTER_DAYS, MARK_DAY
from features.sim.presets import Preset
from features.sim.state import SimState, YearSchedule

__all__ = ["HORIZON_DAYS", "county_meta", "record_variance", "truth_monthly", "truth_tables"]

#: the truth's label horizon (DATA_CONTRACT "The label")
HORIZON_DAYS = 90


def truth_monthly(sim: SimState, idx: np.ndarray, yr: YearSchedule, p_term, p_noshow, dens) -> None:
    """True probability of a positive label within 90 days, at each month start Sep..Jun.

    Given what the generator knows at the month start: the term hazards, and whether a
    scheduled dropout has already begun to show (its precursor started, or the student
    stopped coming, before that day). Students whose dropout has not begun are scored by
    the prior over the episode day and the precursor length, conditioned on nothing
    having begun yet. Students already marked as dropouts (and not back) are left out.
    """
    p, pop = sim.preset, sim.pop
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
        out.append(pd.DataFrame({"student_id": sim.sid(idx[keep]), "as_of": pd.Timestamp(m_date),
                                 "p_true": np.clip(prob[keep], 0, 1)}))  # fmt: skip
    sim.risk_monthly.append(pd.concat(out, ignore_index=True))


def record_variance(sim: SimState, parts: dict) -> None:
    """Record the year's variance of the unobserved part, of the whole true log hazard and of it
    within grade (``meta.json``'s ``unobserved_share``)."""
    u = parts["unobserved"]
    total = parts["alpha"] + parts["observed"] + parts["school"] + u
    within = total - parts["alpha"]
    sim.var_parts.append((float(np.var(u)), float(np.var(total)), float(np.var(within))))


def truth_tables(sim: SimState) -> dict[str, pd.DataFrame]:
    """The truth tables of the whole run: ``risk_monthly``, ``student_years``, ``episodes``, ``latent``."""
    pop = sim.pop
    return {
        "risk_monthly": pd.concat(sim.risk_monthly, ignore_index=True),
        "student_years": pd.concat(sim.student_years, ignore_index=True),
        "episodes": pd.DataFrame(sim.episodes),
        "latent": pd.DataFrame(
            {
                "student_id": sim.sid(np.arange(pop.n)),
                "ability": pop.ability[: pop.n],
                "trend": pop.trend[: pop.n],
                "anxiety": pop.anxiety[: pop.n],
                "unobserved_other": pop.unobs[: pop.n],
                "siblings_2plus": pop.sib2[: pop.n],
                "school_effect": sim.school_re[pop.school[: pop.n]],
            }
        ),  # fmt: skip
    }


def _window_shares(sim: SimState, fatal: pd.DataFrame) -> dict[str, float | None]:
    """Shares of dropout episodes (no-shows included) starting in the SIMULATOR.md windows."""
    if not len(fatal):
        return {
            "share_fatal_autumn_start": None,
            "share_fatal_after_festival": None,
            "share_fatal_pre_zhongkao_g9": None,
        }
    p = sim.preset
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


def county_meta(
    sim: SimState, frames: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame], preset: Preset
) -> dict:
    """``meta.json``: the run's arguments and the realised calibration figures."""
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
    var_u = np.mean([v[0] for v in sim.var_parts])
    var_t = np.mean([v[1] for v in sim.var_parts])
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
        "unobserved_share_within_grade": float(var_u / np.mean([v[2] for v in sim.var_parts])),
        "unobserved_sd": float(math.sqrt(var_u)),
        "horizon_days": HORIZON_DAYS,
        "levels_only_schools": int(sim.levels_only.sum()),
        "notes": "risk_monthly.p_true is the probability of a positive label (DATA_CONTRACT default, "
        "90 days) given the generator's state at the month start; spring hazards use the state "
        "after Spring Festival, a small look-ahead for as-of dates in December-February.",
    }
