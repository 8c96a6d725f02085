"""The model card and impact assessment: every section there, its numbers from the evaluation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from features.config import BaoxueConfig
from jobs.reports.model_card import SECTIONS, fairness_intervals, model_card, write_model_card
from training.evaluate import evaluate


@pytest.fixture(scope="module")
def card_inputs(synthetic_data, small_config):
    rep = evaluate(synthetic_data, small_config, capacity=5, explain_rows=50)
    cfg = BaoxueConfig()
    cfg = replace(cfg, train=small_config, risk=replace(cfg.risk, capacity_per_school=5))
    return rep, cfg, synthetic_data


def test_the_card_has_every_section_and_quotes_the_evaluation(card_inputs, tmp_path):
    rep, cfg, data = card_inputs
    card = model_card(rep.bundle, cfg, report=rep, data=data, version="7", decision="no champion yet")
    for n, (zh, en) in enumerate(SECTIONS, 1):
        assert f"## {n}. {zh} {en}" in card.markdown
        assert f"{n}. {zh} {en}" in card.html
    for words in ("人工复核", "第五十六条", "保存期限", "小升初", "九月", "use_restricted", "ethnicity_code"):
        assert words in card.markdown
    # headline numbers are the evaluation's
    lgb = rep.metrics.loc["lightgbm"]
    assert f"{lgb['precision_at_cap5']:.1%}" in card.markdown
    assert f"{lgb['roc_auc']:.3f}" in card.markdown
    assert f"{1 - lgb['recall_at_cap5']:.1%} 的辍学学生不在" in card.markdown  # the PIA's missed share
    # the per-tier table replays the tiers on the test rows only
    test_rows = data.loc[rep.design.part(data["as_of"], "test")]
    assert card.tiers["n"].sum() == len(test_rows)
    assert card.tiers["dropouts"].sum() == int(test_rows["label"].sum())
    red = card.tiers.set_index("tier").loc["red"]
    assert f"{red['precision']:.1%}" in card.markdown
    # fairness gaps are the audit's, with an interval around them
    gaps = rep.fairness.gaps
    for _, row in card.fairness.iterrows():
        if row["recall_at_k"] == row["recall_at_k"]:
            assert row["recall_at_k"] == pytest.approx(gaps.loc[row["attribute"], "recall_at_k"])
            assert row["recall_at_k_low"] <= row["recall_at_k"] <= row["recall_at_k_high"]
    assert "s001" not in card.markdown and "s299" not in card.html  # aggregates only
    paths = write_model_card(card, tmp_path)
    assert [p.name for p in paths] == ["model_card.md", "model_card.html"]


def test_the_card_says_when_there_is_no_evaluation(card_inputs):
    rep, cfg, _ = card_inputs
    card = model_card(rep.bundle, cfg)
    assert "未评估 not evaluated" in card.markdown and not len(card.tiers)


def test_fairness_interval_of_two_groups():
    import pandas as pd

    by = pd.DataFrame({"attribute": "sex", "group": ["F", "M"], "n": [200, 200], "positives": [20, 20],
                       "recall_at_k": [0.5, 0.25], "precision_at_k": [0.25, 0.125], "listed_share": [0.2, 0.2]})  # fmt: skip
    f = fairness_intervals(by).iloc[0]
    assert f["recall_at_k"] == pytest.approx(0.25) and f["recall_at_k_groups"] == "F − M"
    assert -0.1 < f["recall_at_k_low"] < 0.25 < f["recall_at_k_high"] < 0.6
