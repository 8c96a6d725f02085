"""Simulated attendance (features.sim.attendance): dropouts show rising absence before they go."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.sim import simulate_county


def test_dropouts_show_absence_before_they_go(tmp_path):
    county = simulate_county(students=3000, years=2, seed=4, preset="reap_2010")
    att = county.frames["attendance"]
    ep = county.truth["episodes"]
    rest = ep[ep["fatal"] & ~ep["noshow"]]
    rest = rest[pd.to_datetime(rest["start_date"]).dt.month.isin([11, 12, 4, 5, 6])]
    assert len(rest) > 10
    unexc = att["status"].eq("unexcused")
    rates = []
    for row in rest.itertuples():
        start = pd.Timestamp(row.start_date)
        mine = att[
            (att["student_id"] == row.student_id)
            & (att["date"] < start)
            & (att["date"] >= start - pd.Timedelta(days=35))
        ]
        rates.append(unexc[mine.index].mean())
    base = unexc.mean()
    assert np.nanmean(rates) > 5 * base
