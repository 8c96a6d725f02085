"""Labels and cohort: who is in school on the as-of date, and who drops out within the horizon.

The rule is DATA_CONTRACT.md "The label". For as-of date ``D`` and horizon ``H``
(``TrainConfig.horizon_days``):

- **cohort**: students enrolled and in school on ``D``, as :mod:`features.cohort` defines
  it (one definition for features and labels): a ``students`` row in force on ``D`` and
  no registry exit known on ``D``. A student with an open 疑似辍学 mark is still in the
  cohort: a suspected dropout is exactly who the list is for.
- **positive** (``label = 1``) if, in ``(D, D + H]``, the student gets a ``dropout_mark``,
  or a ``suspected_mark`` not resolved by a return within
  ``suspected_resolution_days``, or a run of ``streak_days`` consecutive unexcused school
  days (days counted inside the window).
- **censored** (left out, neither positive nor negative) if, in ``(D, D + H]`` and before
  any positive event, the student has a verified ``transfer_out``, a ``suspend`` (休学),
  ``deceased``, ``abroad``, a home-teaching placement (送教上门: ``cases.placement``,
  ``case_events`` or ``interventions`` of type ``home_teaching``), or a registry mark
  whose reason says it is not a dropout (``enrolled_elsewhere``, ``deferred``,
  ``abroad``, ``identity_issue``, ``deceased``).
- **negative** otherwise.

Consecutive school days are the student's own recorded attendance days in date order; a
day counts as unexcused when every session recorded that day is ``unexcused``. Days with
no row (unknown) neither count nor break a run. This is the *recorded unexcused run* of
:func:`features.time.recorded_unexcused_runs`, not the rules' *unexcused streak* (school
calendar, worst session, approved leave; see :mod:`features.time`).

A label for ``D`` needs data up to ``D + H + suspected_resolution_days``
(:func:`label_lag_days`); :func:`make_labels` refuses dates whose window is not yet
observed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from features.cohort import cohort_index, cohort_panel
from features.config import TrainConfig
from features.contract import Tables
from features.errors import PointInTimeError
from features.time import recorded_unexcused_runs

__all__ = [
    "NOT_DROPOUT_REASONS",
    "cohort_members",
    "label_lag_days",
    "observed_until",
    "observable_as_of_dates",
    "make_labels",
    "label_panel",
]

#: dropout-reason codes that say a registry mark is *not* a dropout (DATA_CONTRACT "Codes")
NOT_DROPOUT_REASONS = frozenset({"enrolled_elsewhere", "deferred", "abroad", "identity_issue", "deceased"})
_RESOLVING = frozenset({"return_mark", "resume", "transfer_in", "enrol"})
_CENSORING = frozenset({"suspend", "deceased", "abroad"})


def _day(as_of: dt.date | pd.Timestamp | str) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def label_lag_days(config: TrainConfig) -> int:
    """Days after ``D`` until the label of ``D`` is fully known: horizon + resolution window.

    A model used on date ``T`` can only have been trained on as-of dates at least this
    many days before ``T``; it is the splitters' default gap.

    >>> label_lag_days(TrainConfig())
    120
    """
    return config.horizon_days + config.suspected_resolution_days


def observed_until(tables: Tables) -> pd.Timestamp:
    """The last day the tables describe: the latest attendance or registry date."""
    last = [tables.attendance["date"].max(), tables.registry_events["event_date"].max()]
    last = [d for d in last if pd.notna(d)]
    if not last:
        raise PointInTimeError("attendance and registry_events are both empty: no day is observed")
    return pd.Timestamp(max(last))


def observable_as_of_dates(
    as_of_dates: Iterable[dt.date | pd.Timestamp],
    config: TrainConfig,
    *,
    until: dt.date | pd.Timestamp,
) -> list[pd.Timestamp]:
    """The as-of dates whose whole label window (:func:`label_lag_days`) ends by ``until``.

    >>> observable_as_of_dates(["2024-01-01", "2024-03-01"], TrainConfig(), until="2024-05-15")
    [Timestamp('2024-01-01 00:00:00')]
    """
    lag = pd.Timedelta(days=label_lag_days(config))
    end = _day(until)
    return [_day(d) for d in as_of_dates if _day(d) + lag <= end]


def _codes(s: pd.Series) -> np.ndarray:
    return s.cat.codes.to_numpy() if isinstance(s.dtype, pd.CategoricalDtype) else s.to_numpy()


def cohort_members(tables: Tables, as_of: dt.date | pd.Timestamp) -> pd.CategoricalIndex:
    """Students enrolled and in school on ``as_of`` (:func:`features.cohort.cohort_index`).

    One definition serves features and labels. Returns a ``student_id`` index with the
    tables' categories (sorted).
    """
    ids = cohort_index(tables, _day(as_of).date())
    codes = np.sort(tables.student_ids.get_indexer(ids))
    return pd.CategoricalIndex(
        pd.Categorical.from_codes(codes, categories=tables.student_ids), name="student_id"
    )


def _events(tables: Tables, config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every registry positive event, every censoring event and every long unexcused run.

    Returns ``(positives, censors, streaks)``: columns ``sid`` (student code) and ``date``;
    ``streaks`` also has ``run``.
    """
    ev = tables.registry_events
    sid = _codes(ev["student_id"])
    etype = ev["event_type"].astype("str").to_numpy()
    reason = ev["reason"].astype("str").to_numpy() if "reason" in ev else np.full(len(ev), "nan")
    date = ev["event_date"].to_numpy()
    not_dropout = np.isin(reason, list(NOT_DROPOUT_REASONS))
    verified = ev["verified"].fillna(False).to_numpy(bool) if "verified" in ev else np.zeros(len(ev), bool)
    is_mark = np.isin(etype, ["dropout_mark", "suspected_mark"])

    cens = [
        pd.DataFrame(
            {
                "sid": sid[
                    np.isin(etype, list(_CENSORING))
                    | ((etype == "transfer_out") & verified)
                    | (is_mark & not_dropout)
                ],
                "date": date[
                    np.isin(etype, list(_CENSORING))
                    | ((etype == "transfer_out") & verified)
                    | (is_mark & not_dropout)
                ],
            }
        )
    ]
    for frame, col, mask in _home_teaching(tables):
        cens.append(
            pd.DataFrame({"sid": _codes(frame.loc[mask, "student_id"]), "date": frame.loc[mask, col]})
        )
    censors = pd.concat(cens, ignore_index=True)

    pos = [
        pd.DataFrame(
            {
                "sid": sid[(etype == "dropout_mark") & ~not_dropout],
                "date": date[(etype == "dropout_mark") & ~not_dropout],
            }
        )
    ]

    # suspected marks: positive unless resolved (return or a censoring event) within the window
    sus_mask = (etype == "suspected_mark") & ~not_dropout
    sus = pd.DataFrame({"sid": sid[sus_mask], "date": date[sus_mask]})
    if len(sus):
        res_mask = np.isin(etype, list(_RESOLVING))
        resolvers = pd.concat(
            [
                pd.DataFrame({"sid": sid[res_mask], "rdate": date[res_mask]}),
                censors.rename(columns={"date": "rdate"}),
            ],
            ignore_index=True,
        )
        resolvers["rdate"] = resolvers["rdate"].astype("datetime64[s]")
        sus = sus.assign(date=sus["date"].astype("datetime64[s]")).reset_index(names="_k")
        hits = sus.merge(resolvers, on="sid", how="inner")
        window = pd.Timedelta(days=config.suspected_resolution_days)
        resolved_k = hits.loc[(hits["rdate"] > hits["date"]) & (hits["rdate"] <= hits["date"] + window), "_k"]
        pos.append(sus.loc[~sus["_k"].isin(resolved_k), ["sid", "date"]])

    positives = pd.concat(pos, ignore_index=True)
    streaks = recorded_unexcused_runs(tables.attendance, config.streak_days)
    for f in (positives, censors, streaks):
        f["sid"] = f["sid"].astype("int64")
        f["date"] = f["date"].astype("datetime64[s]")
    return positives, censors, streaks


def _home_teaching(tables: Tables) -> list[tuple[pd.DataFrame, str, pd.Series]]:
    out: list[tuple[pd.DataFrame, str, pd.Series]] = []
    if tables.interventions is not None:
        iv = tables.interventions
        out.append((iv, "start_date", iv["type"].eq("home_teaching").fillna(False).astype(bool)))
    if tables.cases is not None:
        cs = tables.cases.assign(_d=tables.cases["closed_at"].fillna(tables.cases["opened_at"]))
        out.append((cs, "_d", cs["placement"].eq("home_teaching").fillna(False).astype(bool)))
    if tables.case_events is not None and tables.cases is not None:
        ce = tables.case_events.merge(tables.cases[["case_id", "student_id"]], on="case_id", how="inner")
        out.append((ce, "ts", ce["event_type"].eq("home_teaching").fillna(False).astype(bool)))
    return out


def _labels_from_events(
    members: np.ndarray,
    day: pd.Timestamp,
    positives: pd.DataFrame,
    censors: pd.DataFrame,
    streaks: pd.DataFrame,
    config: TrainConfig,
) -> pd.DataFrame:
    """Label the cohort ``members`` (student codes) for ``day``."""
    end = day + pd.Timedelta(days=config.horizon_days)
    first_pos = []
    p = positives.loc[(positives["date"] > day) & (positives["date"] <= end)]
    first_pos.append(p.groupby("sid")["date"].min())
    s = streaks.loc[(streaks["date"] > day) & (streaks["date"] <= end)]
    if len(s):
        s = s.sort_values(["sid", "date"])
        nth = s.groupby("run").cumcount() + 1
        hit = s.loc[nth == config.streak_days]
        first_pos.append(hit.groupby("sid")["date"].min())
    pos = pd.concat(first_pos).groupby(level=0).min() if first_pos else pd.Series(dtype="datetime64[s]")
    c = censors.loc[(censors["date"] > day) & (censors["date"] <= end)]
    cens = c.groupby("sid")["date"].min()

    out = pd.DataFrame(index=pd.Index(members, name="sid"))
    out["event_date"] = pos.reindex(out.index).astype("datetime64[s]")
    cdate = cens.reindex(out.index)
    censored = cdate.notna() & (out["event_date"].isna() | (cdate < out["event_date"]))
    out = out.loc[~censored.to_numpy()]
    out.insert(0, "label", out["event_date"].notna().astype("int8"))
    return out


_NEVER = np.iinfo("int64").max


def _first_after(sid: np.ndarray, sec: np.ndarray, q_sid: np.ndarray, q_sec: np.ndarray) -> np.ndarray:
    """For each query (``q_sid``, ``q_sec``): the index of the first event of that student
    dated after ``q_sec`` in the events sorted by (``sid``, ``sec``); -1 when there is none."""
    if not len(sid) or not len(q_sid):
        return np.full(len(q_sid), -1, dtype="int64")
    lo = min(int(sec.min()), int(q_sec.min()))
    span = max(int(sec.max()), int(q_sec.max())) - lo + 2
    key = sid * span + (sec - lo)
    j = np.searchsorted(key, q_sid * span + (q_sec - lo), side="right")
    ok = j < len(sid)
    ok[ok] = sid[j[ok]] == q_sid[ok]
    return np.where(ok, j, -1)


def _first_event(events: pd.DataFrame, q_sid: np.ndarray, q_sec: np.ndarray) -> np.ndarray:
    """Per query: the date (int64 seconds) of the first of ``events`` of that student after
    ``q_sec``; ``_NEVER`` when there is none."""
    out = np.full(len(q_sid), _NEVER, dtype="int64")
    if len(events):
        sid, sec, _ = _sorted_events(events)
        j = _first_after(sid, sec, q_sid, q_sec)
        hit = j >= 0
        out[hit] = sec[j[hit]]
    return out


def _sorted_events(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``frame``'s ``sid`` and ``date`` (int64 seconds) sorted by student and date, dated rows
    only (an undated row never falls in a window), and the sort order."""
    sid = frame["sid"].to_numpy().astype("int64")
    sec = np.asarray(frame["date"].to_numpy(), dtype="datetime64[s]").view("int64")
    dated = np.flatnonzero(sec != np.iinfo("int64").min)
    order = dated[np.lexsort((sec[dated], sid[dated]))]
    return sid[order], sec[order], order


def _labels_panel_from_events(
    codes: np.ndarray,
    nights: np.ndarray,
    positives: pd.DataFrame,
    censors: pd.DataFrame,
    streaks: pd.DataFrame,
    config: TrainConfig,
) -> pd.DataFrame:
    """:func:`_labels_from_events` of many (student, night) pairs at once: ``codes[i]`` on
    ``nights[i]`` (datetime64[s]).

    Each pair's first positive and first censoring event after the night are found by one
    search over the events sorted by (student, date), not a filter per night; the streak rule
    takes the ``streak_days``-th day of a run after the night (the rest of the run the night
    falls in, else the next run). Returns columns ``pair`` (the position in ``codes``),
    ``label`` and ``event_date``; censored pairs are left out.
    """
    q_sid = np.asarray(codes, dtype="int64")
    q_sec = np.asarray(nights, dtype="datetime64[s]").view("int64")
    end = q_sec + config.horizon_days * 86400
    first = _first_event(positives, q_sid, q_sec)
    k = config.streak_days
    if len(streaks) and k >= 1:
        sid, sec, order = _sorted_events(streaks)
        run = streaks["run"].to_numpy()[order]
        n = len(sid)
        starts = np.r_[True, run[1:] != run[:-1]]
        run_end = np.r_[np.flatnonzero(starts)[1:], n] - 1  # per run: its last row
        end_of = np.repeat(run_end, np.diff(np.r_[np.flatnonzero(starts), n]))
        j = _first_after(sid, sec, q_sid, q_sec)
        found = j >= 0
        at = np.where(found, j, 0) + k - 1
        # the k-th day after the night in the run the night falls in ...
        same = found & (at <= end_of[np.where(found, j, 0)])
        # ... else in the next run of the same student (every run is at least k days long)
        nxt = end_of[np.where(found, j, 0)] + 1
        later = found & ~same & (nxt < n)
        later[later] = sid[nxt[later]] == q_sid[later]
        at = np.where(same, at, nxt + k - 1)
        good = same | later
        good[good] = at[good] < n
        good[good] = run[at[good]] == run[np.where(same, j, nxt)[good]]
        streak_day = np.full(len(q_sid), _NEVER, dtype="int64")
        streak_day[good] = sec[at[good]]
        first = np.minimum(first, streak_day)
    first = np.where(first <= end, first, _NEVER)
    cdate = _first_event(censors, q_sid, q_sec)
    cdate = np.where(cdate <= end, cdate, _NEVER)
    censored = (cdate != _NEVER) & ((first == _NEVER) | (cdate < first))
    pair = np.flatnonzero(~censored)
    ev = first[pair]
    event = np.where(ev == _NEVER, np.iinfo("int64").min, ev).view("datetime64[s]")
    return pd.DataFrame({"pair": pair, "label": (ev != _NEVER).astype("int8"), "event_date": event})


def _check_observed(day: pd.Timestamp, config: TrainConfig, until: pd.Timestamp) -> None:
    need = day + pd.Timedelta(days=label_lag_days(config))
    if need > until:
        raise PointInTimeError(
            f"label for as_of={day.date()} needs data up to {need.date()} (horizon "
            f"{config.horizon_days} + resolution {config.suspected_resolution_days} days) but the "
            f"tables end on {until.date()}; use observable_as_of_dates() to pick labelled dates"
        )


def make_labels(
    tables: Tables,
    as_of: dt.date | pd.Timestamp,
    config: TrainConfig,
    *,
    until: dt.date | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Label every student in the cohort of ``as_of``; censored students are left out.

    Parameters
    ----------
    tables : Tables
        Validated tables (only events dated after ``as_of`` decide the label).
    as_of : date
        The as-of date ``D``.
    config : TrainConfig
        ``horizon_days``, ``suspected_resolution_days`` and ``streak_days``.
    until : date, optional
        Last observed day; default :func:`observed_until`. Raises
        :class:`~features.errors.PointInTimeError` when the label window is not yet observed.

    Returns
    -------
    DataFrame
        Indexed by ``student_id``: ``label`` (int8, 1 = drops out within the horizon) and
        ``event_date`` (the first positive event in the window; NaT when ``label`` is 0).
    """
    day = _day(as_of)
    _check_observed(day, config, _day(until) if until is not None else observed_until(tables))
    positives, censors, streaks = _events(tables, config)
    members = cohort_members(tables, day).codes
    out = _labels_from_events(members, day, positives, censors, streaks, config)
    return _to_student_index(out, tables)


def _to_student_index(out: pd.DataFrame, tables: Tables) -> pd.DataFrame:
    cats = tables.student_ids
    idx = pd.CategoricalIndex(
        pd.Categorical.from_codes(out.index.to_numpy(), categories=cats), name="student_id"
    )
    return out.set_axis(idx, axis=0)


def label_panel(
    tables: Tables,
    as_of_dates: Iterable[dt.date | pd.Timestamp],
    config: TrainConfig,
    *,
    until: dt.date | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Labels for many as-of dates, in the panel layout of ``features.build.build_panel``.

    Returns
    -------
    DataFrame
        Columns ``student_id`` (category), ``as_of`` (datetime64[s]), ``label`` (int8) and
        ``event_date``; one row per (student, as-of date) in the cohort and not censored.
    """
    stop = _day(until) if until is not None else observed_until(tables)
    days = sorted({_day(d) for d in as_of_dates})
    for day in days:
        _check_observed(day, config, stop)
    return _label_members(tables, cohort_panel(tables, days), config)


def _label_members(tables: Tables, members: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The :func:`label_panel` frame of ``members`` (:func:`features.cohort.cohort_panel`)."""
    positives, censors, streaks = _events(tables, config)
    codes = members["code"].to_numpy()
    nights = members["as_of"].to_numpy().astype("datetime64[s]")
    lab = _labels_panel_from_events(codes, nights, positives, censors, streaks, config)
    pair = lab["pair"].to_numpy()
    return pd.DataFrame(
        {
            "student_id": pd.Categorical.from_codes(codes[pair], categories=tables.student_ids),
            "as_of": nights[pair],
            "label": lab["label"].to_numpy(),
            "event_date": lab["event_date"].to_numpy(),
        }
    )
