"""The simulated households: guardians, left-behind spells, hardship, family events and aid.

A new student's household is drawn when they enrol (:func:`household_rows`); parents leave or
come back after Spring Festival (:func:`spring_festival`); illness, deaths, divorces,
disasters and moves, and poverty entries and exits, happen during the year
(:func:`family_events`); aid is paid each term (:func:`aid`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.sim.calendar import SchoolYear
from features.sim.state import SimState

__all__ = ["aid", "caregiver", "family_events", "household_rows", "spring_festival"]

_LB_STATUS = np.array([0, 1, 1, 2])  # none, father, mother, both -> contract status
_LB_ABSENT = np.array([None, "father", "mother", "both"], dtype=object)
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶")
_GIVEN = list("子涵浩宇欣怡梓轩雨佳俊杰诗琪嘉明晨阳思远文博一诺梦瑶志强春燕秀英建华丽娟海波")


def caregiver(sim: SimState, lb: np.ndarray) -> np.ndarray:
    """Who looks after children whose parents are both away (``lb == 3``); a parent otherwise."""
    # 0 parent, 1 grandparent, 2 relative, 3 alone, 4 institution
    draw = sim.rng.choice(5, len(lb), p=[0.0, 0.80, 0.15, 0.03, 0.02])
    return np.where(lb == 3, draw, 0).astype(np.int8)


def household_rows(sim: SimState, idx: np.ndarray, year: int) -> None:
    """Initial guardians, left-behind, hardship rows and names for new students."""
    rng, pop = sim.rng, sim.pop
    k = len(idx)
    sids = sim.sid(idx)
    known = pd.Timestamp(dt.date(year, 9, 1)) - pd.to_timedelta(rng.integers(30, 900, k), unit="D")
    lb = pop.lb[idx]
    sim.rows["left_behind"].append(
        pd.DataFrame(
            {
                "student_id": sids,
                "effective_date": known,
                "status": _LB_STATUS[lb],
                "absent_parent": _LB_ABSENT[lb],
                "caregiver": np.array(["parent", "grandparent", "relative", "alone", "institution"])[
                    pop.caregiver[idx]
                ],
            }
        )
    )
    ill = pop.parent_ill[idx]
    ill_parent = rng.random(k) < 0.5  # which parent is ill: father / mother
    for member, rel, away in ((1, "father", np.isin(lb, (1, 3))), (2, "mother", np.isin(lb, (2, 3)))):
        health = np.where(ill & (ill_parent == (member == 1)), "chronic", "none")
        sim.rows["guardians"].append(
            pd.DataFrame(
                {
                    "student_id": sids,
                    "member_no": member,
                    "relation": rel,
                    "is_guardian": ~away,
                    "migrant_work": np.where(
                        away, np.where(rng.random(k) < 0.7, "out_province", "in_province"), "none"
                    ),
                    "health_issue": health,
                    "valid_from": known,
                    "valid_to": pd.NaT,
                }
            )
        )
    gp = lb == 3
    if gp.any():
        sim.rows["guardians"].append(
            pd.DataFrame(
                {
                    "student_id": sids[gp],
                    "member_no": 3,
                    "relation": "grandparent",
                    "is_guardian": True,
                    "migrant_work": "none",
                    "health_issue": "none",
                    "valid_from": known[gp],
                    "valid_to": pd.NaT,
                }
            )
        )
    poor = pop.poor[idx]
    if poor.any():
        types = np.array(["registered_poor", "monitored", "dibao", "tekun", "de_facto_unsupported"])
        sim.rows["hardship"].append(
            pd.DataFrame(
                {
                    "student_id": sids[poor],
                    "hardship_type": types[pop.poor_type[idx][poor]],
                    "level": rng.choice(["special", "moderate", "general"], poor.sum(), p=[0.2, 0.4, 0.4]),
                    "valid_from": known[poor],
                    "valid_to": pd.NaT,
                }
            )
        )
    names = np.char.add(
        np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), k)],
        np.char.add(
            np.array(_GIVEN)[rng.integers(0, len(_GIVEN), k)],
            np.where(rng.random(k) < 0.6, np.array(_GIVEN)[rng.integers(0, len(_GIVEN), k)], ""),
        ),
    )
    sim.rows["student_names"].append(pd.DataFrame({"student_id": sids, "name": names}))


def spring_festival(sim: SimState, idx: np.ndarray, sy: SchoolYear) -> None:
    """Parents leave or come back after Spring Festival; left-behind rows and events."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
    live = idx[pop.in_school[idx] & ~pop.migrant[idx]]
    redraw = live[rng.random(len(live)) > p.left_behind_persistence]
    u = rng.random(len(redraw))
    new = np.zeros(len(redraw), np.int8)
    new[u < p.left_behind_both] = 3
    single = (u >= p.left_behind_both) & (u < p.left_behind_both + p.left_behind_one)
    new[single] = np.where(rng.random(single.sum()) < p.mother_share_single, 2, 1)
    old = pop.lb[redraw]
    changed = new != old
    who, new, old = redraw[changed], new[changed], old[changed]
    if not len(who):
        return
    eff = np.datetime64(sy.spring_festival) + rng.integers(3, 20, len(who)).astype("timedelta64[D]")
    pop.lb[who] = new
    pop.caregiver[who] = caregiver(sim, new)
    sids = sim.sid(who)
    sim.rows["left_behind"].append(
        pd.DataFrame(
            {
                "student_id": sids,
                "effective_date": pd.to_datetime(eff),
                "status": _LB_STATUS[new],
                "absent_parent": _LB_ABSENT[new],
                "caregiver": np.array(["parent", "grandparent", "relative", "alone", "institution"])[
                    pop.caregiver[who]
                ],
            }
        )
    )
    away_more = _LB_STATUS[new] > _LB_STATUS[old]
    ev = np.where(away_more | ((new == 2) & (old == 1)), "parent_migration_start", "parent_return")
    sim.rows["family_events"].append(
        pd.DataFrame({"student_id": sids, "event_date": pd.to_datetime(eff), "event_type": ev})
    )
    for member, rel, codes in ((1, "father", (1, 3)), (2, "mother", (2, 3))):
        was, now = np.isin(old, codes), np.isin(new, codes)
        ch = was != now
        if not ch.any():
            continue
        sim.rows["guardians"].append(
            pd.DataFrame(
                {
                    "student_id": sids[ch],
                    "member_no": member,
                    "relation": rel,
                    "is_guardian": ~now[ch],
                    "migrant_work": np.where(now[ch], "out_province", "none"),
                    "health_issue": "none",
                    "valid_from": pd.to_datetime(eff[ch]),
                    "valid_to": pd.NaT,
                }
            )
        )


def family_events(sim: SimState, idx: np.ndarray, sy: SchoolYear) -> None:
    """Illness, death, divorce, disaster, moves; hardship entries and exits."""
    p, rng, pop = sim.preset, sim.rng, sim.pop
    live = idx[pop.in_school[idx]]
    span = (np.datetime64(sy.spring_end) - np.datetime64(sy.autumn_start)).astype(int)
    start = np.datetime64(sy.autumn_start)
    for kind, rate in (("parent_illness", p.parent_illness_rate), ("parent_death", p.parent_death_rate),
                       ("divorce", p.divorce_rate), ("disaster", p.disaster_rate), ("house_move", p.house_move_rate)):  # fmt: skip
        hit = live[rng.random(len(live)) < rate]
        if not len(hit):
            continue
        when = start + rng.integers(0, span, len(hit)).astype("timedelta64[D]")
        sim.rows["family_events"].append(
            pd.DataFrame({"student_id": sim.sid(hit), "event_date": pd.to_datetime(when), "event_type": kind})
        )
        if kind in ("parent_illness", "parent_death"):
            pop.parent_ill[hit] = True  # takes effect on next term's hazard
        if kind == "disaster":
            newly = hit[~pop.poor[hit] & (rng.random(len(hit)) < 0.5)]
            pop.poor[newly] = True
            pop.poor_type[newly] = 1
            sim.rows["hardship"].append(
                pd.DataFrame(
                    {
                        "student_id": sim.sid(newly),
                        "hardship_type": "monitored",
                        "level": "moderate",
                        "valid_from": pd.to_datetime(when[np.isin(hit, newly)]),
                        "valid_to": pd.NaT,
                    }
                )  # fmt: skip
            )
    # poverty entries (monitoring) and exits
    enter = live[~pop.poor[live] & (rng.random(len(live)) < p.poverty_entry_rate)]
    when = start + rng.integers(0, span, len(enter)).astype("timedelta64[D]")
    pop.poor[enter] = True
    pop.poor_type[enter] = 1
    sim.rows["hardship"].append(
        pd.DataFrame(
            {
                "student_id": sim.sid(enter),
                "hardship_type": "monitored",
                "level": "general",
                "valid_from": pd.to_datetime(when),
                "valid_to": pd.NaT,
            }
        )  # fmt: skip
    )
    leave = live[pop.poor[live] & (rng.random(len(live)) < p.poverty_exit_rate)]
    when = start + rng.integers(0, span, len(leave)).astype("timedelta64[D]")
    pop.poor[leave] = False
    sim.poverty_exits.append(pd.DataFrame({"student_id": sim.sid(leave), "exit": pd.to_datetime(when)}))


def aid(sim: SimState, idx: np.ndarray, sy: SchoolYear) -> None:
    """Each term's nutrition, boarding and living subsidies."""
    pop = sim.pop
    live = idx[pop.in_school[idx]]
    for term, paid in (
        (0, sy.autumn_start + dt.timedelta(days=45)),
        (1, sy.spring_start + dt.timedelta(days=45)),
    ):
        parts = []
        rural = live[pop.agri[live]]
        parts.append(("nutrition", rural, 800.0))
        bs = live[pop.boarding[live] & pop.poor[live]]
        parts.append(("boarding_subsidy", bs, 1250.0))
        ls = live[pop.poor[live] & np.isin(pop.poor_type[live], (0, 2, 3))]
        parts.append(("living_subsidy", ls, 500.0))
        for kind, who, amount in parts:
            if not len(who):
                continue
            sim.rows["aid"].append(
                pd.DataFrame(
                    {
                        "student_id": sim.sid(who),
                        "paid_date": pd.Timestamp(paid),
                        "term_id": sy.term_id(term),
                        "aid_type": kind,
                        "amount_cny": amount,
                    }
                )  # fmt: skip
            )
