"""Small hand-made inputs for the reporting docstrings and tests.

Two schools in two townships: school ``s1`` (township T1) with classes ``c1`` (students
a, b, c) and ``c2`` (student d); school ``s2`` (township T2) with class ``c3`` (student e).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import Tables
from features.names import feature_names
from risk.snapshot import SNAPSHOT_COLUMNS

__all__ = ["example_snapshot", "snapshot_row", "synthetic_run", "SyntheticRun"]


def snapshot_row(student_id: str, class_id: str, school_id: str, grade: int, **values: object) -> dict:
    """One snapshot row with neutral defaults for every column not given."""
    row: dict[str, object] = {
        "student_id": student_id,
        "as_of": pd.Timestamp("2025-03-10"),
        "school_id": school_id,
        "class_id": class_id,
        "grade": grade,
        "probability": 0.01,
        "rank_county": 0,
        "rank_school": 0,
        "rank_class": 0,
        "tie_key": student_id,
        "tier": "none",
        "tier_condition": "",
        "tier_reason_zh": "",
        "tier_reason_en": "",
        "rules": "",
        "rule_evidence": "[]",
        "tags": "",
        "capacity": 5,
        "selected": False,
        "borderline": False,
        "assignment_mechanism": "",
        "listed": False,
        "explained": False,
        "reason_codes": "",
        "reason_families": "",
        "reasons_zh": "",
        "reasons_en": "",
        "protective_zh": "",
        "protective_en": "",
        "measures": "",
        "measures_zh": "",
        "measures_en": "",
        "model_version": "example",
    }
    row.update(values)
    return row


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["rank_county"] = frame["probability"].rank(ascending=False, method="first").astype("int64")
    for key, col in (("school_id", "rank_school"), ("class_id", "rank_class")):
        frame[col] = frame.groupby(key)["probability"].rank(ascending=False, method="first").astype("int64")
    frame["tier"] = pd.Categorical(frame["tier"], categories=["red", "yellow", "blue", "none"])
    return frame[list(SNAPSHOT_COLUMNS)]


def example_snapshot(as_of: str = "2025-03-10") -> pd.DataFrame:
    """Five students: a red (3-day rule), b yellow, c not listed, d (class c2) red, e (school s2) blue.

    >>> example_snapshot()[["student_id", "tier", "listed"]].values.tolist()[:3]
    [['a', 'red', True], ['b', 'yellow', True], ['c', 'none', False]]
    """
    evidence = json.dumps([{"rule": "rule_3day", "first_day": "2025-03-04", "days": 4}])
    rows = [
        snapshot_row(
            "a", "c1", "s1", 7,
            probability=0.41, tier="red", tier_condition="rule:rule_3day",
            tier_reason_zh="连续3天以上无故缺勤", tier_reason_en="more than 3 consecutive unexcused days",
            rules="rule_48h;rule_3day", rule_evidence=evidence, selected=True, listed=True,
            assignment_mechanism="rule", explained=True,
            reasons_zh="近30天无故缺勤4天；父母双方外出务工；数学成绩下降一个等级；住校",
            reasons_en="4 unexcused days in 30 days; both parents migrated; maths down a level; boarding",
            protective_zh="语文成绩稳定", protective_en="steady Chinese scores",
            measures="home_visit;care_counselling", measures_zh="家访劝返；情感关怀与心理辅导",
            measures_en="home visit and persuasion; care and counselling",
        ),
        snapshot_row(
            "b", "c1", "s1", 7,
            probability=0.12, tier="yellow", tier_condition="risk>=0.10",
            tier_reason_zh="模型风险较高", tier_reason_en="model risk in the next tier",
            selected=True, listed=True, assignment_mechanism="model_rank", explained=True,
            reasons_zh="进入班级后20%", reasons_en="in the bottom 20% of the class",
            measures="tutoring", measures_zh="学困帮扶", measures_en="academic help",
        ),
        snapshot_row("c", "c1", "s1", 7, probability=0.02),
        snapshot_row(
            "d", "c2", "s1", 8,
            probability=0.30, tier="red", tier_condition="risk>=0.25", tier_reason_zh="模型风险≥25%",
            tier_reason_en="model risk >= 25%", selected=True, listed=True, assignment_mechanism="model_rank",
            reasons_zh="家庭经济困难", reasons_en="economic hardship",
            measures="aid_referral", measures_zh="资助转介", measures_en="financial aid referral",
        ),
        snapshot_row(
            "e", "c3", "s2", 9,
            probability=0.06, tier="blue", tier_condition="watched_group", tier_reason_zh="留守儿童",
            tier_reason_en="left-behind child", listed=True,
        ),
    ]  # fmt: skip
    frame = _ranked(pd.DataFrame(rows))
    frame["as_of"] = pd.Timestamp(as_of)
    return frame


@dataclass(frozen=True)
class SyntheticRun:
    """Stand-in inputs for reports on a simulated county (until the scoring and ledger land).

    Not a model: probabilities are random, raised for students with a suspected-dropout mark.
    Cases come from the registry's suspected-dropout marks, the way the ledger opens them.
    """

    snapshot: pd.DataFrame
    previous: pd.DataFrame
    history: pd.DataFrame
    cases: pd.DataFrame
    case_events: pd.DataFrame
    interventions: pd.DataFrame
    contributions: pd.DataFrame


_REASONS = (
    ("att_unexcused_days_30d", 4.0),
    ("lb_both_parents_away", 1.0),
    (feature_names().bottom_class, 1.0),
    ("hard_is_dibao", 1.0),
    ("ctx_class_size", 48.0),
)


def _tiers(p: np.ndarray, marked: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tier = np.where(p >= 0.25, "red", np.where(p >= 0.10, "yellow", np.where(p >= 0.05, "blue", "none")))
    tier = np.where(marked, "red", tier)
    return np.where((tier == "blue") & (rng.random(len(p)) < 0.5), "none", tier)


def synthetic_run(
    tables: Tables, as_of: str | pd.Timestamp, *, seed: int = 0, weeks: int = 8
) -> SyntheticRun:
    """Snapshot, last week's snapshot, history, cases, events and interventions for ``tables`` on ``as_of``."""
    from features.catalog import feature_info, phrase
    from risk.plans import suggest_measures

    rng = np.random.default_rng(seed)
    day = pd.Timestamp(as_of)
    st = tables.students
    st = st.loc[(st["valid_from"] <= day) & (st["valid_to"].isna() | (st["valid_to"] > day))]
    st = st.sort_values("valid_from").drop_duplicates("student_id", keep="last").sort_values("student_id")
    ids = st["student_id"].astype("str").to_numpy()
    reg = tables.registry_events.assign(student_id=tables.registry_events["student_id"].astype("str"))
    reg = reg.loc[reg["event_date"] <= day]
    marks = reg.loc[reg["event_type"] == "suspected_mark"]
    back = reg.loc[reg["event_type"] == "return_mark"]
    recent = marks.loc[marks["event_date"] > day - pd.Timedelta(days=30), "student_id"]
    marked = np.isin(ids, recent.to_numpy())
    p = np.clip(rng.beta(0.6, 12, len(ids)) + marked * 0.3, 0.001, 0.95)
    rows = []
    for i, s in enumerate(ids):
        k = rng.choice(len(_REASONS), size=3, replace=False)
        rz = "；".join(phrase(_REASONS[j][0], _REASONS[j][1], "zh") for j in k)
        re_ = "; ".join(phrase(_REASONS[j][0], _REASONS[j][1], "en") for j in k)
        codes = [_REASONS[j][0] for j in k]
        families = ";".join(dict.fromkeys(feature_info(c).family for c in codes))
        rules = "rule_3day" if marked[i] else ""
        # measures follow the reasons, as the scorer's (risk.plans.suggest_measures): 学困帮扶 only
        # for an academic reason
        m = suggest_measures(pd.Series([families]), pd.Series([rules])).iloc[0]
        rows.append(
            snapshot_row(
                s, str(st["class_id"].iloc[i]), str(st["school_id"].iloc[i]), int(st["grade"].iloc[i]),
                probability=float(p[i]), reasons_zh=rz, reasons_en=re_,
                rules=rules, reason_codes=";".join(codes), reason_families=families, measures=m["measures"],
                measures_zh=m["measures_zh"], measures_en=m["measures_en"],
                protective_zh="语文成绩稳定", protective_en="steady Chinese scores",
            )
        )  # fmt: skip
    snap = pd.DataFrame(rows)
    snap["tier"] = _tiers(p, marked, rng)
    snap["listed"] = snap["tier"] != "none"
    snap["selected"] = snap["tier"].isin(["red", "yellow"])
    words = {"red": ("风险≥25%或规则触发", "risk >= 25% or a rule"), "yellow": ("风险≥10%", "risk >= 10%"),
             "blue": ("重点监测群体", "watched group"), "none": ("", "")}  # fmt: skip
    snap["tier_reason_zh"] = snap["tier"].map(lambda t: words[t][0])
    snap["tier_reason_en"] = snap["tier"].map(lambda t: words[t][1])
    snap = _ranked(snap)
    snap["as_of"] = day

    hist = []
    for w in range(weeks, 0, -1):
        h = snap.copy()
        h["as_of"] = day - pd.Timedelta(weeks=w)
        h["probability"] = np.clip(p * np.exp(rng.normal(-0.05 * w, 0.25, len(p))), 0.001, 0.95)
        h["tier"] = pd.Categorical(_tiers(h["probability"].to_numpy(), np.zeros(len(p), bool), rng),
                                   categories=["red", "yellow", "blue", "none"])  # fmt: skip
        h["listed"] = h["tier"] != "none"
        hist.append(h)
    history = pd.concat(hist, ignore_index=True)
    previous = hist[-1]

    heads = {}
    if tables.classes is not None:
        heads = dict(
            zip(tables.classes["class_id"].astype("str"), tables.classes["head_teacher_id"].astype("str"))
        )
    where = {
        r.student_id: r.class_id for r in st.assign(student_id=st["student_id"].astype("str")).itertuples()
    }
    cases, events, ivs = [], [], []
    for n, m in enumerate(marks.sort_values(["event_date", "student_id"]).itertuples()):
        opened = pd.Timestamp(m.event_date)
        ret = back.loc[(back["student_id"] == m.student_id) & (back["event_date"] > opened), "event_date"]
        closed = pd.Timestamp(ret.min()) if len(ret) else pd.NaT
        out_days = ((closed if pd.notna(closed) else day) - opened).days
        stage = 2 if out_days > 30 else 1
        cid = f"K{n:05d}"
        cases.append({
            "case_id": cid, "student_id": m.student_id, "opened_at": opened, "trigger": "registry_mark",
            "case_type": "suspected_dropout", "reason_primary": m.reason if isinstance(m.reason, str) else None,
            "owner_staff_id": heads.get(where.get(m.student_id, ""), None), "four_step_stage": stage,
            "status": "returned" if pd.notna(closed) else "open",
            "placement": "same_grade_class" if pd.notna(closed) else None, "closed_at": closed,
        })  # fmt: skip
        events.append(
            {
                "event_id": f"{cid}-1",
                "case_id": cid,
                "ts": opened,
                "event_type": "report_township",
                "actor_role": "head_teacher",
                "outcome": None,
                "next_due": opened + pd.Timedelta(days=2),
            }
        )
        events.append(
            {
                "event_id": f"{cid}-2",
                "case_id": cid,
                "ts": opened + pd.Timedelta(days=2),
                "event_type": "home_visit",
                "actor_role": "head_teacher",
                "outcome": "contacted",
                "next_due": opened + pd.Timedelta(days=16),
            }
        )
        if out_days > 30:
            events.append({"event_id": f"{cid}-3", "case_id": cid, "ts": opened + pd.Timedelta(days=30),
                           "event_type": "deadline_notice", "actor_role": "township_cadre", "outcome": "refused",
                           "next_due": opened + pd.Timedelta(days=45)})  # fmt: skip
    red = snap.loc[(snap["tier"] == "red") & ~snap["student_id"].isin(marks["student_id"])]
    for n, r in enumerate(red.itertuples()):
        cid = f"P{n:05d}"
        cases.append({"case_id": cid, "student_id": r.student_id, "opened_at": day - pd.Timedelta(days=7 + n % 40),
                      "trigger": "model_red", "case_type": "prevention", "owner_staff_id": heads.get(r.class_id),
                      "four_step_stage": 0, "status": "open"})  # fmt: skip
        ivs.append({"intervention_id": f"I{n:05d}", "student_id": r.student_id, "case_id": cid, "type": "talk",
                    "assigned_to_staff_id": heads.get(r.class_id), "start_date": day - pd.Timedelta(days=5),
                    "sessions": 1, "assignment_mechanism": "model_rank"})  # fmt: skip
    contributions = pd.DataFrame(
        rng.normal(0, 0.3, (len(ids), len(_REASONS))), index=ids, columns=[c for c, _ in _REASONS]
    )
    return SyntheticRun(
        snapshot=snap,
        previous=previous,
        history=history,
        cases=pd.DataFrame(cases),
        case_events=pd.DataFrame(events),
        interventions=pd.DataFrame(ivs),
        contributions=contributions,
    )
