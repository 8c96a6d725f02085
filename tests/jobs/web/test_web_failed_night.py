"""Issue 20: a failed night is a row in ``runs`` with no snapshot; the web app's lists keep
showing the last good night."""

from __future__ import annotations

import datetime as dt
import re

from features.config import BaoxueConfig
from jobs.guard import record_failed_night
from jobs.storage import read_runs
from tests.jobs.web.conftest import DAY


def test_a_failed_night_after_a_good_one_leaves_the_class_list_in_place(as_role, ledger):
    h1 = as_role("h1")
    good = h1.get("/class/c1")
    assert good.status_code == 200
    later = DAY + dt.timedelta(days=1)
    row = record_failed_night(
        ledger, BaoxueConfig(), later, "20250311-test", stage="cases", error=RuntimeError("boom"),
        started=dt.datetime.combine(later, dt.time(2)), seconds=1.0,
    )  # fmt: skip
    assert row is not None and read_runs(ledger, status="failed")["failed_stage"].tolist() == ["cases"]
    again = h1.get("/class/c1")
    assert again.status_code == 200

    def page(resp) -> str:  # without the per-request CSRF token
        return re.sub(r'"[\w-]+\.[\w-]+\.[\w-]+"', '""', resp.get_data(as_text=True))

    assert page(again) == page(good)
    assert "2025-03-10" in page(good), page(good)[-3000:]
