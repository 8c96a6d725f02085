"""The risk snapshot: what one scoring run says about every student, one row each.

:func:`risk.assess.assess` returns a DataFrame with exactly these columns (in this
order); ``baoxue score`` writes it to a file and the nightly job stores it, immutable,
per run. Reports and the case ledger read it. Names and national IDs are never in it.

Multi-valued cells are plain strings so that the frame writes to Parquet, CSV, XLSX
and SQL alike: codes are joined with ``;`` (``rules``, ``reason_codes``,
``measures``) and sentences with ``；`` (zh) or ``; `` (en). ``rule_evidence`` is JSON.
"""

from __future__ import annotations

from risk.rules import rule_names

__all__ = ["SNAPSHOT_COLUMNS", "TIERS", "RULES", "MEASURES", "snapshot_markdown"]

#: tiers in precedence order; "none" = not on any list
TIERS: tuple[str, ...] = ("red", "yellow", "blue", "none")

#: rule codes (the ``cases.trigger`` codes of the data contract) with their zh / en names under
#: the default ``[rules]``; the registry is :data:`risk.rules.RULEBOOK`, and with a county's
#: config at hand use :func:`risk.rules.rule_names` (the numbers follow its thresholds)
RULES: dict[str, tuple[str, str]] = rule_names()

#: measure codes (DOMAIN.md "Supports") with their zh / en names
MEASURES: dict[str, tuple[str, str]] = {
    "home_visit": ("家访劝返", "home visit and persuasion"),
    "tutoring": ("学困帮扶", "academic help: tutoring, layered teaching, peer help"),
    "aid_referral": ("资助转介", "financial aid referral"),
    "care_counselling": ("情感关怀与心理辅导", "care and counselling"),
    "home_teaching": ("送教上门", "home teaching"),
}

#: column -> (dtype, meaning)
SNAPSHOT_COLUMNS: dict[str, tuple[str, str]] = {
    "student_id": ("str", "opaque student key"),
    "as_of": ("datetime64[s]", "the day the snapshot describes"),
    "school_id": ("str", "school on as_of"),
    "class_id": ("str", "class on as_of"),
    "grade": ("int64", "grade 1-9 on as_of"),
    "probability": ("float64", "calibrated probability of dropping out within the horizon (90 days)"),
    "rank_county": ("int64", "1 = highest risk in the whole run"),
    "rank_school": ("int64", "1 = highest risk in the school"),
    "rank_class": ("int64", "1 = highest risk in the class"),
    "tie_key": ("str", "how equal probabilities were ordered: a hash of (student_id, as_of)"),
    "tier": ("category", "red / yellow / blue / none"),
    "tier_condition": ("str", "code of the condition that set the tier, e.g. rule:rule_3day, risk>=0.1"),
    "tier_reason_zh": ("str", "that condition in words (zh)"),
    "tier_reason_en": ("str", "that condition in words (en)"),
    "tags": ("str", "';'-joined watched groups (left_behind, migrant, poor, ...): a tag, never a colour"),
    "rules": ("str", "';'-joined codes of RULES that fire on as_of ('' when none)"),
    "rule_evidence": ("str", "JSON list of {rule, first_day, days, dates, ...} per fired rule"),
    "capacity": ("int64", "the school's case capacity this run"),
    "selected": (
        "bool",
        "gets a case: red (always) or yellow (within capacity, at or above the yellow threshold)",
    ),
    "borderline": ("bool", "in the randomised borderline band"),
    "assignment_mechanism": ("str", "rule / model_rank / random_borderline / '' (not selected)"),
    "listed": ("bool", "on the school's list: red, yellow, or selected"),
    "explained": ("bool", "SHAP reasons were computed for this row"),
    "reason_codes": ("str", "';'-joined feature columns of the top reasons (internal, not shown)"),
    "reason_families": ("str", "';'-joined families of the top reasons, strongest first"),
    "reasons_zh": ("str", "top reasons pushing risk up, sentences joined by '；'"),
    "reasons_en": ("str", "the same in English, joined by '; '"),
    "protective_zh": ("str", "top protective factors (zh)"),
    "protective_en": ("str", "top protective factors (en)"),
    "measures": ("str", "';'-joined MEASURES codes suggested (a draft for the counsellor)"),
    "measures_zh": ("str", "the measures in words (zh)"),
    "measures_en": ("str", "the measures in words (en)"),
    "model_version": ("str", "model bundle identity (registered version or file) and code version"),
}


def snapshot_markdown() -> str:
    """The snapshot columns as a Markdown table (for the README).

    >>> snapshot_markdown().splitlines()[2].startswith("| `student_id`")
    True
    """
    rows = ["| column | type | meaning |", "|---|---|---|"]
    rows += [f"| `{c}` | {t} | {m} |" for c, (t, m) in SNAPSHOT_COLUMNS.items()]
    return "\n".join(rows)
