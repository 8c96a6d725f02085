"""Synthetic data with known true effects for the evidence estimators (no simulator needed).

Each generator is seeded and returns the frame and the true effect of the estimand
the matching estimator targets. Effects are additive on the outcome's scale, so the
truth is a number, not a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TAU_DROPOUT = -0.05  # support lowers the chance of dropping out within the horizon by 5 points
TAU_ATTENDANCE = 0.04  # and raises the share of days present by 4 points


def decisions(
    seed: int,
    *,
    n_schools: int = 40,
    per_school: int = 60,
    band: int = 0,
    compliance: float = 1.0,
    leak: float = 0.0,
    tau_dropout: float = TAU_DROPOUT,
    tau_attendance: float = TAU_ATTENDANCE,
) -> pd.DataFrame:
    """A decisions frame of one run: schools rank by score and select their top ``capacity``.

    ``band`` > 0 switches the borderline lottery on: ranks ``capacity - band + 1 ..
    capacity + band`` are pooled and ``band`` of them, drawn at random, are selected.
    Selected students get the support with probability ``compliance``, others with ``leak``.
    Dropout risk is ``score + tau_dropout`` when supported, so the effect is ``tau_dropout``
    for everyone (the ITT in the band is ``tau * (compliance - leak)``).
    """
    rng = np.random.default_rng(seed)
    n = n_schools * per_school
    school = np.repeat([f"s{i:03d}" for i in range(n_schools)], per_school)
    school_effect = np.repeat(rng.normal(0, 0.03, n_schools), per_school)
    x1 = rng.normal(size=n)
    score = np.clip(0.07 + 0.35 * rng.beta(2, 5, n) + school_effect + 0.02 * x1, 0.06, 0.9)
    capacity = np.repeat(rng.integers(6, 15, n_schools), per_school)
    frame = pd.DataFrame(
        {"student_id": [f"st{i:05d}" for i in range(n)], "school_id": school, "score": score}
    )
    frame["rank_school"] = (
        frame.groupby("school_id")["score"].rank(ascending=False, method="first").astype("int64").to_numpy()
    )
    frame["capacity"] = capacity
    rank = frame["rank_school"].to_numpy()
    selected = rank <= capacity
    borderline = np.zeros(n, dtype=bool)
    if band:
        borderline = (rank > capacity - band) & (rank <= capacity + band)
        lottery = rng.random(n)
        frame["_lot"] = np.where(borderline, lottery, np.inf)
        winners = frame.groupby("school_id")["_lot"].rank(method="first").to_numpy() <= band
        selected = np.where(borderline, winners, selected)
        frame = frame.drop(columns="_lot")
    assigned = np.where(selected, rng.random(n) < compliance, rng.random(n) < leak)
    grade = rng.integers(1, 10, n)
    frame = frame.assign(
        grade=grade,
        grade_band=np.where(grade >= 7, "junior", "primary"),
        tier="none",
        rule=False,
        selected=selected,
        borderline=borderline,
        randomised=borderline,
        assigned=assigned,
        running_rank=capacity + 0.5 - rank,
        left_behind=rng.random(n) < 0.3,
        hardship=rng.random(n) < 0.2,
        x1=x1,
    )
    p_drop = np.clip(score + tau_dropout * assigned, 0, 1)
    frame["outcome_dropout"] = (rng.random(n) < p_drop).astype("int64")
    att = 0.80 - 0.3 * score + tau_attendance * assigned + rng.normal(0, 0.05, n)
    frame["outcome_attendance"] = np.clip(att, 0, 1)
    return frame


def observational(seed: int, *, n: int = 2000, tau: float = TAU_DROPOUT) -> pd.DataFrame:
    """Supports given by staff judgement that the covariates fully describe.

    The propensity is logistic in ``score`` and ``x1`` (the default propensity model is
    right); the outcome is not logistic (the default outcome model is wrong), so the test
    relies on double robustness. Every student's effect is ``tau``: ATE = ATT = ``tau``.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    score = np.clip(0.08 + 0.3 * rng.beta(2, 4, n), 0.06, 0.9)
    logit = -0.8 + 10 * (score - 0.18) + 0.8 * x1
    treated = rng.random(n) < 1 / (1 + np.exp(-logit))
    p0 = np.clip(score + 0.04 * np.tanh(x1) + 0.03 * (x2 > 0), 0.06, 0.95)
    y = (rng.random(n) < p0 + tau * treated).astype("int64")
    return pd.DataFrame({"score": score, "x1": x1, "x2": x2, "assigned": treated, "outcome_dropout": y})


def panel(
    seed: int,
    *,
    n: int = 400,
    weeks: int = 30,
    share_treated: float = 0.5,
    effect: float = 0.05,
    dip: float = 0.0,
    leads: int = 4,
    lags: int = 8,
) -> tuple[pd.DataFrame, float]:
    """Weekly attendance; cases open in weeks ``leads+1 .. weeks-lags-1``; the effect ramps up.

    The effect in event week ``k >= 0`` is ``effect * min(1, (k + 1) / 3)``, 50% larger for the
    latest opening week than for the earliest (heterogeneity across cohorts, which a plain
    two-way fixed-effects event study would mix up). ``dip`` lowers attendance in event weeks
    -3 and -2 (a case opened *because* attendance fell). Returns the panel and the true mean
    effect over event weeks ``0 .. lags``.
    """
    rng = np.random.default_rng(seed)
    first, last = leads + 1, weeks - lags - 1
    treated = rng.random(n) < share_treated
    ev = np.where(treated, rng.integers(first, last + 1, n), -1)
    alpha = rng.normal(0, 0.05, n) - 0.03 * treated
    season = 0.03 * np.sin(np.arange(weeks) / 4)
    unit = np.repeat(np.arange(n), weeks)
    week = np.tile(np.arange(weeks), n)
    e = ev[unit]
    k = np.where(e >= 0, week - e, -999)
    scale = 1 + 0.5 * (e - first) / max(last - first, 1)
    tau = np.where(k >= 0, effect * np.minimum(1, (k + 1) / 3) * scale, 0.0)
    y = 0.85 + alpha[unit] + season[week] + tau - dip * np.isin(k, (-3, -2)) + rng.normal(0, 0.08, n * weeks)
    frame = pd.DataFrame(
        {
            "student_id": [f"st{i:04d}" for i in unit],
            "week": pd.Timestamp("2024-03-04") + pd.to_timedelta(7 * week, unit="D"),
            "attendance": y,
            "event_week": pd.Series(pd.Timestamp("2024-03-04") + pd.to_timedelta(7 * ev, unit="D"))
            .where(ev >= 0)
            .to_numpy()[unit],
        }
    )
    cohorts = ev[treated]
    shares = pd.Series(cohorts).value_counts(normalize=True)
    truth = float(
        np.mean(
            [
                sum(
                    w * effect * min(1, (kk + 1) / 3) * (1 + 0.5 * (c - first) / max(last - first, 1))
                    for c, w in shares.items()
                )
                for kk in range(lags + 1)
            ]
        )
    )
    return frame, truth
