"""The one rule registry: labels built from the configured thresholds, one severity order for
tiers and cases, the contract's trigger codes, and the default words unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalog import catalog, phrase
from features.config import BaoxueConfig, RiskConfig, RulesConfig
from features.contract import CASE_TRIGGERS, NON_RULE_TRIGGERS, spec
from features.rulebook import RULEBOOK as FEATURES_RULEBOOK
from risk import assign
from risk.assign import case_trigger
from risk.reporting._examples import example_snapshot
from risk.reporting.weekly import weekly_class_list
from risk.rules import CASE_RULES, RULE_SEVERITY, RULEBOOK, Rule, rule_labels, rule_names
from risk.snapshot import RULES
from risk.tiers import assign_tiers

SEVEN = RulesConfig(registry_update_days=7)

#: the words before the registry, literally: with the default [rules] they must not change
TODAY_RULES = {
    "rule_48h": ("48小时无故缺勤", "48 hours absent without approved leave"),
    "rule_3day": (
        "连续3天以上无故缺勤 (疑似辍学)",
        "more than 3 consecutive unexcused school days (suspected dropout)",
    ),
    "rule_5day": (
        "连续5天无故缺勤 (须更新学籍)",
        "5 consecutive unexcused school days (registry update due)",
    ),
    "registry_mark": ("学籍已标注疑似辍学", "registry carries a suspected-dropout mark"),
    "leave_unapproved": ("请假超过5天未经校长批准", "leave over 5 days without the principal's approval"),
}
TODAY_FLAGS = {
    "att_rule_48h": (
        "48小时规则触发: 无假缺勤满2个上课日, 须上报",
        "48-hour rule fires: absent 2 school days without leave (report)",
        "无故缺勤已满48小时, 须上报乡镇和教育局",
        "absent 48 hours without leave: report to township and county",
    ),
    "att_rule_3day": (
        "疑似辍学规则触发: 连续无故缺勤超过3个上课日",
        "suspected-dropout rule fires: more than 3 consecutive unexcused school days",
        "连续无故缺勤超过3天, 按疑似辍学处理",
        "more than 3 school days absent: treat as suspected dropout",
    ),
    "att_rule_5day": (
        "学籍标注规则触发: 连续无故缺勤满5个上课日",
        "registry rule fires: 5 consecutive unexcused school days",
        "连续无故缺勤满5天, 须在学籍系统标注疑似辍学",
        "5 school days absent: mark suspected dropout in the registry",
    ),
}


def test_risk_rules_re_exports_the_one_registry():
    assert RULEBOOK is FEATURES_RULEBOOK
    assert assign.CASE_RULES is CASE_RULES


def test_default_labels_are_todays_strings():
    assert RULES == TODAY_RULES
    assert rule_names() == rule_names(RulesConfig()) == TODAY_RULES
    cat = catalog()
    for name, words in TODAY_FLAGS.items():
        e = cat[name]
        assert (e.zh, e.en, e.reason_zh, e.reason_en) == words


def test_labels_follow_the_configured_threshold():
    assert RULEBOOK["rule_5day"].label(SEVEN) == "连续7天无故缺勤 (须更新学籍)"
    assert (
        RULEBOOK["rule_5day"].label(SEVEN, "en")
        == "7 consecutive unexcused school days (registry update due)"
    )
    rc = RulesConfig(report_48h_days=3, suspected_dropout_days=4, principal_leave_days=7)
    assert rule_labels(rc)["rule_48h"] == "72小时无故缺勤"
    assert rule_labels(rc, "en")["rule_3day"].startswith("more than 4 consecutive")
    assert rule_labels(rc)["leave_unapproved"] == "请假超过7天未经校长批准"
    # the catalogue of the att_rule_* flags takes the county's config too
    cfg = BaoxueConfig(rules=SEVEN)
    assert catalog(cfg)["att_rule_5day"].zh == "学籍标注规则触发: 连续无故缺勤满7个上课日"
    assert (
        phrase("att_rule_5day", 1.0, "en", config=cfg)
        == "7 school days absent: mark suspected dropout in the registry"
    )


def test_six_days_do_not_fire_the_registry_update_at_seven():
    rule = RULEBOOK["rule_5day"]
    assert not rule.fires(6, SEVEN) and rule.fires(7, SEVEN) and rule.fires(6)
    streak = np.array([np.nan, 3.0, 4.0, 6.0, 7.0])
    assert rule.fires(streak, SEVEN).tolist() == [False, False, False, False, True]
    assert RULEBOOK["rule_3day"].fires(streak).tolist() == [False, False, True, True, True]


def test_one_severity_order_for_tiers_and_cases():
    assert RULE_SEVERITY == ("registry_mark", "rule_5day", "rule_3day", "rule_48h", "leave_unapproved")
    assert CASE_RULES == tuple(c for c in RULE_SEVERITY if RULEBOOK[c].opens_case)
    assert [RULEBOOK[c].severity for c in RULE_SEVERITY] == sorted(r.severity for r in RULEBOOK.values())
    # every pair of rules: the tier names the same rule a case is opened for
    idx = pd.Index([f"s{i}" for i in range(len(CASE_RULES) ** 2)], name="student_id")
    pairs = [f"{a};{b}" for a in CASE_RULES for b in CASE_RULES]
    t = assign_tiers(
        pd.Series(0.01, index=idx), pd.Series(pairs, index=idx), pd.DataFrame(index=idx),
        config=RiskConfig(),
    )  # fmt: skip
    assert t["tier_condition"].tolist() == [f"rule:{case_trigger(p)}" for p in pairs]
    # an official registry mark outranks a mark merely due
    assert case_trigger("rule_5day;registry_mark") == "registry_mark"


def test_tier_reasons_follow_the_county_rules():
    idx = pd.Index(["a", "b"], name="student_id")
    p = pd.Series([0.01, 0.01], index=idx)
    fired = pd.Series(["rule_48h;rule_3day;rule_5day", ""], index=idx)
    t = assign_tiers(p, fired, pd.DataFrame(index=idx), config=BaoxueConfig(rules=SEVEN))
    assert t.loc["a", "tier_condition"] == "rule:rule_5day"
    assert t.loc["a", "tier_reason_zh"] == "规则触发: 连续7天无故缺勤 (须更新学籍)"
    assert (
        t.loc["a", "tier_reason_en"]
        == "rule fired: 7 consecutive unexcused school days (registry update due)"
    )
    t = assign_tiers(p, fired, pd.DataFrame(index=idx), config=RiskConfig(), rules_config=SEVEN)
    assert t.loc["a", "tier_reason_zh"] == "规则触发: 连续7天无故缺勤 (须更新学籍)"
    t = assign_tiers(p, fired, pd.DataFrame(index=idx))
    assert t.loc["a", "tier_reason_zh"] == "规则触发: 连续5天无故缺勤 (须更新学籍)"


def test_weekly_list_names_fired_rules_in_the_county_words():
    snap = example_snapshot()
    snap.loc[snap["student_id"] == "a", "rules"] = "rule_48h;rule_5day"
    wl = weekly_class_list(snap, "c1", rules_config=SEVEN)
    assert (
        wl.students.set_index("student_id").loc["a", "rules"]
        == "48小时无故缺勤；连续7天无故缺勤 (须更新学籍)"
    )
    wl = weekly_class_list(snap, "c1", rules_config=SEVEN, language="en")
    assert "7 consecutive unexcused school days" in wl.students.set_index("student_id").loc["a", "rules"]


def test_every_contract_trigger_rule_is_a_registry_rule():
    triggers = spec("cases").column("trigger").values
    assert triggers == CASE_TRIGGERS
    rule_triggers = [t for t in triggers if t not in NON_RULE_TRIGGERS]
    assert set(rule_triggers) <= set(RULEBOOK)
    assert set(rule_triggers) == set(CASE_RULES)
    assert not set(NON_RULE_TRIGGERS) & set(RULEBOOK)


def test_a_rule_without_a_comparison_or_with_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="comparison"):
        Rule("x", "leave_weekdays", "principal_leave_days", None, severity=9, opens_case=False, zh="", en="")
    with pytest.raises(ValueError, match="no field"):
        Rule("x", "leave_weekdays", "no_such_days", ">", severity=9, opens_case=False, zh="", en="")
    with pytest.raises(ValueError, match="no threshold"):
        RULEBOOK["registry_mark"].fires(3)
