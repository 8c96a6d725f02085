"""``risk.monitoring.panel.judged_panel``: one cohort a night gives the same labels as
``training.labels.label_panel`` and the same watched groups as ``training.fairness.audit_groups``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.config import TrainConfig


@pytest.fixture(scope="module")
def tables():
    from features.load import tables_from_frames
    from features.sim import simulate_county

    county = simulate_county(students=400, years=2, seed=3, preset="reap_2010", start_year=2022)
    return tables_from_frames(county.frames).tables


def _night_by_night(tables, nights, cfg, until):
    from training.labels import make_labels

    parts = []
    for day in nights:
        lab = make_labels(tables, day, cfg, until=until).reset_index()
        lab.insert(1, "as_of", day)
        parts.append(lab)
    out = pd.concat(parts, ignore_index=True)
    return out.assign(as_of=out["as_of"].astype("datetime64[s]"))


@pytest.mark.parametrize("streak_days", [20, 3])
def test_labels_of_all_nights_at_once_are_make_labels_night_by_night(tables, streak_days):
    """The streak rule at the default 20 days and at 3 (many runs, nights inside a run)."""
    from training.labels import label_panel

    cfg = TrainConfig(streak_days=streak_days)
    nights = list(pd.date_range("2022-09-01", "2024-03-08", freq="4D"))
    until = dt.date(2024, 7, 10)
    got = label_panel(tables, nights, cfg, until=until)
    pd.testing.assert_frame_equal(got, _night_by_night(tables, nights, cfg, until))
    assert got["label"].sum() > 0


def test_one_cohort_a_night_gives_the_labels_and_groups_of_the_two_functions(tables):
    from risk.monitoring.panel import WATCHED, judged_panel
    from training.fairness import audit_groups
    from training.labels import label_panel

    cfg = TrainConfig()
    nights = list(pd.date_range("2023-09-04", "2024-03-08", freq="13D"))
    until = dt.date(2024, 7, 10)
    labels, groups = judged_panel(tables, nights, cfg, until=until)
    want = label_panel(tables, nights, cfg, until=until)
    pd.testing.assert_frame_equal(labels, want)
    # and both are make_labels night by night (one cohort a night, the events filtered per night)
    pd.testing.assert_frame_equal(labels, _night_by_night(tables, nights, cfg, until))
    assert labels["label"].sum() > 0  # the county has dropouts to label
    g = audit_groups(tables, nights)[["student_id", "as_of", *WATCHED]]
    assert all(isinstance(groups[w].dtype, pd.CategoricalDtype) for w in WATCHED)
    pd.testing.assert_frame_equal(groups.astype(dict.fromkeys(WATCHED, "str")), g, check_dtype=False)
    for w in WATCHED:  # every group has more than one value on these nights
        assert groups[w].nunique() > 1, w
    # without the optional tables every child is "unknown", as audit_groups says
    bare = tables.replace(left_behind=None, hardship=None)
    _, gb = judged_panel(bare, nights[:2], cfg, until=until)
    want = audit_groups(bare, nights[:2])[["student_id", "as_of", *WATCHED]]
    pd.testing.assert_frame_equal(gb.astype(dict.fromkeys(WATCHED, "str")), want, check_dtype=False)
    assert judged_panel(tables, nights[:1], cfg, until=until, watched=None)[1] is None
    with pytest.raises(ValueError, match="sex"):
        judged_panel(tables, nights[:1], cfg, until=until, watched=("sex",))
