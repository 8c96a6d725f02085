"""Champion and challenger: promote a new model only when it is not worse where it counts.

Both models are scored on the same latest labelled window (the as-of dates whose outcome is
known); the challenger is promoted when its precision at capacity is not worse than the
champion's by more than ``[train] promote_tolerance`` and its ECE is within ``max_ece``.
Otherwise it stays challenger, and the reason says why. The first model (no champion yet)
always becomes champion, since the nightly job needs one; its reason says whether its ECE is
in bounds.

>>> d = promotion_decision({"precision_at_cap10": 0.20, "ece": 0.01},
...                        {"precision_at_cap10": 0.25, "ece": 0.01}, capacity=10, tolerance=0.02)
>>> d.promote, d.reason
(False, 'challenger precision at capacity 0.2000 is worse than the champion 0.2500 by 0.0500 > tolerance 0.02')
>>> promotion_decision({"precision_at_cap10": 0.20, "ece": 0.09}, None, capacity=10).promote
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from training.metrics import score_metrics

__all__ = ["PromotionDecision", "promotion_decision", "compare_on_window"]


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None


def promotion_decision(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    *,
    capacity: int = 10,
    tolerance: float = 0.02,
    max_ece: float = 0.05,
) -> PromotionDecision:
    """The rule on two metric dicts (:func:`training.metrics.score_metrics` keys)."""
    key = f"precision_at_cap{capacity}"
    ece = float(challenger.get("ece", math.nan))
    if champion is None:  # the nightly job needs a champion: the first model always becomes one
        bound = (
            f"within the bound {max_ece}"
            if ece <= max_ece
            else f"above the bound {max_ece}: check the calibration before relying on it"
        )
        return PromotionDecision(
            True,
            f"no champion yet: the first model becomes champion (precision at capacity "
            f"{float(challenger.get(key, math.nan)):.4f}, ECE {ece:.4f} {bound})",
            challenger,
            champion,
        )
    if math.isnan(ece) or ece > max_ece:
        return PromotionDecision(
            False, f"challenger ECE {ece:.4f} is above the bound {max_ece}", challenger, champion
        )
    new, old = float(challenger.get(key, math.nan)), float(champion.get(key, math.nan))
    if math.isnan(new):
        return PromotionDecision(False, f"challenger has no {key} on the window", challenger, champion)
    if not math.isnan(old) and old - new > tolerance:
        return PromotionDecision(
            False,
            f"challenger precision at capacity {new:.4f} is worse than the champion {old:.4f} by "
            f"{old - new:.4f} > tolerance {tolerance}",
            challenger,
            champion,
        )
    return PromotionDecision(
        True,
        f"challenger precision at capacity {new:.4f} vs champion {old:.4f} (tolerance {tolerance}), ECE {ece:.4f}",
        challenger,
        champion,
    )


def compare_on_window(
    challenger,
    champion,
    data: pd.DataFrame,
    *,
    capacity: int = 10,
    tolerance: float = 0.02,
    max_ece: float = 0.05,
    n_bins: int = 10,
) -> PromotionDecision:
    """Score both bundles on ``data`` (labelled rows of the latest window, as
    :func:`training.evaluate.evaluation_data` returns them) and apply :func:`promotion_decision`.

    ``champion`` may be None (the first model is promoted when its ECE is in bounds).
    """

    def metrics(bundle) -> dict[str, float]:
        p = bundle.predict_proba(data).to_numpy()
        return score_metrics(data, p, shares=(0.05,), capacity=capacity, n_bins=n_bins)

    return promotion_decision(
        metrics(challenger),
        metrics(champion) if champion is not None else None,
        capacity=capacity,
        tolerance=tolerance,
        max_ece=max_ece,
    )
