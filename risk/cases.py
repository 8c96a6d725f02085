"""Case policy: what tonight's snapshot, the calendar and the staff's updates do to the 台账.

Pure functions of frames and dicts (no database, no clock): they **return the changes** and
``jobs/ledger.py`` writes them in the caller's transaction. The web app and the staff sheet
import go through the same transition functions, so a case moves the same way wherever the
change comes from.

A night, in two steps (the second reads the open cases as the first left them)::

    night_case_changes  open a case for each rule alert and selected student, choose the
                        first intervention, update the cases already open, reopen a returned
                        suspected dropout whose rule fires again   (plan: risk.assign.plan_cases)
    timed_case_changes  propose closing after a return (return_days school days at school)
                        or after auto_close_days off the list, close what was proposed and
                        left unanswered (and choose the closure reason), suggest the next
                        四步法 step (never take it)

Transitions (each returns the case columns to set; ``{}`` when it does not apply):

- :func:`reopen`: a returned case back to ``open`` (its return and closing proposal undone);
- :func:`mark_returned`: an ``open`` case to ``returned``, proposed for closing (销号) that day;
- :func:`propose_close`: proposed for closing (a prevention case off the list);
- :func:`close`: ``closed`` with a reason from :data:`CLOSURE_REASONS`;
- :func:`place`: a placement (劝返安置) recorded; any placement but ``still_out`` closes
  the case as ``placed``;
- :func:`take_step`: a four-step step taken by a person (``four_step_stage``);
- :func:`suggest_escalation`: the job suggested the next step (``escalated_at``);
- :func:`report_dropout`: a head teacher reports a suspected dropout (the web app): a new
  suspected-dropout case, as the night would open it for a rule.

Staff updates (the import, the web app): :func:`apply_staff_update` is the one state machine.
It checks one update against its case (:func:`staff_update_problems`: a suspected dropout is
closed only when back or lawfully placed, :func:`closing_problems`; four-step steps in order
and only on suspected dropouts, :func:`step_problems`; dates between the case's opening and the
day of the update; values that fit their column, :func:`length_problems`) and returns the
change (:func:`staff_update_change`) or the reasons it is refused (:class:`Rejection`, in
English and Chinese). The night's automatic closing obeys :func:`closing_problems` too.

Identifiers are deterministic (:func:`case_id_for`, :func:`event_id_for`: hashes of the
student, kind, day, run and event type), so the same night gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import JobConfig
from features.contract import spec
from risk.assign import OWNER_ROLES, auto_closes, escalations, off_list, plan_cases, present_streaks, returns

__all__ = [
    "none_if_missing",
    "OPEN_STATUSES",
    "CLOSURE_REASONS",
    "SYSTEM_EVENT_TYPES",
    "IMPORT_EVENT_TYPES",
    "CASE_CHANGE_COUNTS",
    "CaseChanges",
    "Rejection",
    "stable_hash",
    "case_id_for",
    "event_id_for",
    "system_event",
    "night_case_changes",
    "timed_case_changes",
    "return_streaks",
    "auto_closure_reason",
    "reopen",
    "mark_returned",
    "propose_close",
    "close",
    "place",
    "take_step",
    "suggest_escalation",
    "report_dropout",
    "LEGAL_CASE_TYPES",
    "FOUR_STEP_EVENT_TYPES",
    "LAWFUL_EXITS",
    "NOTE_MAX_CHARS",
    "closing_problems",
    "step_problems",
    "length_problems",
    "staff_update_problems",
    "staff_update_change",
    "apply_staff_update",
]

#: case statuses that count as "open" (one per student and kind)
OPEN_STATUSES: tuple[str, ...] = ("open", "returned")

#: why a case was closed (销号)
CLOSURE_REASONS: tuple[str, ...] = (
    "returned",  # back at school (confirmed, or automatically after auto_close_days)
    "placed",  # lawfully placed (劝返安置)
    "transferred",  # verified transfer
    "exempt",  # 免予入学 / 缓学
    "deceased",
    "not_a_dropout",  # e.g. enrolled elsewhere without registry, data error
    "off_list",  # prevention case: off the list and not kept by staff
    "other",
)

#: events the nightly job writes (beyond the contract's staff event types)
SYSTEM_EVENT_TYPES: tuple[str, ...] = (
    "opened",  # the case was opened; detail holds the evidence (rules, dates, risk, reasons)
    "evidence",  # a rule newly fired / the student came back on the list (new evidence)
    "escalation",  # open beyond [job] escalation_days: suggests the next four-step step
    "returned",  # back at school [job] return_days consecutive school days
    "close_proposed",  # proposed for closing (销号); staff confirm by import, or auto-close
    "closed",  # closed (销号): confirmed by staff or automatically
    "reopened",  # a returned student's rule fired again before the case was closed
)

#: events staff report (``baoxue cases import``, the web app): the contract's
#: ``case_events.event_type`` codes, plus ``step`` = a four-step step taken and ``close`` =
#: closing confirmed
IMPORT_EVENT_TYPES: tuple[str, ...] = (
    *next(c for c in spec("case_events").columns if c.name == "event_type").values,
    "step",
    "close",
)

#: the counts a night's :class:`CaseChanges` carry (``jobs.ledger.LedgerCounts`` adds the rest)
CASE_CHANGE_COUNTS: tuple[str, ...] = (
    "opened",
    "updated",
    "closed",
    "escalations",
    "returned",
    "over_capacity",
    "unowned",
    "waiting",
)

# the snapshot's first recommended measure -> the first intervention of a prevention case
_MEASURE_TO_TYPE = {
    "home_visit": "home_visit",
    "tutoring": "tutoring",
    "aid_referral": "aid",
    "care_counselling": "counselling",
    "home_teaching": "home_teaching",
}
_EVIDENCE_KEYS = (
    "probability",
    "rank_school",
    "tier",
    "tier_condition",
    "rules",
    "reason_families",
    "measures",
)
_STAFF_COLUMNS = ("staff_id", "school_id", "role", "class_id", "max_open_cases")


@dataclass
class CaseChanges:
    """What to write to the ledger: rows to insert, case columns to set, events to append.

    ``new_cases`` and ``interventions`` are rows of the ``cases`` and ``interventions``
    tables; ``updates`` maps a ``case_id`` to the columns to set on it (in the order they
    were decided); ``events`` are ``case_events`` rows (append-only); ``counts`` holds
    :data:`CASE_CHANGE_COUNTS`.
    """

    new_cases: list[dict] = field(default_factory=list)
    interventions: list[dict] = field(default_factory=list)
    updates: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CASE_CHANGE_COUNTS, 0))


@dataclass(frozen=True)
class Rejection:
    """Why a staff update is refused: the column at fault and the reason (English, for the
    rejects file), and the same reason in Chinese (``reason_zh``, for the web app's form error;
    not compared, so two rejections are equal when their column and reason are).

    >>> Rejection("ts", "date before the case opened", "日期早于案例建档日期")
    Rejection(column='ts', reason='date before the case opened')
    """

    column: str
    reason: str
    reason_zh: str = field(default="", compare=False, repr=False)

    def text(self, lang: str = "en") -> str:
        """The reason in ``lang`` (``"zh"`` or ``"en"``)."""
        return self.reason_zh if lang == "zh" and self.reason_zh else self.reason


def none_if_missing(value: Any) -> Any:
    """``value``, or ``None`` when it is missing (``None``, NaN, NaT, ``pd.NA``); a value
    pandas cannot test (a list, a dict) is returned as it is.

    >>> none_if_missing(float("nan")), none_if_missing("SCH1"), none_if_missing([1])
    (None, 'SCH1', [1])
    """
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def _date(value: Any) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def stable_hash(*parts: object, n: int = 12) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``parts`` joined by ``'|'`` (ids that reruns repeat).

    >>> stable_hash("s1", "prevention", n=8)
    '3a9b1085'
    """
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def case_id_for(student_id: str, case_type: str, opened_at: dt.date | pd.Timestamp) -> str:
    """The case's id: the day it opened and a hash of (student, kind, day); reruns get the same.

    >>> case_id_for("s1", "prevention", dt.date(2025, 3, 10))
    'C20250310-5ec2f9a7248f'
    """
    day = pd.Timestamp(opened_at)
    return f"C{day:%Y%m%d}-{stable_hash(student_id, case_type, day.date())}"


def event_id_for(case_id: str, run_id: str, event_type: str) -> str:
    """The id of the event ``event_type`` a run writes on a case (one per case, run and type).

    >>> event_id_for("C20250310-5ec2f9a7248f", "r1", "opened")[:10]
    'E20250310-'
    """
    return f"E{case_id[1:9]}-{stable_hash(case_id, run_id, event_type, n=16)}"


def system_event(
    case_id: str, event_type: str, *, run_id: str, ts: Any, detail: str | None = None, **cols: Any
) -> dict:
    """A ``case_events`` row written by the job (``source = 'system'``, actor ``system``).

    ``cols`` may set ``actor_role, outcome, next_due, four_step_stage, owner_staff_id``.
    """
    return {
        "event_id": event_id_for(case_id, run_id, event_type),
        "case_id": case_id,
        "ts": _date(ts),
        "event_type": event_type,
        "actor_role": cols.get("actor_role", "system"),
        "outcome": cols.get("outcome"),
        "next_due": _date(cols.get("next_due")),
        "four_step_stage": cols.get("four_step_stage"),
        "owner_staff_id": cols.get("owner_staff_id"),
        "source": "system",
        "run_id": run_id,
        "detail": detail,
    }


def _evidence(snap_row: dict | None, extra: dict | None = None) -> str:
    """The event's ``detail``: the snapshot's evidence for the student (JSON), plus ``extra``."""
    out: dict = {}
    if snap_row is not None:
        for key in _EVIDENCE_KEYS:
            if key in snap_row and none_if_missing(snap_row[key]) is not None:
                v = snap_row[key]
                out[key] = (
                    float(v)
                    if isinstance(v, float | np.floating)
                    else int(v)
                    if isinstance(v, int | np.integer)
                    else str(v)
                )
        ev = snap_row.get("rule_evidence")
        if none_if_missing(ev):
            try:
                out["rule_evidence"] = json.loads(ev)
            except (TypeError, ValueError):
                out["rule_evidence"] = str(ev)
    out.update(extra or {})
    return json.dumps(out, ensure_ascii=False, sort_keys=True, default=str)


def _first_intervention(case_type: str, snap_row: dict | None) -> str:
    """A suspected dropout starts with a home visit (家访); a prevention case with the
    snapshot's first recommended measure, or a talk."""
    if case_type == "suspected_dropout":
        return "home_visit"
    measures = [] if snap_row is None else [m for m in str(snap_row.get("measures", "")).split(";") if m]
    return _MEASURE_TO_TYPE.get(measures[0] if measures else "", "talk")


def _rule_set(rules: Any) -> set[str]:
    return set(filter(None, str(none_if_missing(rules) or "").split(";")))


# --- transitions -----------------------------------------------------------------------------------


def reopen(case: Mapping) -> dict:
    """A ``returned`` case back to ``open``: its return and its closing proposal are undone.

    >>> reopen({"status": "returned"}), reopen({"status": "open"})
    ({'status': 'open', 'returned_at': None, 'close_proposed_at': None}, {})
    """
    if case["status"] != "returned":
        return {}
    return {"status": "open", "returned_at": None, "close_proposed_at": None}


def mark_returned(case: Mapping, on: dt.date) -> dict:
    """An ``open`` case whose student is back at school: ``returned``, proposed for closing on ``on``.

    >>> mark_returned({"status": "open"}, dt.date(2025, 3, 13))["status"]
    'returned'
    >>> mark_returned({"status": "returned"}, dt.date(2025, 3, 13))
    {}
    """
    if case["status"] != "open":
        return {}
    return {"status": "returned", "returned_at": on, "close_proposed_at": on}


def propose_close(on: dt.date) -> dict:
    """Proposed for closing (销号) on ``on``; closed when staff confirm or ``auto_close_days`` later."""
    return {"close_proposed_at": on}


def close(on: dt.date, reason: str) -> dict:
    """Closed (销号) on ``on`` for ``reason`` (one of :data:`CLOSURE_REASONS`)."""
    if reason not in CLOSURE_REASONS:
        raise ValueError(f"closure reason {reason!r}: use one of {list(CLOSURE_REASONS)}")
    return {"status": "closed", "closed_at": on, "closure_reason": reason}


def place(placement: str, on: dt.date) -> dict:
    """A placement (劝返安置) recorded; any placement but ``still_out`` closes the case as ``placed``.

    >>> place("still_out", dt.date(2025, 3, 13))
    {'placement': 'still_out'}
    >>> place("returned_school", dt.date(2025, 3, 13))["status"]
    'placed'
    """
    out: dict = {"placement": placement}
    if placement != "still_out":
        out.update(status="placed", closed_at=on, closure_reason="placed")
    return out


def take_step(stage: int, on: dt.date) -> dict:
    """The four-step method's step ``stage`` (1-4) taken on ``on`` by a person."""
    return {"four_step_stage": int(stage), "escalated_at": on}


def suggest_escalation(on: dt.date) -> dict:
    """The job suggested the next four-step step on ``on`` (the step itself is not taken)."""
    return {"escalated_at": on}


def report_dropout(
    student_id: str,
    *,
    on: dt.date,
    school_id: str | None,
    class_id: str | None,
    run_id: str,
    owner_staff_id: str | None = None,
) -> dict:
    """The ``cases`` row of a suspected dropout a member of staff reports on ``on`` (trigger
    ``staff_report``, step 0, open), tied to the latest run ``run_id``; the caller appends its
    event and the ledger's unique index refuses a second open suspected-dropout case.

    >>> report_dropout("s1", on=dt.date(2025, 3, 12), school_id="a", class_id="b", run_id="r")["case_id"]
    'C20250312-8569b97e96dc'
    """
    return {
        "case_id": case_id_for(student_id, "suspected_dropout", on),
        "student_id": student_id,
        "opened_at": on,
        "trigger": "staff_report",
        "case_type": "suspected_dropout",
        "reason_primary": None,
        "reason_secondary": None,
        "owner_staff_id": owner_staff_id,
        "four_step_stage": 0,
        "status": "open",
        "placement": None,
        "closed_at": None,
        "closure_reason": None,
        "school_id": school_id,
        "class_id": class_id,
        "opened_run_id": run_id,
        "last_run_id": run_id,
        "last_seen": on,
        "tier_last": None,
        "probability_last": None,
        "rules_last": None,
        "returned_at": None,
        "close_proposed_at": None,
        "escalated_at": None,
    }


def auto_closure_reason(case: Mapping) -> str:
    """Why a case closed automatically: ``returned`` (the student was back) or ``off_list``.

    >>> auto_closure_reason({"status": "returned"}), auto_closure_reason({"status": "open"})
    ('returned', 'off_list')
    """
    return "returned" if case["status"] == "returned" else "off_list"


# --- a night ---------------------------------------------------------------------------------------


def night_case_changes(
    snapshot: pd.DataFrame,
    staff: pd.DataFrame | None,
    open_cases: pd.DataFrame,
    *,
    as_of: dt.date,
    run_id: str,
    config: JobConfig,
    alerts: pd.DataFrame | None = None,
    owner_roles: tuple[str, ...] = OWNER_ROLES,
) -> CaseChanges:
    """The cases tonight's snapshot opens and updates (the first step of a night).

    Parameters
    ----------
    snapshot : DataFrame
        Tonight's risk snapshot (``risk.snapshot.SNAPSHOT_COLUMNS``).
    staff : DataFrame or None
        The ``staff`` table (``staff_id, school_id, role, class_id, max_open_cases``).
    open_cases : DataFrame
        The ledger's open cases (``jobs.storage.read_cases(open_only=True)``).
    as_of, run_id, config
        The night, its run id (in event ids) and ``[job]`` (``owner_max_open_cases``).
    alerts : DataFrame, optional
        Rule alerts of missed nights (:func:`risk.changes.missed_rule_alerts`): they open
        cases dated the day they fired (``caught_up`` in the event).
    owner_roles : tuple of str
        Roles that own prevention cases (``[risk] owner_roles``).

    Returns
    -------
    CaseChanges
        New cases (status ``open``, step 0) with their first intervention (home visit for a
        suspected dropout; the first recommended measure, or a talk, for a prevention case)
        and an ``opened`` event holding the evidence; on each case already open the columns
        the night refreshes (school, class, tier, probability, rules, ``last_seen``), a
        ``reopened`` event (:func:`reopen`: a returned suspected dropout whose rules fire
        again), an ``evidence`` event (a rule newly fired, or a prevention case proposed for
        closing whose student is back on the list: the proposal is withdrawn). Counts
        ``opened, updated, over_capacity, unowned, waiting``.

    Examples
    --------
    >>> snap = pd.DataFrame({"student_id": ["a"], "as_of": pd.Timestamp("2025-03-10"),
    ...     "school_id": "s1", "class_id": "c1", "probability": [0.9], "rank_school": [1],
    ...     "rules": ["rule_3day"], "selected": [True], "assignment_mechanism": ["rule"],
    ...     "tier": ["red"], "measures": [""], "rule_evidence": ["[]"]})
    >>> staff = pd.DataFrame({"staff_id": ["h1"], "school_id": "s1", "role": ["head_teacher"],
    ...     "class_id": ["c1"], "max_open_cases": [5]})
    >>> none = pd.DataFrame(columns=["case_id", "student_id", "case_type", "owner_staff_id"])
    >>> ch = night_case_changes(snap, staff, none, as_of=dt.date(2025, 3, 10), run_id="r1",
    ...     config=JobConfig())
    >>> [(c["case_type"], c["owner_staff_id"]) for c in ch.new_cases], ch.interventions[0]["type"]
    ([('suspected_dropout', 'h1')], 'home_visit')
    """
    out = CaseChanges()
    day = pd.Timestamp(as_of)
    staff_frame = staff if staff is not None else pd.DataFrame(columns=list(_STAFF_COLUMNS))
    plan = plan_cases(
        snapshot,
        staff_frame,
        open_cases,
        owner_max_open_cases=config.owner_max_open_cases,
        owner_roles=owner_roles,
        alerts=alerts,
    )
    out.counts["waiting"] = int((plan["action"] == "wait").sum())
    # the snapshot rows of the students with a case action, as dicts (one lookup per case)
    involved = snapshot["student_id"].astype("str").isin(plan["student_id"]).to_numpy()
    snap = (
        snapshot.loc[involved]
        .assign(student_id=lambda f: f["student_id"].astype("str"))
        .drop_duplicates("student_id")
        .set_index("student_id")
        .to_dict("index")
    )

    def event(case_id: str, etype: str, *, detail: str | None = None, **cols: Any) -> None:
        out.events.append(system_event(case_id, etype, run_id=run_id, ts=day, detail=detail, **cols))

    # --- open ---------------------------------------------------------------------------------
    for r in plan[plan["action"] == "open"].itertuples(index=False):
        srow = snap.get(r.student_id)
        cid = case_id_for(r.student_id, r.case_type, r.opened_at)
        owner = none_if_missing(r.owner_staff_id)
        out.new_cases.append(
            {
                "case_id": cid,
                "student_id": r.student_id,
                "opened_at": _date(r.opened_at),
                "trigger": r.trigger,
                "case_type": r.case_type,
                "reason_primary": None,
                "reason_secondary": None,
                "owner_staff_id": owner,
                "four_step_stage": 0,
                "status": "open",
                "placement": None,
                "closed_at": None,
                "closure_reason": None,
                "school_id": none_if_missing(r.school_id),
                "class_id": none_if_missing(r.class_id),
                "opened_run_id": run_id,
                "last_run_id": run_id,
                "last_seen": _date(day),
                "tier_last": None if srow is None else str(srow["tier"]),
                "probability_last": None if srow is None else float(srow["probability"]),
                "rules_last": r.rules,
                "returned_at": None,
                "close_proposed_at": None,
                "escalated_at": None,
            }
        )
        extra = {"trigger": r.trigger, "over_capacity": bool(r.over_capacity)}
        if pd.Timestamp(r.opened_at) < day:  # a missed night's alert, caught up
            extra["fired_on"] = str(pd.Timestamp(r.opened_at).date())
            extra["caught_up"] = True
        if r.rules and srow is None:
            extra["rules"] = r.rules
        event(cid, "opened", detail=_evidence(srow, extra), owner_staff_id=owner)
        rank, prob = none_if_missing(r.rank_school), none_if_missing(r.probability)
        out.interventions.append(
            {
                "intervention_id": "V" + cid[1:],
                "student_id": r.student_id,
                "case_id": cid,
                "type": _first_intervention(r.case_type, srow),
                "assigned_to_staff_id": owner,
                "start_date": _date(day),
                "end_date": None,
                "sessions": None,
                "assignment_mechanism": r.assignment_mechanism or "model_rank",
                "list_version": run_id,
                "score_at_assign": None if prob is None else float(prob),
                "rank_at_assign": None if rank is None else int(rank),
            }
        )
        out.counts["over_capacity"] += bool(r.over_capacity)
        out.counts["unowned"] += owner is None
    out.counts["opened"] = len(out.new_cases)

    # --- update -------------------------------------------------------------------------------
    current = open_cases.set_index("case_id")
    for r in plan[plan["action"] == "update"].itertuples(index=False):
        c = current.loc[r.case_id]
        srow = snap.get(r.student_id)
        state = {
            "status": c["status"],
            "returned_at": _date(c["returned_at"]),
            "close_proposed_at": _date(c["close_proposed_at"]),
        }
        tonight, before_rules = _rule_set(r.rules), _rule_set(c["rules_last"])
        if r.case_type == "suspected_dropout" and state["status"] == "returned" and tonight:
            state.update(reopen(state))
            event(r.case_id, "reopened", detail=_evidence(srow))
        elif r.case_type == "suspected_dropout" and tonight - before_rules:
            event(r.case_id, "evidence",
                  detail=_evidence(srow, {"rules_new": ";".join(sorted(tonight - before_rules))}))  # fmt: skip
        elif r.case_type == "prevention" and state["close_proposed_at"] is not None:
            state["close_proposed_at"] = None  # back on the list: the closing proposal is withdrawn
            event(r.case_id, "evidence", detail=_evidence(srow, {"back_on_list": True}))
        out.updates[r.case_id] = {
            **state,
            "school_id": none_if_missing(r.school_id),
            "class_id": none_if_missing(r.class_id),
            "last_run_id": run_id,
            "last_seen": _date(day),
            "tier_last": None if srow is None else str(srow["tier"]),
            "probability_last": None if srow is None else float(srow["probability"]),
            "rules_last": r.rules,
        }
    out.counts["updated"] = len(out.updates)
    return out


def return_streaks(
    open_cases: pd.DataFrame,
    *,
    as_of: dt.date,
    streaks: pd.Series | None = None,
    attendance: pd.DataFrame | None = None,
) -> pd.Series | None:
    """The present streaks of the students with an open suspected-dropout case, by student.

    From ``streaks`` (computed with the scores, :func:`risk.assign.present_streaks`), which must
    cover every such student (else ``RuntimeError``: the ledger changed after they were
    computed), or else from ``attendance``; ``None`` when neither is given or nothing is open.
    """
    if (attendance is None and streaks is None) or not len(open_cases):
        return None
    sus = pd.Index(
        open_cases.loc[open_cases["case_type"] == "suspected_dropout", "student_id"].astype("str").unique()
    )
    if streaks is None:
        return present_streaks(attendance, sus, as_of)
    missing = sus.difference(streaks.index.astype("str"))
    if len(missing):
        raise RuntimeError(
            f"return streaks missing for {len(missing)} students with an open suspected-dropout "
            "case: the ledger changed after the night was computed; run the night again"
        )
    return streaks.set_axis(streaks.index.astype("str")).reindex(sus)


def timed_case_changes(
    open_cases: pd.DataFrame,
    *,
    as_of: dt.date,
    run_id: str,
    config: JobConfig,
    streaks: pd.Series | None = None,
    attendance: pd.DataFrame | None = None,
) -> CaseChanges:
    """The time-based steps on the open cases (the second step of a night, on the open cases
    as the first left them).

    In order: returns (a suspected dropout's student at school ``return_days`` school days in a
    row, :func:`mark_returned`: ``returned`` and ``close_proposed`` events); prevention cases off
    the list for ``auto_close_days`` (:func:`propose_close`); closing what was proposed
    ``auto_close_days`` ago and left unanswered (:func:`close`, the reason from
    :func:`auto_closure_reason`; never a suspected dropout that is not back,
    :func:`closing_problems`); escalation suggestions on the cases not changed above
    (:func:`suggest_escalation`, an ``escalation`` event naming the next four-step step, due
    again ``escalation_days`` later; a person takes it). Returns are skipped when neither
    ``streaks`` nor ``attendance`` is given (see :func:`return_streaks`).

    Counts ``returned, closed, escalations``.

    Examples
    --------
    >>> cases = pd.DataFrame({"case_id": ["x"], "student_id": ["a"], "case_type": "suspected_dropout",
    ...     "status": "open", "four_step_stage": [0], "opened_at": pd.to_datetime(["2025-03-03"]),
    ...     "escalated_at": pd.NaT, "last_seen": pd.to_datetime(["2025-03-20"]),
    ...     "close_proposed_at": pd.NaT})
    >>> ch = timed_case_changes(cases, as_of=dt.date(2025, 3, 20), run_id="r1",
    ...     config=JobConfig(return_days=5), streaks=pd.Series({"a": 5}))
    >>> ch.updates["x"]["status"], [e["event_type"] for e in ch.events]
    ('returned', ['returned', 'close_proposed'])
    """
    out = CaseChanges()
    day = pd.Timestamp(as_of)
    on = _date(day)
    ahead = day + pd.Timedelta(days=config.auto_close_days)

    def event(case_id: str, etype: str, *, detail: str | None = None, **cols: Any) -> None:
        out.events.append(system_event(case_id, etype, run_id=run_id, ts=day, detail=detail, **cols))

    by_id = open_cases.set_index("case_id")
    streaks = return_streaks(open_cases, as_of=as_of, streaks=streaks, attendance=attendance)
    if streaks is not None:
        back = returns(open_cases, streaks, return_days=config.return_days)
        for cid in back:
            out.updates[cid] = mark_returned(by_id.loc[cid], on)
            n = int(streaks[by_id.loc[cid, "student_id"]])
            event(cid, "returned", outcome="returned", detail=json.dumps({"days_at_school": n}))
            event(cid, "close_proposed", next_due=ahead)
        out.counts["returned"] = len(back)
    for cid in off_list(open_cases, as_of, days=config.auto_close_days):
        out.updates[cid] = propose_close(on)
        event(
            cid,
            "close_proposed",
            next_due=ahead,
            detail=json.dumps({"off_list_days": config.auto_close_days}),
        )
    for cid in auto_closes(open_cases, as_of, auto_close_days=config.auto_close_days):
        reason = auto_closure_reason(by_id.loc[cid])
        if closing_problems(by_id.loc[cid], reason):  # the same rule as staff closing: 劝返一个销号一个
            continue
        out.updates[cid] = close(on, reason)
        event(cid, "closed", detail=json.dumps({"closure_reason": reason, "automatic": True}))
        out.counts["closed"] += 1
    esc = escalations(
        open_cases[~open_cases["case_id"].isin(list(out.updates))],
        as_of,
        escalation_days=config.escalation_days,
    )
    for r in esc.itertuples(index=False):
        out.updates[r.case_id] = suggest_escalation(on)
        event(
            r.case_id,
            "escalation",
            four_step_stage=int(r.four_step_stage),
            next_due=day + pd.Timedelta(days=config.escalation_days),
            detail=json.dumps({"suggested_step": int(r.four_step_stage), "decided_by": "a person"}),
        )
    out.counts["escalations"] = len(esc)
    return out


# --- staff updates ---------------------------------------------------------------------------------

#: the case types the law's rules apply to: the four-step method (四步法) and closing only on
#: return or lawful placement (劝返一个销号一个)
LEGAL_CASE_TYPES: tuple[str, ...] = ("suspected_dropout", "dropout")

#: staff event types that belong to the four-step method: ``step`` (a step taken) and its
#: documents (《限期复学通知书》 deadline notice, 《行政处罚决定书》 penalty, court)
FOUR_STEP_EVENT_TYPES: tuple[str, ...] = ("step", "deadline_notice", "penalty", "court")

#: closure reasons that close a suspected dropout lawfully without the child back at school
#: (a verified transfer, 免予入学 / 缓学, death, not a dropout after all); ``returned`` needs the
#: child's return and ``placed`` a placement (:func:`closing_problems`)
LAWFUL_EXITS: tuple[str, ...] = ("transferred", "exempt", "deceased", "not_a_dropout")

#: the longest note staff may write on one event (``case_events.note``); longer is refused, never cut
NOTE_MAX_CHARS = 2000


def _refuse(column: str, reason: str, reason_zh: str) -> Rejection:
    return Rejection(column, reason, reason_zh)


def closing_problems(case: Mapping, reason: str, update: Mapping | None = None) -> list[Rejection]:
    """Why ``case`` may not be closed (销号) for ``reason`` (empty: it may).

    A suspected dropout (:data:`LEGAL_CASE_TYPES`) is closed only when the child is back or
    lawfully placed (劝返一个销号一个, DOMAIN.md): ``returned`` needs the return (the case is
    ``returned``: the nightly saw the child at school ``return_days`` days after the mark, or
    staff reported the return; or ``update`` itself reports ``outcome = returned``);
    ``placed`` needs a placement other than ``still_out`` (on the case or in ``update``); the
    lawful exits :data:`LAWFUL_EXITS` need nothing more; ``off_list`` and ``other`` are
    refused. A prevention case may close for any reason of :data:`CLOSURE_REASONS`.

    >>> [p.reason[:40] for p in closing_problems({"case_type": "suspected_dropout", "status": "open"}, "returned")]
    ['closing as returned needs the child back']
    >>> closing_problems({"case_type": "suspected_dropout", "status": "returned"}, "returned")
    []
    """
    update = update or {}
    if case.get("case_type") not in LEGAL_CASE_TYPES:
        return []
    if reason == "returned":
        back = case.get("status") == "returned" or update.get("outcome") == "returned"
        if not back:
            return [_refuse(
                "closure_reason",
                "closing as returned needs the child back at school: the nightly's return (at school "
                "return_days days after the mark) or a return event (outcome returned) first "
                "(劝返一个销号一个)",
                "以“已返校”销号须先有返校记录：夜间任务确认连续到校，或一条结果为“已返校”的记录（劝返一个销号一个）",
            )]  # fmt: skip
    elif reason == "placed":
        placement = none_if_missing(update.get("placement")) or none_if_missing(case.get("placement"))
        if placement in (None, "still_out"):
            return [_refuse(
                "closure_reason",
                "closing as placed needs a placement other than still_out (a placement row first)",
                "以“已安置”销号须先记录安置方式（不能是“仍未返校”）",
            )]  # fmt: skip
    elif reason not in LAWFUL_EXITS:
        return [_refuse(
            "closure_reason",
            f"a suspected dropout is closed only when the child is back (returned) or lawfully placed "
            f"({', '.join(('placed', *LAWFUL_EXITS))}), not {reason} (劝返一个销号一个)",
            f"疑似辍学案例只有学生返校或依法安置（已安置、转学、免予/缓学、死亡、非辍学）后才能销号，"
            f"不能以“{reason}”销号（劝返一个销号一个）",
        )]  # fmt: skip
    return []


def step_problems(case: Mapping | None, update: Mapping) -> list[Rejection]:
    """Why a four-step (四步法) entry of ``update`` may not go on ``case`` (empty: it may).

    A ``step`` names a stage 1-4, the next one after the case's current step (steps are taken
    in order: 0 → 1 → 2 → 3 → 4); the four-step method and its documents
    (:data:`FOUR_STEP_EVENT_TYPES`) are for suspected dropouts only, never a prevention case;
    any other row that names a ``four_step_stage`` names the case's current one (a step is
    taken by a ``step`` row).

    >>> [p.reason for p in step_problems({"status": "open", "four_step_stage": 0,
    ...     "case_type": "suspected_dropout"}, {"event_type": "step", "four_step_stage": 4})]
    ['skips a step: the case is at step 0, the next step is 1 (四步法 steps are taken in order)']
    """
    out: list[Rejection] = []
    et, stage = update.get("event_type"), none_if_missing(update.get("four_step_stage"))
    current = None if case is None else none_if_missing(case.get("four_step_stage"))
    current = 0 if current is None else int(current)
    if et == "step" and stage is None:
        out.append(_refuse("four_step_stage", "a step needs four_step_stage 1-4", "四步法步骤须填写阶段 1-4"))
    elif et == "step" and case is not None and stage <= current:
        out.append(_refuse("four_step_stage", f"must be above the case's current step {current}",
                           f"须高于案例当前的第 {current} 步"))  # fmt: skip
    elif et == "step" and case is not None and stage > current + 1:
        out.append(_refuse(
            "four_step_stage",
            f"skips a step: the case is at step {current}, the next step is {current + 1} "
            "(四步法 steps are taken in order)",
            f"不能跳步：案例处于第 {current} 步，下一步是第 {current + 1} 步（四步法须依次进行）",
        ))  # fmt: skip
    elif et != "step" and stage is not None and case is not None and stage != current:
        out.append(_refuse(
            "four_step_stage",
            f"four_step_stage {stage} on a {et} row: the case is at step {current}; a step is taken "
            "by a step row",
            f"“{et}”记录的四步法阶段 {stage} 与案例当前的第 {current} 步不符；进入下一步须用“step”记录",
        ))  # fmt: skip
    if (
        case is not None
        and case.get("case_type") is not None
        and case.get("case_type") not in LEGAL_CASE_TYPES
    ):
        if et in FOUR_STEP_EVENT_TYPES or (stage is not None and stage > 0):
            out.append(_refuse(
                "event_type" if et in FOUR_STEP_EVENT_TYPES else "four_step_stage",
                f"the four-step method (四步法) is for suspected dropouts, not a {case['case_type']} case",
                "四步法只用于疑似辍学案例，不能用于预防案例",
            ))  # fmt: skip
    return out


def length_problems(update: Mapping, lengths: Mapping[str, int] | None = None) -> list[Rejection]:
    """Values of ``update`` longer than their column holds (``lengths``: column -> characters,
    from the ledger's models), and a ``note`` over :data:`NOTE_MAX_CHARS`. Refused, never cut.

    >>> length_problems({"owner_staff_id": "x" * 70}, {"owner_staff_id": 64})[0].reason
    '70 characters, over the 64 this column holds'
    """
    limits = {**(lengths or {}), "note": NOTE_MAX_CHARS}
    out = []
    for col, limit in limits.items():
        value = none_if_missing(update.get(col))
        if value is not None and not isinstance(value, dt.date | int | float) and len(str(value)) > limit:
            out.append(_refuse(col, f"{len(str(value))} characters, over the {limit} this column holds",
                               f"{len(str(value))} 个字符，超过该列上限 {limit}"))  # fmt: skip
    return out


def staff_update_problems(
    case: Mapping | None,
    update: Mapping,
    *,
    staff_ids: Collection[str] | None = None,
    as_of: dt.date | None = None,
    lengths: Mapping[str, int] | None = None,
) -> list[Rejection]:
    """Why one staff update cannot apply to its case (empty: it can), in the rejects file's order.

    ``case`` is the ledger's row of ``update["case_id"]`` as earlier updates left it (``None``:
    not in the ledger); ``update`` a typed update row (``event_type``, ``ts``,
    ``four_step_stage`` as int or ``None``, ``placement``, ``owner_staff_id``,
    ``closure_reason``, ``note``; the code lists are checked before). ``staff_ids`` are the
    owners a ``reassigned`` may name (``None``: any named owner); ``as_of`` the day of the
    update (the import date, the web app's today): no update is dated after it; ``lengths``
    the column lengths (:func:`length_problems`).

    Refused: a case not in the ledger or no longer open; an event dated before the case opened
    or after ``as_of``; a step that is not the next one, a four-step entry on a prevention case
    (:func:`step_problems`); a placement without one; a ``reassigned`` to an unknown owner; a
    ``close`` without a reason, or closing a suspected dropout that is neither back nor
    lawfully placed (:func:`closing_problems`); a value too long (:func:`length_problems`).

    >>> staff_update_problems({"status": "open", "four_step_stage": 2},
    ...     {"case_id": "C1", "event_type": "step", "four_step_stage": 1})
    [Rejection(column='four_step_stage', reason="must be above the case's current step 2")]
    """
    out: list[Rejection] = []
    cid = none_if_missing(update.get("case_id"))
    if cid is not None and case is None:
        out.append(_refuse("case_id", "case_id not in the ledger (see `baoxue cases list`)",
                           "台账中没有这个案例编号（见 `baoxue cases list`）"))  # fmt: skip
    elif cid is not None and case["status"] not in OPEN_STATUSES:
        out.append(
            _refuse("case_id", f"case is already {case['status']}", f"案例已经是“{case['status']}”状态")
        )
    ts = _date(none_if_missing(update.get("ts")))
    opened = None if case is None else _date(none_if_missing(case.get("opened_at")))
    if ts is not None and opened is not None and ts < opened:
        out.append(
            _refuse("ts", f"date before the case opened ({opened})", f"日期早于案例建档日期（{opened}）")
        )
    if ts is not None and as_of is not None and ts > as_of:
        out.append(_refuse("ts", f"date after the import date {as_of} (no update is dated in the future)",
                           f"日期晚于今天 {as_of}（不能记录未来的日期）"))  # fmt: skip
    out += step_problems(case, update)
    et = update.get("event_type")
    if et == "placement" and none_if_missing(update.get("placement")) is None:
        out.append(_refuse("placement", "a placement event needs placement", "安置记录须填写安置方式"))
    owner = none_if_missing(update.get("owner_staff_id"))
    if et == "reassigned" and (owner is None or (staff_ids is not None and owner not in staff_ids)):
        out.append(
            _refuse("owner_staff_id", "owner_staff_id not in the staff table", "包保责任人不在教职工表中")
        )
    reason = none_if_missing(update.get("closure_reason"))
    if et == "close" and reason is None:
        out.append(_refuse("closure_reason", f"closing needs closure_reason, one of {list(CLOSURE_REASONS)}",
                           "销号须填写销号原因"))  # fmt: skip
    elif et == "close" and case is not None:
        out += closing_problems(case, reason, update)
    out += length_problems(update, lengths)
    return out


def staff_update_change(case: Mapping, update: Mapping) -> dict | Rejection:
    """The case columns one staff update sets, or why it cannot (the case is no longer open).

    In order: ``reason_primary`` when given; a ``reassigned`` owner; a ``step``
    (:func:`take_step`); ``outcome = returned`` on an open case (:func:`mark_returned`); a
    ``placement`` (:func:`place`); a ``close`` (:func:`close`, with the placement it names).
    Later ones win on the same column. It does not check the transition: that is
    :func:`staff_update_problems` (both: :func:`apply_staff_update`).

    >>> staff_update_change({"status": "open"}, {"event_type": "close", "ts": "2025-03-12",
    ...     "closure_reason": "not_a_dropout"})["status"]
    'closed'
    >>> staff_update_change({"status": "closed"}, {"event_type": "phone", "ts": "2025-03-12"})
    Rejection(column='case_id', reason='case is already closed')
    """
    if case["status"] not in OPEN_STATUSES:
        return _refuse("case_id", f"case is already {case['status']}", f"案例已经是“{case['status']}”状态")
    et, ts = update.get("event_type"), _date(update.get("ts"))
    out: dict = {}
    if none_if_missing(update.get("reason_primary")) is not None:
        out["reason_primary"] = update["reason_primary"]
    if none_if_missing(update.get("owner_staff_id")) is not None and et == "reassigned":
        out["owner_staff_id"] = update["owner_staff_id"]
    if et == "step":
        out.update(take_step(update["four_step_stage"], ts))
    if update.get("outcome") == "returned":
        out.update(mark_returned(case, ts))
    if et == "placement":
        out.update(place(update["placement"], ts))
    if et == "close":
        if none_if_missing(update.get("placement")) is not None:
            out["placement"] = update["placement"]
        out.update(close(ts, update["closure_reason"]))
    return out


def apply_staff_update(
    case: Mapping | None,
    update: Mapping,
    *,
    staff_ids: Collection[str] | None = None,
    as_of: dt.date | None = None,
    lengths: Mapping[str, int] | None = None,
) -> dict | list[Rejection]:
    """One staff update on its case (the web app's and the import's entry point): the case
    columns to set, or the reasons it is refused (:func:`staff_update_problems`, then
    :func:`staff_update_change`).

    >>> case = {"status": "open", "four_step_stage": 0}
    >>> apply_staff_update(case, {"case_id": "C1", "event_type": "step", "four_step_stage": 1,
    ...     "ts": "2025-03-12"})
    {'four_step_stage': 1, 'escalated_at': datetime.date(2025, 3, 12)}
    >>> [p.column for p in apply_staff_update(case, {"case_id": "C1", "event_type": "close",
    ...     "ts": "2025-03-12"})]
    ['closure_reason']
    """
    problems = staff_update_problems(case, update, staff_ids=staff_ids, as_of=as_of, lengths=lengths)
    if problems:
        return problems
    change = staff_update_change(case, update)
    return [change] if isinstance(change, Rejection) else change
