"""The randomised borderline band: a lottery around each school's capacity cut-off.

When the band is switched on, the students ranked just around a school's capacity
cut-off (never red-tier students, never rule alerts) are equally eligible, and a seeded
lottery decides which of them get a case. Comparing lottery winners with losers is a
randomised experiment, so the difference in outcome rates estimates the effect of
being selected without modelling anything.

Assumptions
-----------
- Within each stratum (school), selection among band students was random with the
  recorded seed, and nothing else about the students decided it.
- One student's selection does not change another's outcome (no spill-overs inside
  a class); plausible for prevention cases, doubtful for whole-class measures.
- The outcome is measured the same way for winners and losers, and censoring
  (transfers, suspensions) does not depend on winning.
- The estimate is an intention-to-treat effect of being *selected*; when not every
  winner gets the support (or some losers get it anyway) the effect of the support
  itself is larger in size; the Wald ratio in the diagnostics gives it for compliers.
- It holds for students near the cut-off, not for the highest-risk students.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ._result import (
    EffectEstimate,
    EstimationError,
    as_bool,
    is_binary,
    normal_p_value,
    outcome_values,
    plural,
    require_columns,
    z_value,
)

__all__ = ["borderline_effect", "newcombe_interval"]

ASSUMPTIONS: tuple[str, ...] = (
    "Within each school, selection among band students was decided by the seeded lottery alone.",
    "No spill-overs: one student's selection does not change another student's outcome.",
    "Outcomes are measured alike for winners and losers; censoring does not depend on winning.",
    "The estimate is the intention-to-treat effect of being selected, for students near the cut-off.",
)


def newcombe_interval(x1: int, n1: int, x0: int, n0: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``x1/n1 - x0/n0`` (method 10 of Newcombe 1998).

    Built from the two Wilson score intervals; good coverage even for small counts and
    rates near 0, where the Wald interval fails.

    Examples
    --------
    >>> lo, hi = newcombe_interval(56, 70, 48, 80)   # Newcombe's worked example: 0.0524, 0.3339
    >>> round(lo, 4), round(hi, 4)
    (0.0524, 0.3339)
    """
    if min(n1, n0) < 1:
        raise ValueError(f"both groups need at least one row, got n1={n1}, n0={n0}")
    z = z_value(level)
    l1, u1 = _wilson(x1, n1, z)
    l0, u0 = _wilson(x0, n0, z)
    p1, p0 = x1 / n1, x0 / n0
    d = p1 - p0
    return float(d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)), float(
        d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    )


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def borderline_effect(
    decisions: pd.DataFrame,
    *,
    outcome: str = "outcome_dropout",
    treatment: str = "selected",
    strata: str | None = "school_id",
    ci_method: Literal["auto", "newcombe", "permutation", "bootstrap"] = "auto",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    intervention_type: str = "case",
) -> EffectEstimate:
    """Difference in outcome between lottery winners and losers in the borderline band.

    Parameters
    ----------
    decisions : DataFrame
        From :func:`risk.evidence.decisions_frame`: needs ``randomised``, ``treatment``,
        ``outcome`` and ``strata``; ``assigned`` and ``score`` are used for diagnostics.
    outcome : str
        Outcome column (0/1 or a share).
    treatment : str
        The lottery's result (``selected``); use ``assigned`` only when the support always
        follows the lottery, otherwise read the Wald ratio in the diagnostics.
    strata : str or None
        Column the lottery was drawn within (the school). The estimate averages the
        per-stratum differences weighted by band size; strata without both winners and
        losers are dropped (counted in the diagnostics). ``None`` pools all rows.
    ci_method : {"auto", "newcombe", "permutation", "bootstrap"}
        ``newcombe``: hybrid score interval (0/1 outcomes, one stratum only).
        ``permutation``: the lottery is re-drawn ``n_boot`` times within each stratum on the
        outcomes with the estimated effect taken out (a constant effect); the interval is the
        estimate minus the spread of those draws, the p-value the share of draws on the raw
        outcomes at least as far from zero (Fisher's exact test of no effect, by simulation).
        Valid with small strata, where the bootstrap understates the spread.
        ``bootstrap``: percentile, resampling within stratum and arm (needs large strata).
        ``auto`` = ``newcombe`` for a 0/1 outcome in one stratum, else ``permutation``.
    level : float
        Confidence level.
    n_boot : int
        Permutation or bootstrap draws.
    seed : int
        Seed of the draws (the result is reproducible).
    intervention_type : str
        Label for the result (the lottery gives a case; ``"case"``).

    Returns
    -------
    EffectEstimate
        Diagnostics: ``strata`` (per-stratum counts and means), ``strata_dropped``,
        ``score_smd`` (balance of the risk score), ``compliance`` and ``wald`` when
        ``assigned`` is present.

    Examples
    --------
    >>> d = pd.DataFrame({"randomised": True, "selected": [True] * 50 + [False] * 50,
    ...                   "outcome_dropout": [0] * 45 + [1] * 5 + [0] * 40 + [1] * 10})
    >>> r = borderline_effect(d, strata=None)
    >>> r.ci_method, round(r.estimate, 2), r.n_treated
    ('newcombe-hybrid-score', -0.1, 50)
    """
    need = ["randomised", treatment, outcome] + ([strata] if strata else [])
    require_columns(decisions, need)
    rand = as_bool(decisions, "randomised")
    if not rand.any():
        raise EstimationError(
            "decisions.randomised: no randomised students (the borderline band was off or empty);"
            " use rd_effect or aipw_effect instead"
        )
    warnings: list[str] = []
    band = decisions.loc[rand]
    if "tier" in band.columns and band["tier"].astype("str").eq("red").any():
        n_red = int(band["tier"].astype("str").eq("red").sum())
        warnings.append(
            f"{plural(n_red, 'red-tier row')} marked randomised were left out: the band must never hold them"
        )
        band = band.loc[band["tier"].astype("str").ne("red")]
    t = as_bool(band, treatment)
    y = outcome_values(band, outcome)
    if t.all() or not t.any():
        side = "all" if t.all() else "none"
        raise EstimationError(
            f"decisions.{treatment}: {side} of the {len(t)} randomised students are treated"
        )
    keys = band[strata].astype("str").to_numpy() if strata else np.zeros(len(band), dtype=int)

    table = (
        pd.DataFrame({"stratum": keys, "t": t, "y": y})
        .groupby(["stratum", "t"], sort=True)["y"]
        .agg(["size", "mean"])
        .unstack("t")
    )
    table.columns = [f"{a}_{'in' if b else 'out'}" for a, b in table.columns]
    table = table.reindex(columns=["size_in", "size_out", "mean_in", "mean_out"])
    both = table["size_in"].notna() & table["size_out"].notna()
    dropped = int((~both).sum())
    if not both.any():
        raise EstimationError(
            f"decisions.{strata}: no stratum has both lottery winners and losers; cannot compare"
        )
    if dropped:
        warnings.append(f"{plural(dropped, 'stratum')} without both winners and losers left out")
    table = table.loc[both]
    table[["size_in", "size_out"]] = table[["size_in", "size_out"]].astype("int64")
    keep = np.isin(keys, table.index.to_numpy())
    t, y, keys = t[keep], y[keep], keys[keep]
    weights = (table["size_in"] + table["size_out"]) / (table["size_in"] + table["size_out"]).sum()
    estimate = float((weights * (table["mean_in"] - table["mean_out"])).sum())

    binary = is_binary(y)
    single = len(table) == 1
    # no event at all (or only events): every re-drawn lottery gives 0, so the permutation
    # interval collapses to [0, 0]; Newcombe's interval on the pooled counts stays honest
    degenerate = binary and bool(y.min() == y.max())
    if ci_method == "auto":
        ci_method = "newcombe" if binary and (single or degenerate) else "permutation"
    if degenerate and not single:
        warnings.append(
            f"no variation in {outcome} among the randomised students (all {y[0]:g}): the interval is"
            " Newcombe's on the counts pooled over strata"
        )
    if ci_method == "newcombe":
        if not binary:
            raise EstimationError(
                f"decisions.{outcome}: newcombe needs a 0/1 outcome; use ci_method='bootstrap'"
            )
        if not single and not degenerate:
            raise EstimationError("newcombe pools one stratum only; use strata=None or ci_method='bootstrap'")
        x1, n1 = int(y[t].sum()), int(t.sum())
        x0, n0 = int(y[~t].sum()), int((~t).sum())
        lo, hi = newcombe_interval(x1, n1, x0, n0, level)
        pooled = (x1 + x0) / (n1 + n0)
        se = float(np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0)))
        p_value = normal_p_value(estimate, se) if se > 0 else 1.0
        method = "newcombe-hybrid-score"
    elif ci_method == "permutation":
        strata_ids, w = table.index.to_numpy(), weights.to_numpy()
        null_y, null_t = _permutation_draws(keys, t, np.column_stack([y, t]), strata_ids, w, n_boot, seed).T
        p_value, lo, hi = _invert_permutation_test(estimate, null_y, null_t, level, binary=binary)
        se = float((null_y - estimate * null_t).std(ddof=1))
        method = f"permutation (lottery re-drawn within strata, {n_boot} draws, seed {seed}; test inverted)"
    elif ci_method == "bootstrap":
        boots = _stratified_bootstrap(keys, t, y, table.index.to_numpy(), weights.to_numpy(), n_boot, seed)
        alpha = (1 - level) / 2
        lo, hi = (float(v) for v in np.quantile(boots, [alpha, 1 - alpha]))
        se = float(boots.std(ddof=1))
        p_value = normal_p_value(estimate, se)
        method = f"bootstrap-percentile (stratified, {n_boot} draws, seed {seed})"
    else:
        raise ValueError(
            f"ci_method must be 'auto', 'newcombe', 'permutation' or 'bootstrap', got {ci_method!r}"
        )

    diagnostics: dict[str, object] = {
        "strata": table.reset_index(),
        "strata_dropped": dropped,
        "lottery_share_in": float(t.mean()),
    }
    kept = band.loc[keep]
    if "score" in kept.columns:
        diagnostics["score_smd"] = _smd(kept["score"].to_numpy(dtype=float), t)
    if "assigned" in kept.columns and treatment != "assigned":
        a = as_bool(kept, "assigned")
        comp_in, comp_out = float(a[t].mean()), float(a[~t].mean())
        diagnostics["compliance"] = {"assigned_share_in": comp_in, "assigned_share_out": comp_out}
        first = comp_in - comp_out
        diagnostics["wald"] = estimate / first if first > 0.05 else float("nan")
        if first <= 0.5:
            warnings.append(
                f"weak compliance: {comp_in:.0%} of winners and {comp_out:.0%} of losers got the support"
            )

    return EffectEstimate(
        estimator="borderline",
        intervention_type=intervention_type,
        outcome=outcome,
        estimand=f"ITT of {treatment} among randomised band students (lottery winners minus losers)",
        estimate=estimate,
        ci_low=float(lo),
        ci_high=float(hi),
        ci_level=level,
        ci_method=method,
        se=se,
        p_value=p_value,
        n=int(len(t)),
        n_treated=int(t.sum()),
        n_control=int((~t).sum()),
        sample=(
            f"students with randomised=True{', not red-tier' if 'tier' in band.columns else ''}"
            + (
                f", in {plural(len(table), 'stratum')}"
                + ("" if strata == "stratum" else f" by {strata}")
                + " with both winners and losers"
                if strata
                else ""
            )
        ),
        assumptions=ASSUMPTIONS,
        diagnostics=diagnostics,
        warnings=tuple(warnings),
    )


def _permutation_draws(
    keys: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    strata: np.ndarray,
    weights: np.ndarray,
    n_draws: int,
    seed: int,
) -> np.ndarray:
    """The weighted difference under ``n_draws`` re-drawn lotteries (same number of winners per
    stratum); ``y`` may have columns (one difference per column, the same lotteries for all)."""
    if n_draws < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_draws}")
    rng = np.random.default_rng(seed)
    values = np.asarray(y, dtype=float)
    out = np.zeros((n_draws, *values.shape[1:]))
    for s, w in zip(strata, weights, strict=True):
        in_s = keys == s
        v, m = values[in_s], int(t[in_s].sum())
        winners = rng.random((n_draws, len(v))).argsort(axis=1)[:, :m]
        sum_in = v[winners].sum(axis=1)
        out += w * (sum_in / m - (v.sum(axis=0) - sum_in) / (len(v) - m))
    return out


def _invert_permutation_test(
    estimate: float, null_y: np.ndarray, null_t: np.ndarray, level: float, *, binary: bool
) -> tuple[float, float, float]:
    """The p-value of "no effect" and the interval of every constant effect ``tau`` the same
    permutation test does not reject, so the two always agree (p <= 1 - level exactly when the
    interval leaves out 0).

    Under the effect ``tau`` the outcome without support is ``y - tau * t``; a re-drawn lottery
    gives it the difference ``null_y - tau * null_t`` (linear in ``tau``, so one set of draws
    serves every ``tau``) and the observed one is ``estimate - tau``. ``p(tau)`` is the share of
    draws at least as far from zero as the observed difference, counting the observed lottery.
    """
    n = len(null_y)
    alpha = 1 - level

    def p_of(tau: np.ndarray) -> np.ndarray:
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        far = (
            np.abs(null_y[:, None] - tau[None, :] * null_t[:, None])
            >= np.abs(estimate - tau)[None, :] - 1e-12
        )
        return (1 + far.sum(axis=0)) / (n + 1)

    p0 = float(p_of(0.0)[0])
    spread = float(np.std(null_y)) or 1.0
    span = 12 * spread + abs(estimate)
    lo_end, hi_end = (-1.0, 1.0) if binary else (estimate - span, estimate + span)
    grid = np.union1d(np.linspace(lo_end, hi_end, 2001), [0.0, estimate])
    ok = p_of(grid) > alpha
    # the run of accepted values around the estimate (always accepted: its observed difference
    # is 0); with 0 accepted, the interval reaches it, so p > 1 - level exactly when 0 is inside
    i = j = int(np.searchsorted(grid, estimate))
    while i > 0 and ok[i - 1]:
        i -= 1
    while j < len(grid) - 1 and ok[j + 1]:
        j += 1

    def edge(inside: float, outside: float) -> float:  # the last accepted tau, by bisection
        for _ in range(40):
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if p_of(mid)[0] > alpha else (inside, mid)
        return inside

    lo = float(grid[i]) if i == 0 else edge(float(grid[i]), float(grid[i - 1]))
    hi = float(grid[j]) if j == len(grid) - 1 else edge(float(grid[j]), float(grid[j + 1]))
    if p0 > alpha:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return p0, lo, hi


def _stratified_bootstrap(
    keys: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    strata: np.ndarray,
    weights: np.ndarray,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Bootstrap draws of the weighted difference, resampling within stratum and arm."""
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    rng = np.random.default_rng(seed)
    binary = is_binary(y)
    out = np.zeros(n_boot)
    for s, w in zip(strata, weights, strict=True):
        in_s = keys == s
        diff = np.zeros(n_boot)
        for arm, sign in ((True, 1.0), (False, -1.0)):
            v = y[in_s & (t == arm)]
            if binary:  # resampling 0/1 values = a binomial draw of the count
                means = rng.binomial(len(v), v.mean(), n_boot) / len(v)
            else:
                means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
            diff += sign * means
        out += w * diff
    return out


def _smd(x: np.ndarray, t: np.ndarray) -> float:
    """Standardised mean difference of ``x`` between arms (balance check; |SMD| < 0.1 is good)."""
    sd = np.sqrt((x[t].var(ddof=1) + x[~t].var(ddof=1)) / 2) if min(t.sum(), (~t).sum()) > 1 else np.nan
    return float((x[t].mean() - x[~t].mean()) / sd) if sd and np.isfinite(sd) and sd > 0 else float("nan")
