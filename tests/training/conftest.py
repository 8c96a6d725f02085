"""Shared fixtures: a synthetic evaluation frame (no simulator needed) and a small config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import TrainConfig
from training.splits import monthly_as_of_dates


@pytest.fixture(scope="session")
def small_config() -> TrainConfig:
    # tiny trees: the machine is shared; isotonic needs positives, so the base rate is high
    return TrainConfig(
        n_estimators=30, num_leaves=7, max_depth=3, min_child_samples=20, early_stopping_rounds=10
    )


@pytest.fixture(scope="session")
def synthetic_data() -> pd.DataFrame:
    """The layout of training.evaluate.evaluation_data: 300 students, monthly 2021-09..2024-03.

    Risk rises with att_absence (a rule column) and a hidden-to-the-rule acad_trend.
    """
    rng = np.random.default_rng(7)
    dates = monthly_as_of_dates("2021-09-01", "2024-03-01")
    n = 300
    rows = []
    ids = [f"s{i:03d}" for i in range(n)]
    school = rng.choice(["A", "B", "C"], n)
    grade = rng.integers(1, 10, n)
    sex = rng.choice(["M", "F"], n)
    for d in dates:
        absence = rng.beta(1, 12, n)
        trend = rng.normal(size=n)
        failed = rng.poisson(0.3, n).astype(float)
        logit = -3.2 + 9 * absence + 0.9 * trend + 0.3 * (grade >= 7)
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
        event = pd.Series(pd.Timestamp(d) + pd.to_timedelta(rng.integers(1, 90, n), unit="D")).where(y == 1)
        rows.append(
            pd.DataFrame(
                {
                    "student_id": ids,
                    "as_of": pd.Timestamp(d),
                    "label": y,
                    "event_date": event.astype("datetime64[s]"),
                    "school_id": school,
                    "grade": grade,
                    "sex": sex,
                    "grade_band": np.where(grade >= 7, "junior_7_9", "primary_1_6"),
                    "att_absence_rate_term": absence,
                    "acad_failed_subjects_last": failed,
                    "acad_bottom20_class": pd.array(rng.random(n) < 0.2, dtype="boolean"),
                    "acad_trend": trend,
                    "ctx_school_type": pd.Categorical(np.where(school == "C", "junior", "primary")),
                }
            )
        )
    data = pd.concat(rows, ignore_index=True)
    data["student_id"] = pd.Categorical(data["student_id"], categories=ids)
    data["school_id"] = data["school_id"].astype("category")
    data["as_of"] = data["as_of"].astype("datetime64[s]")
    return data
