"""Evidence: estimating what interventions achieve, from the data baoxue itself logs.

Four designs, one result type (:class:`EffectEstimate`: estimate, interval, sample and
assumptions in words, diagnostics):

- :func:`borderline_effect` — the randomised borderline band (a lottery; the strongest evidence);
- :func:`rd_effect` — regression discontinuity at each school's capacity cut-off (``rdrobust``);
- :func:`aipw_effect` — doubly robust, cross-fitted comparison for supports given without a design;
- :func:`event_study` — attendance in the weeks around a case opening (difference in differences).

Their input is the ``decisions`` frame (:func:`decisions_frame`, one row per student and
run) or, for the event study, a student-week attendance panel (:func:`event_panel`).
:func:`replay_policy` runs the job's policy on a simulated county with known effects, and
:func:`evaluate_interventions` runs every design at once (``baoxue evaluate-interventions``).
:func:`effects_by_group` runs any of them per intervention type and subgroup, with
Holm-adjusted p-values and the multiple-comparison caution.
"""

from __future__ import annotations

from ._result import EffectEstimate, EstimationError, results_frame
from .borderline import borderline_effect, newcombe_interval
from .decisions import DECISION_COLUMNS, decisions_frame, grade_band
from .doubly_robust import OverlapWarning, aipw_effect
from .evaluate import InterventionEvaluation, evaluate_interventions, evaluation_decisions, event_panel
from .event_study import event_study
from .rd import rd_effect, running_variable
from .replay import PolicyReplay, TrueEffects, policy_outcomes, replay_policy, write_replay
from .subgroups import SubgroupEffects, effects_by_group, holm

__all__ = [
    "DECISION_COLUMNS",
    "EffectEstimate",
    "EstimationError",
    "InterventionEvaluation",
    "OverlapWarning",
    "PolicyReplay",
    "SubgroupEffects",
    "TrueEffects",
    "aipw_effect",
    "borderline_effect",
    "decisions_frame",
    "effects_by_group",
    "evaluate_interventions",
    "evaluation_decisions",
    "event_panel",
    "event_study",
    "grade_band",
    "holm",
    "newcombe_interval",
    "policy_outcomes",
    "rd_effect",
    "replay_policy",
    "results_frame",
    "running_variable",
    "write_replay",
]
