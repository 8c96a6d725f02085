"""The simulated exams: three a term per school and grade (monthly, midterm, final; 中考 for
grade 9 in spring), and each student's results in every subject.

Results follow the student's ability and trend; a student in an unexcused run on the day is
absent. Levels-only schools report levels A-D (by percentile within the exam) and no scores.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.sim.state import SimState, YearSchedule

__all__ = ["exam_rows"]


def exam_rows(sim: SimState, idx: np.ndarray, yr: YearSchedule) -> None:
    """This year's ``exams`` and ``exam_results`` rows for students ``idx``."""
    pop, rng = sim.pop, sim.rng
    sy, start_idx, end_idx, run_s, run_e = yr.sy, yr.start, yr.end, yr.run_s, yr.run_e
    out_from, out_to = yr.out_from, yr.out_to
    schedule = [
        (0, "monthly", sy.autumn_start + dt.timedelta(days=52)),
        (0, "midterm", sy.autumn_start + dt.timedelta(days=75)),
        (0, "final", sy.autumn_end - dt.timedelta(days=4)),
        (1, "monthly", sy.spring_start + dt.timedelta(days=30)),
        (1, "midterm", sy.spring_start + dt.timedelta(days=58)),
        (1, "final", sy.spring_end - dt.timedelta(days=7)),
    ]
    sch_ids = sim.geo.schools["school_id"].to_numpy()
    exams, results = [], []
    for k, (term, etype, when) in enumerate(schedule):
        day = sy.snap(when)
        for grade in range(1, 10):
            if grade == 9 and etype == "final" and term == 1:
                etype_g, day_g = "zhongkao", sy.snap(sy.zhongkao)
            else:
                etype_g, day_g = etype, day
            who = idx[(pop.grade[idx] == grade) & (start_idx[idx] <= day_g) & (end_idx[idx] > day_g)]
            gone = (
                (out_from[who] >= 0)
                & (out_from[who] <= day_g)
                & ~((out_to[who] >= 0) & (out_to[who] <= day_g))
            )
            who = who[~gone]
            if not len(who):
                continue
            in_run = ((run_s[who, 0] >= 0) & (run_s[who, 0] <= day_g) & (run_e[who, 0] > day_g)) | (
                (run_s[who, 1] >= 0) & (run_s[who, 1] <= day_g) & (run_e[who, 1] > day_g)
            )
            absent = in_run | (rng.random(len(who)) < 0.01)
            school = pop.school[who]
            exam_id = np.char.add(np.char.add(f"E{sy.year}{k}-", sch_ids[school].astype(str)), f"-g{grade}")
            date = pd.Timestamp(sy.school_days[day_g])
            ex = pd.DataFrame({"exam_id": exam_id, "school_id": sch_ids[school]}).drop_duplicates()
            exams.append(ex.assign(grade=grade, term_id=sy.term_id(term), exam_type=etype_g, exam_date=date))
            subjects = (
                ["chinese", "math"]
                + (["english"] if grade >= 3 else [])
                + (["morality_law"] if grade >= 7 else [])
            )
            subjects += ["physics"] if grade >= 8 else []
            comp = (
                pop.ability[who]
                + 0.25 * pop.trend[who] * (sim.term_no - 1 + term)
                + rng.normal(0, 0.3, len(who))
            )
            for subj in subjects:
                full = 120.0 if grade >= 7 and subj in ("chinese", "math", "english") else 100.0
                z = comp + rng.normal(0, 0.45, len(who))
                score = np.round(full * np.clip(0.72 + 0.13 * z, 0.05, 1.0) * 2) / 2
                score[absent] = np.nan
                lv_only = sim.levels_only[school]
                frame = pd.DataFrame({"student_id": sim.sid(who), "exam_id": exam_id, "subject": subj,
                                      "score": np.where(lv_only, np.nan, score), "full_marks": np.where(lv_only, np.nan, full),
                                      "level": None, "absent": absent})  # fmt: skip
                if lv_only.any():
                    pct = pd.Series(np.where(absent, np.nan, z)).groupby(exam_id).rank(pct=True).to_numpy()
                    lvl = np.select([pct >= 0.85, pct >= 0.5, pct >= 0.2], ["A", "B", "C"], "D")
                    lvl = np.where(np.isnan(pct), None, lvl)
                    frame.loc[lv_only, "level"] = lvl[lv_only]
                results.append(frame)
    sim.rows["exams"].append(pd.concat(exams, ignore_index=True))
    sim.rows["exam_results"].append(pd.concat(results, ignore_index=True))
