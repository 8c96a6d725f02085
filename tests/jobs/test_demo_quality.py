"""The demo's model beats logistic regression and the county rule on the demo county's test year.

`make demo` shows a head teacher's lists made by the LightGBM model; that is honest only if the
model beats the simpler recipes on the demo's own county. This runs the demo's evaluation
(``jobs.demo.run_demo``: simulate, load through the data contract, evaluate on the last school
year, train, register) with the demo's preset, years and seed, at ``STUDENTS`` students, and
asserts the model's precision at capacity (the list a school can act on: 10 students per school
and month) and PR AUC are above both baselines'. The demo's default size is measured in
benchmarks/RESULTS.md ("Demo size").
"""

from __future__ import annotations

import pytest

from jobs.demo import DEMO_PRESET, DEMO_SEED, DEMO_YEARS, run_demo

pytestmark = pytest.mark.slow

#: the test county: the demo's preset, years and seed at 4,000 students (about 80 CPU-seconds;
#: the default 6,000 takes twice as long; its figures are in benchmarks/RESULTS.md "Demo size")
STUDENTS = 4000


@pytest.fixture(scope="module")
def demo_metrics(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_quality")
    result = run_demo(
        out, students=STUDENTS, years=DEMO_YEARS, seed=DEMO_SEED, preset=DEMO_PRESET, nightly_weeks=0
    )
    assert result.headline is not None
    return result.headline


@pytest.mark.parametrize("baseline", ["logistic", "rule"])
@pytest.mark.parametrize("metric", ["precision_at_cap10", "pr_auc"])
def test_demo_model_beats_baseline(demo_metrics, baseline, metric):
    m = demo_metrics[metric]
    assert m["lightgbm"] > m[baseline], demo_metrics.round(4).to_string()
