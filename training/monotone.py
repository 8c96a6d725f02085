"""Monotone constraints: the direction in which a feature may move the model's risk.

A head teacher reads a list as "more unexcused absence, more risk". A tree model fitted on a
few hundred positives can learn the opposite in a thin corner of the data (a child with 4
unexcused days scored below one with 3), and the reasons would then name absence as what
lowers the risk. For every catalogue feature whose direction is known from the domain
(``/work/shared/design/SIMULATOR.md`` relative risks, DOMAIN.md), :func:`feature_direction`
gives LightGBM's ``monotone_constraints`` entry: ``+1`` the risk never falls as the value
rises, ``-1`` it never rises, ``0`` free. ``[train] monotone = true`` (the default) applies
them; the cost and gain on precision at capacity is in ``benchmarks/RESULTS.md``
("Monotone constraints").

Free (0) on purpose: features whose direction the evidence does not fix or that mix causes
(leave is often illness, aid goes to the poor, the father-only-away effect is small and
protective against the other left-behind columns, school context, calendar position,
categories, record counts).

>>> feature_direction("att_unexcused_days_10d"), feature_direction("acad_composite_pct_grade_last")
(1, -1)
>>> feature_direction("att_leave_days_term"), feature_direction("ctx_grade")
(0, 0)
>>> monotone_constraints(["att_unexcused_rate_15d", "acad_failed_subjects_last", "lb_caregiver"])
[1, 1, 0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["INCREASING", "DECREASING", "feature_direction", "monotone_constraints", "constrained"]

#: risk never falls as these rise (patterns match the whole column name)
INCREASING: tuple[str, ...] = (
    # attendance: absence, unexcused absence, runs of it, the rule flags
    r"att_absence_rate_(term|\d+d)",
    r"att_unexcused_rate_(term|\d+d)",
    r"att_unexcused_days_\d+[dw]",
    r"att_unexcused_slope_\d+w",
    r"att_unexcused_streak_(current|max_term)",
    r"att_days_since_present",
    r"att_return_late_(spring|autumn)",
    r"att_rule_\w+",
    # academic: failing, falling into the bottom of the class, missed exams, repeating a grade
    r"acad_bottom[\d_]+_(class|new)",
    r"acad_failed_subjects_last",
    r"acad_exams_missed_year",
    r"acad_repeated_grade",
    # hardship (SIMULATOR: poor x2.0/1.4, parent ill x1.5, >= 2 siblings x1.3)
    r"hard_is_(registered_poor|monitored|dibao|tekun|de_facto_unsupported|disabled_household|poor_any)",
    r"hard_level",
    r"hard_parent_(ill|died)",
    r"hard_orphan",
    r"hard_has_siblings",
    r"hard_family_event_\d+d",
    # left-behind: mother away (incl. both) x1.6, a parent newly gone
    r"lb_(mother|both_parents)_away",
    r"lb_parent_left_\d+d",
    # over-age for the grade x1.6 per year; a returned dropout (复学生) x2.0
    r"ctx_overage_years",
    r"ctx_returned_dropout",
)

#: risk never rises as these rise: grades, and their trend
DECREASING: tuple[str, ...] = (
    r"acad_composite_score_last",
    r"acad_\w+_pct_(class|grade)_last",
    r"acad_composite_pct_change",
    r"acad_composite_pct_slope_\w+",
    r"acad_composite_pct_class_mean_\w+",
)

_UP = re.compile("|".join(f"(?:{p})" for p in INCREASING))
_DOWN = re.compile("|".join(f"(?:{p})" for p in DECREASING))


def feature_direction(name: str) -> int:
    """+1, -1 or 0: the monotone constraint of the feature column ``name`` (see the module notes)."""
    if _UP.fullmatch(name):
        return 1
    if _DOWN.fullmatch(name):
        return -1
    return 0


def monotone_constraints(columns: Sequence[str]) -> list[int]:
    """LightGBM's ``monotone_constraints``: one entry per column, in order."""
    return [feature_direction(str(c)) for c in columns]


def constrained(columns: Sequence[str]) -> dict[str, int]:
    """The constrained columns of ``columns`` and their direction (for the model card and tests)."""
    return {str(c): d for c in columns if (d := feature_direction(str(c)))}
