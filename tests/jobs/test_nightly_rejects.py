"""A night stopped by the reject share (issue 20) leaves its rejects file in [job] out_dir."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pytest

from features.config import BaoxueConfig
from features.errors import DataContractError
from jobs.nightly import LedgerState, compute_night
from tests.features.conftest import write_county


def test_a_night_stopped_by_the_reject_share_leaves_its_rejects_file(tmp_path):
    att = "student_id,date,status\n" + "".join(f"a,2024-09-{d:02d},absent?\n" for d in range(2, 12))
    county = write_county(tmp_path / "county", attendance=att)
    cfg = BaoxueConfig()
    cfg = replace(cfg, job=replace(cfg.job, out_dir=str(tmp_path / "out")))
    with pytest.raises(DataContractError, match=r"rejects_2024-09-12\.csv lists every rejected row"):
        compute_night(cfg, dt.date(2024, 9, 12), LedgerState(run_exists=False), source=county)
    back = pd.read_csv(tmp_path / "out" / "rejects_2024-09-12.csv", encoding="utf-8-sig")
    assert len(back) == 10
