"""Suggested measures: a draft of the plan (一生一案) from the reasons, for a counsellor to edit.

The measure families of DOMAIN.md "Supports", mapped from what the reasons point to.
A suggestion is never a decision: the counsellor keeps, changes or drops each one.

============================  ==========================================================
rules fired, or attendance    ``home_visit`` 家访劝返 (teacher + cadre + parent)
academic reasons              ``tutoring`` 学困帮扶
hardship reasons              ``aid_referral`` 资助转介
left-behind reasons           ``care_counselling`` 情感关怀与心理辅导
a disabled student (随班就读)  ``home_teaching`` 送教上门, when absence is among the reasons
  who is absent
============================  ==========================================================

Examples
--------
>>> fam = pd.Series(["academic;left_behind", "", "attendance"], index=["a", "b", "c"])
>>> rules = pd.Series(["", "rule_3day", ""], index=fam.index)
>>> suggest_measures(fam, rules)["measures"].tolist()
['tutoring;care_counselling', 'home_visit', 'home_visit']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.snapshot import MEASURES

__all__ = ["MEASURE_OF_FAMILY", "MEASURE_COLUMNS", "suggest_measures"]

#: reason family -> measure code
MEASURE_OF_FAMILY: dict[str, str] = {
    "attendance": "home_visit",
    "academic": "tutoring",
    "hardship": "aid_referral",
    "left_behind": "care_counselling",
}
#: columns of :func:`suggest_measures`
MEASURE_COLUMNS = ("measures", "measures_zh", "measures_en")


def suggest_measures(
    reason_families: pd.Series, rules: pd.Series, *, disabled: pd.Series | None = None
) -> pd.DataFrame:
    """Measures per student, strongest reason first.

    Parameters
    ----------
    reason_families : Series
        ';'-joined families of each student's reasons, strongest first ('' when not explained).
    rules : Series
        ';'-joined rule codes per student ('' when none).
    disabled : Series of bool, optional
        Students in inclusive education (``students.inclusive_ed`` other than ``none``).

    Returns
    -------
    DataFrame
        Same index; ``measures`` (';'-joined :data:`risk.snapshot.MEASURES` codes) and the
        measures in words, ``measures_zh`` (joined by '、') and ``measures_en`` (by ', ').
    """
    idx = reason_families.index
    fam = reason_families.fillna("").astype("str").to_numpy()
    fired = rules.reindex(idx).fillna("").astype("str").to_numpy()
    dis = (
        np.zeros(len(idx), dtype=bool)
        if disabled is None
        else disabled.reindex(idx).fillna(False).to_numpy(dtype=bool)
    )
    codes, zh, en = [], [], []
    for families, fired_rules, is_disabled in zip(fam, fired, dis, strict=True):
        chosen: list[str] = []
        if fired_rules:
            chosen.append("home_visit")
        for f in filter(None, families.split(";")):
            m = MEASURE_OF_FAMILY.get(f)
            if m and m not in chosen:
                chosen.append(m)
        if is_disabled and "home_visit" in chosen:
            chosen.insert(chosen.index("home_visit") + 1, "home_teaching")
        codes.append(";".join(chosen))
        zh.append("、".join(MEASURES[m][0] for m in chosen))
        en.append(", ".join(MEASURES[m][1] for m in chosen))
    return pd.DataFrame({"measures": codes, "measures_zh": zh, "measures_en": en}, index=idx, dtype="str")
