"""Risk in words a teacher can weigh: a multiple of the county average (hand-computed values)."""

from __future__ import annotations

import math

import pytest

from risk.reporting.labels import multiple_words, risk_multiple, risk_words


@pytest.mark.parametrize(
    ("p", "mean", "words"),
    [
        (0.12, 0.01, "约为全县平均的12倍"),  # 0.12 / 0.01 = 12
        (0.03, 0.02, "约为全县平均的1.5倍"),  # 1.5 exactly: the first multiple shown
        (0.0296, 0.01, "约为全县平均的3倍"),  # 2.96 rounds to 3.0 at one decimal: shown whole
        (0.0244, 0.01, "约为全县平均的2.4倍"),  # one decimal below 3
        (0.0245, 0.002, "约为全县平均的12倍"),  # 12.25 -> 12
        (0.0255, 0.002, "约为全县平均的13倍"),  # 12.75 -> 13
        (0.0144, 0.01, "与全县平均相近"),  # 1.44 shows as 1.4 < 1.5
        (0.0146, 0.01, "约为全县平均的1.5倍"),  # 1.46 shows as 1.5: the words follow the number shown
        (0.3, 0.2, "约为全县平均的1.5倍"),  # 0.3 / 0.2 is 1.4999999999999998 in floating point
        (0.007, 0.01, "与全县平均相近"),  # 0.7 > 1 / 1.5 = 0.667
        (0.006, 0.01, "低于全县平均"),  # 0.6 <= 0.667
        (0.0066, 0.01, "与全县平均相近"),  # 0.66 shows as 0.7
    ],
)
def test_risk_words_rounds_as_documented(p, mean, words):
    assert risk_words(p, mean) == words


def test_last_week_in_the_same_unit_with_last_weeks_average():
    assert risk_words(0.12, 0.01, 0.08) == "约为全县平均的12倍（上周约为8倍）"
    # last week's average 0.02: 0.05 / 0.02 = 2.5, not 0.05 / 0.01 = 5
    assert risk_words(0.05, 0.01, 0.05, previous_mean=0.02) == "约为全县平均的5倍（上周约为2.5倍）"
    assert risk_words(0.05, 0.01, 0.012) == "约为全县平均的5倍（上周与全县平均相近）"
    assert risk_words(0.12, 0.01, 0.08, language="en") == "about 12× the county average (last week about 8×)"
    assert risk_words(0.12, 0.01, 0.08, when=("上次", "last run")) == "约为全县平均的12倍（上次约为8倍）"


def test_missing_values_give_no_words_and_never_a_percentage():
    assert risk_words(float("nan"), 0.01) == "" and risk_words(0.1, 0.0) == "" and risk_words(0.1, None) == ""
    assert risk_words(0.12, 0.01, float("nan")) == "约为全县平均的12倍"  # not scored last week
    assert math.isnan(risk_multiple(0.1, float("nan")))
    assert "%" not in risk_words(0.03, 0.01, 0.02) and "<5" not in multiple_words(0.5)
