"""Checks that a report set says the same thing everywhere, as of its data date.

A head teacher, a principal and the county read different reports of the same night; when
they disagree, nobody trusts any of them. :func:`report_set_problems` builds every report of
a run (data only, no files) and returns each disagreement in words (an empty list: the set is
consistent):

- **counts**: for every class, the groups counted at the head of the weekly list are its
  cards, and the school summary's row of that class has the same counts;
- **cases**: the case shown for a student (weekly list, 一生一案 sheet) is the ledger's case on
  the data date (:func:`risk.reporting._common.ledger_on`), with its status and stage then;
  the school summary's out-of-school count is the monthly report's still-out count;
- **time**: no date after the data date in any report, except the columns that look ahead
  (a next due date, a plan's review date);
- **exams**: a 一生一案 sheet whose reasons cite an exam (an ``acad_*`` reason code) lists at
  least one exam;
- **measures**: 学困帮扶 (tutoring) is suggested, on a class list or a 一生一案 plan, only to a
  student with an academic reason (issue 19).

The tests run it on the simulated county and on the demo's ledger; the served app's views
should pass it too (it reads the same library functions).
"""

from __future__ import annotations

import pandas as pd

from jobs.reports.bundle import ReportInputs
from risk.reporting import monthly_report, school_summary, student_plan, weekly_class_list
from risk.reporting._common import ledger_on, open_case_per_student, stage_text
from risk.snapshot import MEASURES

__all__ = ["report_set_problems", "FORWARD_COLUMNS"]

#: report columns whose dates may lie after the data date (they look ahead)
FORWARD_COLUMNS: frozenset[str] = frozenset({"next_due", "review_date"})


def _late_dates(frame: pd.DataFrame, as_of: pd.Timestamp, where: str) -> list[str]:
    out = []
    for col in frame.columns:
        if col in FORWARD_COLUMNS:
            continue
        values = frame[col]
        if not (pd.api.types.is_datetime64_any_dtype(values) or values.dtype == object):
            continue
        days = pd.to_datetime(values, errors="coerce") if values.dtype == object else values
        if values.dtype == object and not values.map(lambda v: isinstance(v, pd.Timestamp)).any():
            continue
        late = days.dropna()
        late = late[late.dt.normalize() > as_of]
        if len(late):
            out.append(
                f"{where}: column {col} has {len(late)} dates after the data date, e.g. {late.iloc[0]:%Y-%m-%d}"
            )
    return out


def _tutoring_without_reason(measures: str, families: str, tutoring: tuple[str, str]) -> bool:
    """Whether ``measures`` (words, either language) suggest tutoring though no reason is academic."""
    return any(w in measures for w in tutoring) and "academic" not in families.split(";")


def report_set_problems(inputs: ReportInputs, *, students: int = 20) -> list[str]:
    """Every disagreement between the reports of ``inputs`` (see the module's doc).

    ``students``: how many 一生一案 sheets to check (the red students first, then the rest of the
    students with a case).
    """
    snap = inputs.snapshot.assign(
        student_id=inputs.snapshot["student_id"].astype("str"),
        class_id=inputs.snapshot["class_id"].astype("str"),
        school_id=inputs.snapshot["school_id"].astype("str"),
    )
    as_of = inputs.as_of.normalize()
    problems: list[str] = []
    ledger, events = ledger_on(inputs.cases, inputs.case_events, as_of)
    followed = open_case_per_student(ledger, as_of)

    summaries = {}
    for school in sorted(snap["school_id"].unique()):
        s = school_summary(snap, school, cases=inputs.cases, case_events=inputs.case_events,
                           tables=inputs.tables, config=inputs.config)  # fmt: skip
        summaries[school] = s
        problems += _late_dates(s.overdue, as_of, f"school {school} overdue")
        problems += _late_dates(s.returns, as_of, f"school {school} returns")
    by_class = pd.concat([s.tiers_by_class for s in summaries.values()], ignore_index=True)
    by_class = by_class.set_index("class_id")

    tutoring = MEASURES["tutoring"]
    for class_id in sorted(snap["class_id"].unique()):
        wl = weekly_class_list(snap, class_id, previous=inputs.previous, cases=inputs.cases,
                               case_events=inputs.case_events, tables=inputs.tables, config=inputs.config,
                               rules_config=inputs.rules)  # fmt: skip
        where = f"class {class_id}"
        if sum(wl.tier_counts.values()) != len(wl.students):
            problems.append(f"{where}: the head counts {wl.tier_counts} add to {sum(wl.tier_counts.values())}, "
                            f"but {len(wl.students)} students are shown")  # fmt: skip
        row = by_class.loc[class_id]
        for group, n in wl.tier_counts.items():
            if int(row[group]) != n:
                problems.append(
                    f"{where}: the class list counts {n} {group}, the school summary {int(row[group])}"
                )
        if int(row["shown"]) != len(wl.students):
            problems.append(
                f"{where}: {len(wl.students)} on the class list, the school summary says {int(row['shown'])}"
            )
        if wl.students["new_on_list"].astype(bool).any():
            off = wl.students.loc[wl.students["new_on_list"].astype(bool) & ~wl.students["group"].isin(
                ["red", "yellow", "blue", "selected"])]  # fmt: skip
            if len(off):
                problems.append(f"{where}: {len(off)} students not on the list are marked new on the list")
        same = wl.left_list.loc[wl.left_list["previous_tier_label"] == wl.left_list["tier_label"]]
        if len(same):
            problems.append(
                f"{where}: {len(same)} students left the list but show the same label before and after"
            )
        families = dict(zip(snap["student_id"], snap.get("reason_families", pd.Series("", index=snap.index)),
                            strict=True))  # fmt: skip
        for r in wl.students.itertuples():
            if _tutoring_without_reason(str(r.measures), str(families.get(r.student_id, "") or ""), tutoring):
                problems.append(
                    f"{where}: student {r.student_id} is suggested 学困帮扶 with no academic reason"
                )
            case = followed.loc[r.student_id] if r.student_id in followed.index else None
            if case is None and r.case_id:
                problems.append(
                    f"{where}: student {r.student_id} shows case {r.case_id}, not followed on the data date"
                )
            elif case is not None and r.case_id != case["case_id"]:
                problems.append(f"{where}: student {r.student_id} shows case {r.case_id or 'none'}, "
                                f"the ledger on the data date has {case['case_id']}")  # fmt: skip
            elif case is not None and r.case_stage != case["four_step_stage"]:
                problems.append(f"{where}: case {r.case_id} shows stage {r.case_stage}, "
                                f"the ledger on the data date {case['four_step_stage']}")  # fmt: skip

    m = monthly_report(as_of, cases=inputs.cases, case_events=inputs.case_events, tables=inputs.tables,
                       snapshot=snap, as_of=as_of)  # fmt: skip
    for frame, name in ((m.form, "form"), (m.still_out_cases, "still out")):
        problems += _late_dates(frame, as_of, f"monthly {name}")
    if (
        len(m.still_out_cases)
        and (m.still_out_cases["days_out"] > (as_of - m.still_out_cases["opened_at"]).dt.days).any()
    ):
        problems.append("monthly: days out counted past the data date")
    units = m.units.set_index("school_id")
    for school, s in summaries.items():
        if school in units.index and int(units.loc[school, "still_out"]) != s.counts["out_of_school"]:
            problems.append(f"school {school}: {s.counts['out_of_school']} out of school in the school summary, "
                            f"{int(units.loc[school, 'still_out'])} still out in the monthly report")  # fmt: skip

    with_case = snap.loc[snap["student_id"].isin(ledger["student_id"])]
    order = with_case.assign(_red=with_case["tier"].astype("str") != "red").sort_values(
        ["_red", "student_id"]
    )
    for sid in order["student_id"].head(students):
        p = student_plan(snap, sid, tables=inputs.tables, history=inputs.history, cases=inputs.cases,
                         case_events=inputs.case_events, interventions=inputs.interventions,
                         config=inputs.config)  # fmt: skip
        where = f"student {sid}"
        for frame, name in ((p.cases, "cases"), (p.events, "events"), (p.interventions, "support"),
                            (p.exams, "exams"), (p.attendance, "attendance"), (p.risk_history, "risk")):  # fmt: skip
            problems += _late_dates(frame, as_of, f"{where} {name}")
        fam = str(p.current.get("reason_families", "") or "")
        if any(_tutoring_without_reason(str(m), fam, tutoring) for m in p.plan["measure"]):
            problems.append(f"{where}: the plan suggests 学困帮扶 with no academic reason")
        codes = str(p.current.get("reason_codes", "") or "").split(";")
        if any(c.strip().startswith("acad_") for c in codes) and p.exam_history.empty:
            problems.append(f"{where}: the reasons cite an exam, the sheet lists none")
        mine = ledger.loc[ledger["student_id"] == sid].set_index("case_id")
        for r in p.cases.itertuples():
            if r.case_id not in mine.index:
                problems.append(f"{where}: case {r.case_id} shown but not in the ledger on the data date")
            elif r.stage != stage_text(pd.Series([mine.loc[r.case_id, "four_step_stage"]])).iloc[0]:
                problems.append(
                    f"{where}: case {r.case_id} shows stage {r.stage}, not the ledger's on the data date"
                )
    return problems
