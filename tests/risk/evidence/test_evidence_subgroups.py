"""Effects by intervention type and subgroup, Holm-adjusted."""

from __future__ import annotations

import json

import _evidence_synth as synth

from risk.evidence import borderline_effect, effects_by_group, rd_effect


def test_by_type_and_group_with_holm_and_failed_groups_reported():
    frames = {"tutoring": synth.decisions(0, band=3), "aid": synth.decisions(1, band=3)}
    frames["aid"] = frames["aid"].assign(
        randomised=frames["aid"]["randomised"] & frames["aid"]["left_behind"]
    )
    res = effects_by_group(borderline_effect, frames, by="left_behind", min_rows=20, n_boot=200)
    t = res.table
    assert t[["intervention_type", "left_behind"]].astype(str).agg("/".join, axis=1).tolist() == [
        "tutoring/False",
        "tutoring/True",
        "aid/False",
        "aid/True",
    ]
    failed = t.loc[(t["intervention_type"] == "aid") & ~t["left_behind"]]
    assert "no randomised students" in failed["error"].iloc[0]
    ok = t["p_value"].notna()
    assert (t.loc[ok, "p_holm"] >= t.loc[ok, "p_value"]).all()
    assert "3 estimates" in res.note and "Holm" in res.note
    assert set(res.results) == {("tutoring", False), ("tutoring", True), ("aid", True)}
    json.dumps(res.to_dict())


def test_small_groups_are_skipped_and_grade_band_works_with_rd():
    d = synth.decisions(0, n_schools=60)
    res = effects_by_group(rd_effect, d, by="grade_band", outcome="outcome_attendance", min_rows=10_000)
    assert res.table["error"].str.contains("min_rows").all()
    res = effects_by_group(rd_effect, d, by=["grade_band"], outcome="outcome_attendance")
    assert res.table["grade_band"].tolist() == ["junior", "primary"]
    assert (res.table["error"] == "").all()
