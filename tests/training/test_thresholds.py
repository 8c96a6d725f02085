"""The yellow threshold's choice on hand-made labelled rows (training.thresholds).

40 rows, 4 positives: base rate 0.1. No row reaches the red floor (5 x 0.1), so red falls back
to ``[risk] red_risk`` = 0.9 and every row is below red.

========  =====  =========  ===============================
group     rows   positives  risk
========  =====  =========  ===============================
A         2      2          0.40
B         4      0          0.25
C         4      1          0.15
D         4      0          0.12
E         26     1          0.02 (the positive is the last)
========  =====  =========  ===============================

Cumulative precision from the top: 0.40 -> 2/2, 0.25 -> 2/6 = 0.333, 0.15 -> 3/10 = 0.30,
0.12 -> 3/14 = 0.214, 0.02 -> 4/40 = 0.10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import BaoxueConfig, RiskConfig
from training.thresholds import choose_thresholds, tier_labels, tier_table, within_places

P = np.array([0.40] * 2 + [0.25] * 4 + [0.15] * 4 + [0.12] * 4 + [0.02] * 26)
Y = np.array([1, 1] + [0] * 4 + [1, 0, 0, 0] + [0] * 4 + [0] * 25 + [1])
NO_TRIGGERS: dict[str, np.ndarray] = {}


def _cfg(**kw) -> RiskConfig:
    return RiskConfig(red_min_lift=5.0, red_risk=0.9, **kw)


def _choose(cfg, **kw):
    return choose_thresholds(Y, P, NO_TRIGGERS, cfg, min_positives=1, **kw)


def test_student_floor_keeps_every_yellow_student_at_the_lift():
    # "student": floor 2 x 0.1 = 0.2; lowest value >= 0.2 whose cumulative precision >= 0.2: 0.25
    t = _choose(_cfg(yellow_choice="student", yellow_min_lift=2.0))
    assert t.red_risk == 0.9 and t.yellow_risk == pytest.approx(0.25)
    assert t.base_rate == pytest.approx(0.1)


def test_tier_lift_goes_lower_while_the_tier_as_a_whole_keeps_the_lift():
    # "tier": floor 1.0 x 0.1 = 0.1; 0.12 gives the band 3/14 = 0.214 >= 0.2; 0.02 is under the floor
    t = _choose(_cfg(yellow_choice="tier", yellow_min_lift=2.0, yellow_floor_lift=1.0))
    assert t.yellow_risk == pytest.approx(0.12)
    # the per-student floor binds: 1.4 x 0.1 = 0.14 leaves 0.12 out
    t = _choose(_cfg(yellow_choice="tier", yellow_min_lift=2.0, yellow_floor_lift=1.4))
    assert t.yellow_risk == pytest.approx(0.15)
    # a higher tier lift (2.5: precision 0.25): 0.12 gives 0.214, too low; 0.15 gives 0.30
    t = _choose(_cfg(yellow_choice="tier", yellow_min_lift=2.5, yellow_floor_lift=1.0))
    assert t.yellow_risk == pytest.approx(0.15)


def test_tier_lift_counts_only_the_rows_that_fit_in_the_places():
    # school a holds A and B with 3 places (A's 2 and one B fit); school b holds C, D, E with 10
    # places (C, D and two of E fit). Counted rows: 0.40 x2 (2 pos), 0.25 x1, 0.15 x4 (1 pos),
    # 0.12 x4, 0.02 x2: at 0.12 the tier holds 3 of 11 = 0.273 >= 0.25, so 0.12 is chosen where
    # without the places (3/14 = 0.214) it was 0.15
    school = np.array(["a"] * 6 + ["b"] * 34)
    cap = np.where(school == "a", 3, 10)
    t = _choose(
        _cfg(yellow_choice="tier", yellow_min_lift=2.5, yellow_floor_lift=1.0), groups=school, capacity=cap
    )
    assert t.yellow_risk == pytest.approx(0.12)
    fits = within_places(P, np.zeros(40, bool), school, cap)
    assert fits.sum() == 13 and fits[:3].all() and not fits[3:6].any() and fits[6:16].all()


def test_within_places_leaves_red_rows_out_and_takes_their_places():
    p = np.array([0.9, 0.5, 0.4, 0.3, 0.6, 0.2])
    red = np.array([True, False, False, False, False, False])
    # school x: capacity 3, one red -> 2 places: 0.5 and 0.4; school y: capacity 1 -> 0.6
    got = within_places(p, red, ["x", "x", "x", "x", "y", "y"], [3, 3, 3, 3, 1, 1])
    assert got.tolist() == [False, True, True, False, True, False]


def test_the_chosen_tier_has_its_lift_on_the_list_itself():
    """tier_labels applies the whole policy to the rows: the yellow tier chosen by 'tier'
    reaches the lift, and recalls more than the 'student' floor's list."""
    rows = pd.DataFrame(
        {
            "student_id": [f"s{i:02d}" for i in range(40)],
            "as_of": pd.Timestamp("2025-03-01"),
            "school_id": "a",
            "label": Y,
        }
    )
    out = {}
    for choice in ("tier", "student"):
        cfg = _cfg(yellow_choice=choice, yellow_min_lift=2.0, yellow_floor_lift=1.0, capacity_per_school=40)
        th = _choose(cfg)
        tier = tier_labels(rows, P, th, BaoxueConfig(risk=cfg), capacity=40)
        table = tier_table(rows, tier).set_index(["month", "tier"])
        out[choice] = table.loc[("all", "yellow")]
    assert out["tier"]["lift"] == pytest.approx(3 / 14 / 0.1) and out["tier"]["lift"] >= 2.0
    assert out["tier"]["recall"] == pytest.approx(0.75) and out["student"]["recall"] == pytest.approx(0.5)
    assert out["student"]["lift"] == pytest.approx(2 / 6 / 0.1)
