"""Realised list quality, calibration, drift and the promotion rule on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from risk.monitoring.calibration import calibration_drift
from risk.monitoring.drift import input_drift, jensen_shannon, normed_wasserstein, wasserstein_distance
from risk.monitoring.intervals import expected_interval, wilson
from risk.monitoring.quality import list_quality
from risk.monitoring.status import Thresholds, decide_status
from training.promotion import promotion_decision
from training.reference import feature_reference

D1, D2 = pd.Timestamp("2024-09-02"), pd.Timestamp("2024-10-08")


def _nights() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Night 1: a, b red; c yellow; d, e, f not listed. Night 2: b, c listed (c red).
    Outcomes: a drops out 10-02 (listed night 1: lead 30 days), c drops out 11-07 (listed on
    both nights: first 09-02, lead 66 days), e drops out 10-20 and is never listed."""
    ids = list("abcdef")
    s1 = pd.DataFrame({"student_id": ids, "as_of": D1, "school_id": ["s1"] * 3 + ["s2"] * 3,
                       "class_id": "k", "grade": [1, 2, 4, 5, 7, 8], "probability": [.5, .3, .1, .05, .02, .01],
                       "tier": ["red", "red", "yellow", "none", "none", "none"], "listed": [1, 1, 1, 0, 0, 0],
                       "selected": [1, 1, 0, 0, 0, 0], "rank_county": [1, 2, 3, 4, 5, 6]})  # fmt: skip
    s2 = pd.DataFrame({"student_id": ids[1:], "as_of": D2, "school_id": ["s1"] * 2 + ["s2"] * 3,
                       "class_id": "k", "grade": [2, 4, 5, 7, 8], "probability": [.2, .6, .05, .03, .01],
                       "tier": ["yellow", "red", "none", "none", "none"], "listed": [1, 1, 0, 0, 0],
                       "selected": [1, 1, 0, 0, 0], "rank_county": [2, 1, 3, 4, 5]})  # fmt: skip
    snaps = pd.concat([s1, s2], ignore_index=True).astype({"listed": bool, "selected": bool})
    ev = {"a": "2024-10-02", "c": "2024-11-07", "e": "2024-10-20"}
    rows = [(s, D1) for s in ids] + [(s, D2) for s in ids[1:]]
    labels = pd.DataFrame(rows, columns=["student_id", "as_of"])
    window_end = labels["as_of"] + pd.Timedelta(days=90)
    ed = pd.to_datetime(labels["student_id"].map(ev))
    inside = (ed > labels["as_of"]) & (ed <= window_end)
    labels["label"] = inside.astype("int8")
    labels["event_date"] = ed.where(inside)
    return snaps, labels


def test_precision_recall_lift_by_hand():
    snaps, labels = _nights()
    q = list_quality(snaps, labels, min_cell=1)
    n1 = q.lists.loc[q.lists["as_of"] == D1].set_index("tier")
    # night 1: 3 listed (a, b, c), dropouts a and c -> 2/3; positives a, c, e -> recall 2/3;
    # base rate 3/6 -> lift (2/3)/(1/2) = 4/3; expected (.5+.3+.1)/3 = 0.3
    assert n1.loc["list", "n"] == 3 and n1.loc["list", "dropouts"] == 2
    assert n1.loc["list", "precision"] == pytest.approx(2 / 3)
    assert n1.loc["list", "recall"] == pytest.approx(2 / 3)
    assert n1.loc["list", "lift"] == pytest.approx(4 / 3)
    assert n1.loc["list", "expected"] == pytest.approx(0.3)
    lo, hi = wilson(2, 3)
    assert (n1.loc["list", "precision_low"], n1.loc["list", "precision_high"]) == pytest.approx((lo, hi))
    # red on night 1: a, b -> 1/2; capacity (selected) a, b -> 1/2
    assert n1.loc["red", "precision"] == 0.5 and n1.loc["capacity", "precision"] == 0.5
    # night 2: b, c listed, c drops out (11-07 within 10-08 + 90), e (10-20) too: positives 2
    n2 = q.lists.loc[q.lists["as_of"] == D2].set_index("tier")
    assert n2.loc["list", "precision"] == 0.5 and n2.loc["list", "recall"] == 0.5


def test_wilson_and_expected_interval_by_hand():
    # Wilson 2/3: centre (2/3 + 1.9208/3) / (1 + 3.8415/3), half-width as in the formula
    z = 1.959963984540054
    p, n = 2 / 3, 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson(2, 3) == pytest.approx((centre - half, centre + half))
    assert wilson(2, 3) == pytest.approx((0.2077, 0.9385), abs=1e-4)
    # expected of [.5, .3, .1], exact: P(0) = .5 * .7 * .9 = .315 >= 2.5%, so the low end is 0;
    # P(<= 1) = .315 + (.315 + .135 + .035) = .8 < 97.5% <= P(<= 2) = 1 - .5 * .3 * .1 = .985,
    # so the high end is 2 of 3
    e, lo, hi = expected_interval([0.5, 0.3, 0.1])
    assert (e, lo, hi) == pytest.approx((0.3, 0.0, 2 / 3))
    # a long list: the normal approximation, sd sqrt(1000 * (.25 + .21 + .09)) / 3000
    e, lo, hi = expected_interval([0.5, 0.3, 0.1] * 1000)
    sd = math.sqrt(1000 * 0.55) / 3000
    assert (e, lo, hi) == pytest.approx((0.3, 0.3 - z * sd, 0.3 + z * sd))


def test_missed_list_and_lead_time():
    snaps, labels = _nights()
    q = list_quality(snaps, labels, min_cell=1)
    # e: never listed; last night before 10-20 is 10-08, rank 4, tier none, scored on 2 nights
    m = q.missed.set_index("student_id")
    assert list(m.index) == ["e"]
    assert m.loc["e", "last_rank"] == 4 and m.loc["e", "best_rank"] == 4 and m.loc["e", "nights"] == 2
    assert m.loc["e", "last_tier"] == "none" and m.loc["e", "last_as_of"] == D2
    lead = q.lead.set_index("student_id")["lead_days"].to_dict()
    assert lead == {"a": 30, "c": 66}  # 10-02 - 09-02; 11-07 - 09-02
    assert q.lead_summary["events"] == 3 and q.lead_summary["caught_share"] == pytest.approx(2 / 3)
    assert q.lead_summary["median_lead_days"] == 48.0


def test_small_cells_are_suppressed():
    snaps, labels = _nights()
    q = list_quality(snaps, labels, min_cell=3)
    g = q.by_group.set_index(["dimension", "value"])
    # school s1 pools 5 listed rows (a, b, c; b, c): precision shown; 3 dropout rows: recall shown
    assert g.loc[("school_id", "s1"), "n"] == 5 and g.loc[("school_id", "s1"), "precision"] == pytest.approx(
        3 / 5
    )
    # s2: nothing listed -> precision suppressed; one dropout row per night (e) -> recall suppressed
    assert math.isnan(g.loc[("school_id", "s2"), "precision"])
    assert g.loc[("school_id", "s2"), "suppressed"] == "precision;recall"
    assert set(g.loc["grade_band"].index) == {"1-3", "4-6", "7-9"}


def test_ece_by_hand():
    # two bins: [.1, .2] never drop out, [.7, .9] one of two does: (2*.15 + 2*|.8-.5|)/4 = 0.225
    f = pd.DataFrame({"as_of": [D1] * 4, "probability": [0.1, 0.2, 0.7, 0.9], "label": [0, 0, 1, 0]})
    cal = calibration_drift(f, n_bins=2, max_ece=0.2)
    assert cal.overall_ece == pytest.approx(0.225)
    assert not cal.by_month["within_bounds"].iloc[0]


def test_wasserstein_and_js_by_hand():
    assert wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0  # every point moves 5
    assert wasserstein_distance([0, 0, 1], [0, 1, 1]) == pytest.approx(1 / 3)  # 1/3 of mass moves 1
    # reference std of [0, 2] is 1: a shift of 1 is a normed distance of 1
    assert normed_wasserstein([0, 2], [1, 3]) == pytest.approx(1.0)
    # disjoint categories: sqrt(ln 2)
    assert jensen_shannon({"a": 1.0}, {"b": 1.0}) == pytest.approx(math.sqrt(math.log(2)))
    # {a: .5, b: .5} vs {a: 1}: m = (.75, .25); JSD = (.5 ln(2/3) + .5 ln 2 + ln(4/3)) / 2
    jsd = (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2) + math.log(1 / 0.75)) / 2
    assert jensen_shannon({"a": 0.5, "b": 0.5}, {"a": 1.0}) == pytest.approx(math.sqrt(jsd))


def test_shifted_inputs_are_flagged():
    rng = np.random.default_rng(0)
    n = 4000
    ref = pd.DataFrame({
        "att_absence_rate_term": rng.gamma(2, 0.03, n),
        "att_late_count_term": rng.poisson(3, n).astype(float) + rng.integers(0, 4, n),
        "ctx_school_type": pd.Categorical(rng.choice(["central", "village"], n)),
        "acad_math_z_last": rng.normal(0, 1, n),
    })  # fmt: skip
    reference = feature_reference(ref)
    same = input_drift(reference, ref.sample(frac=0.5, random_state=1))
    assert not same.table["drifted"].any() and same.share == 0
    cur = ref.sample(frac=0.5, random_state=2).copy()
    cur["att_late_count_term"] = 0.0  # a school stopped recording 迟到
    cur["acad_math_z_last"] = cur["acad_math_z_last"] + 0.5  # shifted by half a std
    d = input_drift(reference, cur).table.set_index("feature")
    assert d.loc["att_late_count_term", "drifted"] and d.loc["acad_math_z_last", "drifted"]
    assert d.loc["acad_math_z_last", "distance"] == pytest.approx(0.5, abs=0.05)
    assert not d.loc["ctx_school_type", "drifted"] and not d.loc["att_absence_rate_term", "drifted"]


def test_status_rule():
    t = Thresholds()
    assert decide_status(as_of=D1.date(), thresholds=t, drift_share=0.0, overall_ece=0.01).status == "ok"
    d = decide_status(as_of=D1.date(), thresholds=t, overall_ece=0.09, latest_month_ece=0.08)
    assert d.status == "retrain" and "calibration" in d.reasons[0]
    d = decide_status(as_of=D1.date(), thresholds=t, capacity_high=0.10, evaluated_precision=0.2)
    assert d.status == "retrain" and "precision at capacity" in d.reasons[0]


def test_a_challenger_that_ranks_worse_is_not_promoted():
    champ = {"precision_at_cap10": 0.30, "ece": 0.010}
    worse = {"precision_at_cap10": 0.25, "ece": 0.010}
    assert not promotion_decision(worse, champ, tolerance=0.02).promote
    assert promotion_decision({"precision_at_cap10": 0.29, "ece": 0.01}, champ, tolerance=0.02).promote
    badly_calibrated = {"precision_at_cap10": 0.40, "ece": 0.2}
    d = promotion_decision(badly_calibrated, champ, max_ece=0.05)
    assert not d.promote and "ECE" in d.reason


def test_the_exact_expected_interval_matches_brute_force_and_covers_a_few_expected_events():
    """The list's expected interval is exact for short lists: its quantiles are those of every
    outcome enumerated (10 children, one pooled over two nights), and a list expecting 2 dropouts
    that sees 5 (the monitor's blue tier) is not called wrong by a normal approximation's
    too-short upper end."""
    import itertools

    import numpy as np

    from risk.monitoring.intervals import _exact_quantiles, expected_interval

    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.4, 10)
    weights = [2] + [1] * 9  # the first child counts on two nights
    dist = {}
    for outcome in itertools.product((0, 1), repeat=10):
        pr = float(np.prod([q if o else 1 - q for q, o in zip(p, outcome, strict=True)]))
        x = sum(w * o for w, o in zip(weights, outcome, strict=True))
        dist[x] = dist.get(x, 0.0) + pr
    cdf = np.cumsum([dist.get(x, 0.0) for x in range(12)])
    want = (int(np.argmax(cdf >= 0.025 - 1e-12)), int(np.argmax(cdf >= 0.975 - 1e-12)))
    assert _exact_quantiles(list(zip(p, weights, strict=True)), 11, 0.025) == want
    # 81 rows expecting 2.05 dropouts: 5 seen (0.0617) is inside the exact interval
    _, lo, hi = expected_interval([2.05 / 81] * 81)
    assert lo == 0.0 and hi >= 5 / 81
