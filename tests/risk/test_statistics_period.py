"""The township's 《新增疑似辍学学生情况统计表》 on the 10th, 20th and 30th of each month
(``[reports] statistics_days``), beside the monthly report (issue 19). Expected counts by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import ConfigError, ReportsConfig, parse_config
from risk.reporting._examples import example_snapshot
from risk.reporting.monthly import monthly_report, statistics_window

CASES = pd.DataFrame({
    "case_id": ["k1", "k2", "k3"], "student_id": ["a", "b", "c"],
    "opened_at": ["2025-03-05", "2025-03-15", "2025-03-18"], "trigger": ["rule_3day"] * 3,
    "case_type": ["suspected_dropout"] * 3, "status": ["open", "open", "closed"],
    "closed_at": [None, None, "2025-03-19"], "closure_reason": [None, None, "returned"],
    "returned_at": [None, None, "2025-03-19"], "reason_primary": ["work", "family", "work"],
})  # fmt: skip


def test_a_period_counts_what_happened_in_it_and_who_is_still_out_at_its_end():
    start, end = statistics_window("2025-03-20")
    r = monthly_report("2025-03", cases=CASES, snapshot=example_snapshot(), window=(start, end))
    total = r.units[["new_suspected", "returned", "still_out"]].sum().to_dict()
    # new in 03-11..03-20: k2 and k3; k3 returned on 03-19; still out on 03-20: k1 and k2
    assert total == {"new_suspected": 2, "returned": 1, "still_out": 2}
    assert len(r.form) == 2 and r.period_text == "2025-03-11 至 2025-03-20"
    # the first period of the month: k1 only
    first = monthly_report(
        "2025-03", cases=CASES, snapshot=example_snapshot(), window=statistics_window("2025-03-10")
    )
    assert first.units["new_suspected"].sum() == 1 and first.units["still_out"].sum() == 1
    # the whole month, for comparison: all three new
    month = monthly_report("2025-03", cases=CASES, snapshot=example_snapshot())
    assert month.units["new_suspected"].sum() == 3 and month.window is None


def test_the_days_come_from_the_config_and_are_checked():
    cfg = parse_config({"reports": {"statistics_days": [5, 15, 25]}})
    assert cfg.reports.statistics_days == (5, 15, 25)
    assert [str(d.date()) for d in statistics_window("2025-03-14", cfg.reports.statistics_days)] == [
        "2025-02-26", "2025-03-05"]  # fmt: skip
    for bad in ((20, 10), (), (0, 10), (10, 10, 20), (10, 32)):
        with pytest.raises(ConfigError, match="statistics_days"):
            ReportsConfig(statistics_days=bad)
