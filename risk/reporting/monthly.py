"""The county monthly report (月报) by township and school, with zero-report rows.

Source of truth is the ledger (``cases``, ``case_events``): a *suspected dropout* is a case
of type ``suspected_dropout`` or ``dropout``.

- **new** (新增疑似辍学): such cases opened in the month;
- **returned** (劝返销号): such cases closed in the month as ``returned`` or ``placed`` (or the
  ledger's ``closed`` with that closure reason);
- **other closed** (核实销号): closed in the month for another reason (transfer verified, exempt…);
- **still out** (仍未返校): opened on or before the month's last day, not closed and not back at
  school (``returned_at``) by then,
  counted by the four-step stage (四步法) reached by the month's last day;
- **placements** (安置): the placement of the cases returned in the month;
- **reasons** (辍学原因): the primary reason of the new cases;
- **zero report** (零报告): a school (or township) with nothing new, nobody returned and
  nobody still out says so in its own row instead of being left out.

A case counts for the school its student was enrolled in when the case opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from features.contract import Tables
from risk.reporting._common import (
    OUT_OF_SCHOOL,
    class_text,
    closed_as_returned,
    ledger_on,
    lookup,
    month_period,
    name_of,
    owner_text,
    school_info,
    school_text,
    stage_at,
    stage_text,
    student_at,
)
from risk.reporting.labels import (
    CASE_STATUS_LABELS,
    PLACEMENT_LABELS,
    REASON_LABELS,
    STAGE_LABELS,
    Language,
    label,
)

__all__ = ["MonthlyReport", "monthly_report", "statistics_window", "UNIT_COLUMNS", "FORM_COLUMNS", "stage_at"]

#: count columns of :attr:`MonthlyReport.units` and ``.townships`` (after township, school_id, school_name)
UNIT_COLUMNS: tuple[str, ...] = (
    "new_suspected",
    "returned",
    "other_closed",
    "still_out",
    *(f"still_out_stage_{s}" for s in STAGE_LABELS),
)

#: (column, 中文表头, English header) of the county form 新增疑似辍学学生情况统计表
FORM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("row_no", "序号", "No."),
    ("township", "乡镇", "township"),
    ("school_name", "学校", "school"),
    ("grade", "年级", "grade"),
    ("class_name", "班级", "class"),
    ("name", "学生姓名", "name"),
    ("sex", "性别", "sex"),
    ("birth_ym", "出生年月", "born"),
    ("opened_at", "疑似辍学日期", "suspected since"),
    ("reason", "辍学原因", "reason"),
    ("registered_poor", "是否建档立卡/监测户", "registered poor / monitored"),
    ("owner", "包保责任人", "responsible staff"),
    ("stage", "劝返进展 (四步法)", "four-step stage"),
    ("status", "目前状态", "status"),
    ("placement", "安置方式", "placement"),
    ("closed_at", "销号日期", "closed on"),
    ("notes", "备注", "notes"),
)


@dataclass(frozen=True)
class MonthlyReport:
    """What goes into the county monthly report.

    Attributes
    ----------
    month : Period
    units : DataFrame
        One row per school (every school, also those with nothing to report): ``township,
        school_id, school_name`` (the contract's optional ``schools.name``, else the id), the :data:`UNIT_COLUMNS` counts and ``zero_report`` (bool).
    townships : DataFrame
        The same summed per township, then one county row (``township`` = "全县"/"county").
    form : DataFrame
        The new suspected dropouts of the month, one row per case, columns of :data:`FORM_COLUMNS`
        (text in the report's language): the rows of 新增疑似辍学学生情况统计表.
    still_out_cases : DataFrame
        The cases still out at the month's end: ``township, school_id, school_name, class_id,
        class_name, name, opened_at, days_out, stage, owner`` (names as
        :func:`risk.reporting._common.class_text` gives them).
    reasons : DataFrame
        New cases per township (rows) and reason (columns, in words).
    placements : DataFrame
        Returned cases per township (rows) and placement (columns, in words).
    """

    month: pd.Period
    as_of: pd.Timestamp
    units: pd.DataFrame
    townships: pd.DataFrame
    form: pd.DataFrame
    still_out_cases: pd.DataFrame
    reasons: pd.DataFrame
    placements: pd.DataFrame
    language: Language = "zh"
    #: the statistics period (:func:`statistics_window`) when the report covers one, not the month
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @property
    def period_text(self) -> str:
        """What the report covers, in its language: "2025年03月", or "2025-03-11 至 2025-03-20"."""
        zh = self.language == "zh"
        if self.window is None:
            return f"{self.month.start_time:%Y年%m月}" if zh else str(self.month)
        a, b = self.window
        return f"{a:%Y-%m-%d} 至 {b:%Y-%m-%d}" if zh else f"{a:%Y-%m-%d} to {b:%Y-%m-%d}"

    @property
    def zero_report_units(self) -> pd.DataFrame:
        """Schools with nothing to report this month."""
        return self.units.loc[self.units["zero_report"]]


def statistics_window(day, days: tuple[int, ...] = (10, 20, 30)) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The statistics period that ends on the latest statistics day on or before ``day``: from
    the day after the one before (``[reports] statistics_days``; a day past the month's end is
    its last day, so the 30th is 28 February).

    >>> [str(d.date()) for d in statistics_window("2025-03-20")]
    ['2025-03-11', '2025-03-20']
    >>> [str(d.date()) for d in statistics_window("2025-03-31")]
    ['2025-03-21', '2025-03-30']
    >>> [str(d.date()) for d in statistics_window("2025-03-05")]
    ['2025-02-21', '2025-02-28']
    >>> [str(d.date()) for d in statistics_window("2025-03-10")]
    ['2025-03-01', '2025-03-10']
    """
    day = pd.Timestamp(day).normalize()

    def stops(p: pd.Period) -> list[pd.Timestamp]:
        last = p.days_in_month
        return [pd.Timestamp(p.year, p.month, d) for d in sorted({min(int(x), last) for x in days})]

    month = day.to_period("M")
    cands = stops(month - 2) + stops(month - 1) + stops(month)
    past = [s for s in cands if s <= day]
    end = past[-1]
    start = past[-2] + pd.Timedelta(days=1)
    return start, end


def _units(tables: Tables | None, extra: pd.DataFrame, snapshot: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every school with its township: from ``schools``, plus schools only seen in the snapshot or cases."""
    info = school_info(tables)
    if snapshot is not None:
        more = pd.Index(snapshot["school_id"].astype("str").unique()).difference(info.index)
        info = pd.concat([info, pd.DataFrame({"township": ""}, index=more)])
    if tables is not None and tables.classes is not None:
        more = pd.Index(tables.classes["school_id"].astype("str").unique()).difference(info.index)
        info = pd.concat([info, pd.DataFrame({"township": ""}, index=more)])
    more = pd.Index(extra["school_id"].unique()).difference(info.index)
    info = pd.concat([info, pd.DataFrame({"township": ""}, index=more)])
    info.index.name = "school_id"
    info = info.reset_index().sort_values(["township", "school_id"], ignore_index=True)
    name = info["name"] if "name" in info else pd.Series("", index=info.index)
    info["school_name"] = name.where(name.notna() & (name != ""), info["school_id"])
    return info.drop(columns="name", errors="ignore")[["township", "school_id", "school_name"]]


def _by_township(frame: pd.DataFrame, column: str, labels: dict, townships: list[str], language: Language):
    words = frame[column].map(lambda v: label(labels, v, language))
    table = pd.crosstab(frame["township"], words)
    table = table.reindex(index=townships, fill_value=0)
    table.index.name = "township"
    table.columns.name = None
    return table.reset_index()


def monthly_report(
    month: str | dt.date | pd.Period,
    *,
    cases: pd.DataFrame | None,
    case_events: pd.DataFrame | None = None,
    tables: Tables | None = None,
    snapshot: pd.DataFrame | None = None,
    as_of: str | dt.date | pd.Timestamp | None = None,
    language: Language = "zh",
    masked: Collection[str] = (),
    window: tuple | None = None,
) -> MonthlyReport:
    """The monthly report of ``month`` for every township and school.

    Parameters
    ----------
    month : str, date or Period
        The month reported, e.g. ``"2025-03"``.
    cases, case_events : DataFrame
        The ledger tables of the data contract (``None``: nothing recorded, an all-zero report).
    tables : Tables, optional
        Loaded tables: ``schools`` (the list of units and townships), ``students`` (school,
        class, sex and birth month when the case opened), ``student_names``, ``staff``,
        ``hardship`` (registered-poor column).
    snapshot : DataFrame, optional
        Where ``tables`` is missing, a snapshot gives each student's school.
    as_of : date, optional
        The data date. A month not over yet is counted up to it (days out, stage, still out),
        and nothing recorded after it counts (:func:`risk.reporting._common.ledger_on`): a
        report as of ``as_of`` shows nothing known later. Default: the month's last day.
    language : {"zh", "en"}
    window : (date, date), optional
        The statistics period (:func:`statistics_window`) instead of the whole month: new
        cases, returns and closings within it, still out at its end (《新增疑似辍学学生情况统计表》
        on the 10th, 20th and 30th).
    masked : collection of str
        Case ids whose child the reader may not see (the county before a case reaches the
        四步法): their rows keep school, grade, dates, reason and status, and show no name,
        class, sex, birth month or household.

    Returns
    -------
    MonthlyReport

    Examples
    --------
    >>> cases = pd.DataFrame({"case_id": ["k1"], "student_id": ["a"], "opened_at": ["2025-03-05"],
    ...     "trigger": ["rule_3day"], "case_type": ["suspected_dropout"], "status": ["open"],
    ...     "reason_primary": ["work"]})
    >>> from risk.reporting._examples import example_snapshot
    >>> r = monthly_report("2025-03", cases=cases, snapshot=example_snapshot())
    >>> r.units[["school_id", "new_suspected", "still_out", "zero_report"]].values.tolist()
    [['s1', 1, 1, False], ['s2', 0, 0, True]]
    """
    from risk.reporting.school import case_schools

    period = month_period(month)
    start, end = period.start_time.normalize(), period.end_time.normalize()
    if window is not None:
        start, end = (pd.Timestamp(d).normalize() for d in window)
        if end < start:
            raise ValueError(f"statistics window ends ({end.date()}) before it starts ({start.date()})")
    if as_of is not None:
        end = min(end, pd.Timestamp(as_of).normalize())
    c, ev = ledger_on(cases, case_events, end)
    c = c.loc[c["case_type"].isin(OUT_OF_SCHOOL)].reset_index(drop=True)
    where = case_schools(c, snapshot, tables)
    c = c.assign(school_id=where["school_id"], class_id=where["class_id"], grade=where["grade"])
    units = _units(tables, c, snapshot)
    c["township"] = lookup(c["school_id"], units.set_index("school_id")["township"]).fillna("")

    new = c["opened_at"].between(start, end)
    closed_in = c["closed_at"].between(start, end)
    back = closed_as_returned(c)
    returned = closed_in & back
    other_closed = closed_in & ~back
    # out at the month's end: not closed by then, and not back at school (the ledger's returned_at)
    out_at_end = (
        (c["opened_at"] <= end)
        & (c["closed_at"].isna() | (c["closed_at"] > end))
        & (c["returned_at"].isna() | (c["returned_at"] > end))
    )
    stage = stage_at(c, ev, end)

    flags = pd.DataFrame({"school_id": c["school_id"], "new_suspected": new, "returned": returned,
                          "other_closed": other_closed, "still_out": out_at_end})  # fmt: skip
    for s in STAGE_LABELS:
        flags[f"still_out_stage_{s}"] = out_at_end & (stage == s)
    per_school = flags.groupby("school_id").sum().astype("int64")
    table = units.join(per_school, on="school_id").fillna(dict.fromkeys(UNIT_COLUMNS, 0))
    table[list(UNIT_COLUMNS)] = table[list(UNIT_COLUMNS)].astype("int64")
    table["zero_report"] = table[["new_suspected", "returned", "other_closed", "still_out"]].sum(axis=1) == 0

    county = "全县" if language == "zh" else "county"
    towns = table.groupby("township", as_index=False)[list(UNIT_COLUMNS)].sum()
    towns = pd.concat(
        [towns, pd.DataFrame([{"township": county, **table[list(UNIT_COLUMNS)].sum().to_dict()}])],
        ignore_index=True,
    )
    towns["zero_report"] = towns[["new_suspected", "returned", "other_closed", "still_out"]].sum(axis=1) == 0
    township_names = [t for t in towns["township"] if t != county]

    form = _form(c.loc[new], stage.loc[new], tables, language, masked=masked)
    out_rows = (
        c.loc[out_at_end].assign(_stage=stage[out_at_end]).sort_values(["township", "school_id", "opened_at"])
    )
    hide = out_rows["case_id"].astype("str").isin(list(masked))
    still = pd.DataFrame(
        {
            "township": out_rows["township"],
            "school_id": out_rows["school_id"],
            "school_name": school_text(out_rows["school_id"], tables),
            "class_id": out_rows["class_id"].where(~hide, ""),
            "class_name": class_text(out_rows["class_id"], tables, language, out_rows["grade"]).where(
                ~hide, ""
            ),
            "name": name_of(out_rows["student_id"], tables).where(~hide, masked_label(language)),
            "opened_at": out_rows["opened_at"],
            "days_out": (end - out_rows["opened_at"]).dt.days,
            "stage": stage_text(out_rows["_stage"], language),
            "owner": owner_text(out_rows["owner_staff_id"], tables, language),
        }
    ).reset_index(drop=True)
    return MonthlyReport(
        month=period,
        as_of=end,
        units=table,
        townships=towns,
        form=form,
        still_out_cases=still,
        reasons=_by_township(c.loc[new], "reason_primary", REASON_LABELS, township_names, language),
        placements=_by_township(c.loc[returned], "placement", PLACEMENT_LABELS, township_names, language),
        language=language,
        window=None if window is None else (start, end),
    )


def _registered_poor(tables: Tables | None, ids: pd.Series, days: pd.Series, language: Language) -> pd.Series:
    yes, no = ("是", "否") if language == "zh" else ("yes", "no")
    if tables is None or tables.hardship is None:
        return pd.Series("", index=ids.index)
    h = tables.hardship
    h = h.loc[h["hardship_type"].astype("str").isin(["registered_poor", "monitored"])]
    hits = []
    for sid_, day in zip(ids, days, strict=True):
        rows = h.loc[h["student_id"] == sid_]
        on = (rows["valid_from"] <= day) & (rows["valid_to"].isna() | (rows["valid_to"] > day))
        hits.append(yes if bool(on.any()) else no)
    return pd.Series(hits, index=ids.index)


def masked_label(language: Language) -> str:
    """What a masked row shows instead of the child's name."""
    return "（未进入四步法）" if language == "zh" else "(before the four-step procedure)"


def _form(
    new: pd.DataFrame,
    stage: pd.Series,
    tables: Tables | None,
    language: Language,
    *,
    masked: Collection[str] = (),
) -> pd.DataFrame:
    new = new.assign(_stage=stage).sort_values(["township", "school_id", "opened_at", "case_id"])
    sex = pd.Series("", index=new.index)
    born = pd.Series("", index=new.index)
    if tables is not None and len(new):
        at = student_at(tables, new["student_id"], new["opened_at"]).set_axis(new.index)
        words = {"M": "男", "F": "女"} if language == "zh" else {"M": "M", "F": "F"}
        sex = at["sex"].astype("str").map(words).fillna("")
        born = pd.to_datetime(at["birth_ym"]).dt.strftime("%Y-%m").fillna("")
    form = pd.DataFrame(
        {
            "row_no": range(1, len(new) + 1),
            "township": new["township"],
            "school_id": new["school_id"],
            "school_name": school_text(new["school_id"], tables),
            "grade": new["grade"],
            "class_id": new["class_id"],
            "class_name": class_text(new["class_id"], tables, language, new["grade"]),
            "name": name_of(new["student_id"], tables),
            "sex": sex,
            "birth_ym": born,
            "opened_at": new["opened_at"],
            "reason": new["reason_primary"].map(lambda r: label(REASON_LABELS, r, language)),
            "registered_poor": _registered_poor(tables, new["student_id"], new["opened_at"], language),
            "owner": owner_text(new["owner_staff_id"], tables, language),
            "stage": stage_text(new["_stage"], language),
            "status": new["status"].map(lambda s: label(CASE_STATUS_LABELS, s, language)),
            "placement": new["placement"].map(lambda p: label(PLACEMENT_LABELS, p, language) if p else ""),
            "closed_at": new["closed_at"],
            "notes": "",
        }
    )
    hide = new["case_id"].astype("str").isin(list(masked)).to_numpy()
    if hide.any():
        form.loc[hide, ["class_id", "class_name", "sex", "birth_ym", "registered_poor"]] = ""
        form.loc[hide, "name"] = masked_label(language)
    return form.reset_index(drop=True)
