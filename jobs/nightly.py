"""The nightly run: tonight's data -> risk snapshot -> case ledger, in one transaction.

Stages (:data:`STAGES`), in order::

    load -> features -> assess -> diff -> snapshot -> cases -> record -> commit

``load`` reads and validates the county's tables (rejects file written to ``[job] out_dir``);
``features`` builds the feature matrix of ``as_of``; ``assess`` scores, explains, fires the
rules, sets tiers and ranks under capacity (:func:`risk.assess.assess`, with the stored
probabilities of about ``[job] previous_days`` earlier as ``previous``); ``diff`` compares with
the previous run (new on the list, rising, falling, left, rules newly fired) and replays the
rules of missed nights; ``snapshot`` stores one immutable row per student; ``cases`` syncs
staff and opens, updates, returns, escalates and closes cases (:mod:`jobs.ledger`);
``record`` writes the run; ``commit`` ends the transaction.

The night is two parts, reused by every engine: :func:`compute_night` (load -> assess, the
rules of missed nights and the return streaks; it reads the data and a small
:class:`LedgerState`, never the database) and :func:`write_night` (diff -> record, inside the
caller's write transaction). :func:`run_nightly` runs both in this process under one lock;
:func:`jobs.province.run_province` runs the first part of each county as a Dask task and the
second on the driver, one transaction per county.

Guarantees:

- **Atomic.** The run takes the database lock (:func:`jobs.storage.write_transaction`)
  before its first stage and every write is in that one transaction: an error, a kill or
  ``BAOXUE_FAIL_AT=<stage>`` (fault injection: the run stops just before that stage)
  leaves the database exactly as it was.
- **Idempotent.** A run is keyed by ``as_of`` and the hash of the configuration that
  changes results (:func:`run_key`); when that run exists the job does nothing.
- **One writer.** A second run waits up to ``[job] lock_timeout_s`` for the lock, then
  stops with :class:`~jobs.storage.LockTimeout`; if the first one finished meanwhile,
  the second sees its run and does nothing.
- **No lost alerts.** Missed nights are caught up: the rules of every school day since the
  previous run (up to ``[job] catch_up_days``) open cases dated the day they fired.

Logs carry stage names, counts and timings, never names or IDs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.config import BaoxueConfig
from jobs.storage import (
    DIFF_COLUMNS,
    OPEN_STATUSES,
    Case,
    LockTimeout,
    RiskSnapshot,
    Run,
    connect,
    current_revision,
    head_revision,
    upgrade,
    write_transaction,
)
from risk.snapshot import SNAPSHOT_COLUMNS

__all__ = [
    "STAGES",
    "FAIL_ENV",
    "InjectedFault",
    "NightlyResult",
    "LedgerState",
    "ComputedNight",
    "read_ledger_state",
    "compute_night",
    "write_night",
    "write_rejects_file",
    "night_run_id",
    "run_key",
    "compare_snapshots",
    "missed_rule_alerts",
    "open_database",
    "run_nightly",
    "LockTimeout",
]

log = logging.getLogger(__name__)

#: the stages of a run, in order (``BAOXUE_FAIL_AT`` takes one of these)
STAGES: tuple[str, ...] = ("load", "features", "assess", "diff", "snapshot", "cases", "record", "commit")

#: environment variable that stops a run just before the stage it names (tests, drills)
FAIL_ENV = "BAOXUE_FAIL_AT"


class InjectedFault(RuntimeError):
    """Raised by the fault-injection switch :data:`FAIL_ENV`."""


@dataclass
class NightlyResult:
    """What a nightly run did."""

    run_id: str
    as_of: dt.date
    status: str  # "done" or "skipped" (that run exists already)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rejects_file: Path | None = None
    model_version: str = ""


def _fault_from_env() -> str:
    """The stage ``BAOXUE_FAIL_AT`` names ('' when unset); an unknown name is an error."""
    wanted = os.environ.get(FAIL_ENV, "").strip()
    if wanted and wanted not in STAGES:
        raise ValueError(f"{FAIL_ENV}={wanted!r} is not a stage; use one of {', '.join(STAGES)}")
    return wanted


def _check_fault(stage: str, wanted: str) -> None:
    if wanted and wanted == stage:
        raise InjectedFault(f"{FAIL_ENV}={stage}: run stopped before stage {stage!r} (fault injection)")


def run_key(cfg: BaoxueConfig) -> str:
    """The hash of the configuration that changes a run's results (12 hex digits).

    Where the data, the database and the output files live is left out, so the same
    night run from another folder or with ``--db`` is the same run; so is ``[compute]``
    (a county scores the same on any engine).

    >>> from features.config import JobConfig
    >>> run_key(BaoxueConfig()) == run_key(BaoxueConfig(job=JobConfig(db_url="sqlite:///x.db")))
    True
    """
    neutral = replace(
        cfg,
        data=replace(cfg.data, source="", rejects_file="", id_salt=""),
        job=replace(cfg.job, db_url="", out_dir="", lock_timeout_s=0.0),
    )
    fields = asdict(neutral)
    fields.pop("compute", None)
    fields["train"].pop("promote_tolerance", None)  # who is champion, not how a night scores
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _data_hash(source: str | Path) -> str:
    """Files' names, sizes and modification times (a folder), or the URL: cheap, not content."""
    p = Path(str(source))
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.iterdir()):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    else:
        h.update(str(source).encode())
    return h.hexdigest()[:12]


def compare_snapshots(
    current: pd.DataFrame, previous: pd.DataFrame | None, *, change_min: float
) -> pd.DataFrame:
    """Tonight's snapshot against the previous run's: the :data:`jobs.storage.DIFF_COLUMNS`.

    ``change`` is ``new`` (listed tonight, not in the previous run's list), ``rising`` /
    ``falling`` (listed both times, probability up / down by at least ``change_min``),
    ``steady``, ``left`` (listed before, not tonight) or ``''``. ``rules_new`` lists the
    rules firing tonight that did not fire in the previous run.

    >>> cur = pd.DataFrame({"student_id": ["a", "b", "c"], "probability": [0.5, 0.2, 0.1],
    ...     "tier": ["red", "yellow", "none"], "listed": [True, True, False],
    ...     "rules": ["rule_48h;rule_3day", "", ""]})
    >>> prev = pd.DataFrame({"student_id": ["a", "c"], "probability": [0.3, 0.4],
    ...     "tier": ["yellow", "red"], "listed": [True, True], "rules": ["rule_48h", ""]})
    >>> compare_snapshots(cur, prev, change_min=0.05)[["change", "rules_new"]].values.tolist()
    [['rising', 'rule_3day'], ['new', ''], ['left', '']]
    """
    ids = current["student_id"].astype("str")
    if previous is None or previous.empty:
        prev = pd.DataFrame(
            index=pd.Index([], dtype="str"), columns=["probability", "tier", "listed", "rules"]
        )
    else:
        prev = previous.assign(student_id=previous["student_id"].astype("str")).set_index("student_id")
    p = prev.reindex(ids.to_numpy())
    prev_prob = p["probability"].astype("float64").to_numpy()
    was_listed = p["listed"].fillna(False).astype(bool).to_numpy()
    listed = current["listed"].astype(bool).to_numpy()
    delta = current["probability"].to_numpy(dtype="float64") - prev_prob
    change = np.select(
        [
            listed & ~was_listed,
            listed & (delta >= change_min),
            listed & (delta <= -change_min),
            listed,
            was_listed,
        ],
        ["new", "rising", "falling", "steady", "left"],
        default="",
    )
    prev_rules = p["rules"].fillna("").astype("str").to_numpy()
    now_rules = current["rules"].fillna("").astype("str").to_numpy()
    new_rules = [
        ";".join(r for r in now.split(";") if r and r not in set(before.split(";"))) if now else ""
        for now, before in zip(now_rules, prev_rules, strict=True)
    ]
    return pd.DataFrame(
        {
            "prev_probability": prev_prob,
            "prev_tier": p["tier"].astype("object").fillna("").astype("str").to_numpy(),
            "change": change,
            "rules_new": new_rules,
        },
        index=current.index,
    )


def missed_rule_alerts(
    tables, days: list[dt.date], cfg: BaoxueConfig
) -> pd.DataFrame:  # tables: features.contract.Tables
    """The rule alerts of nights the job did not run: ``student_id, day, rules, school_id, class_id``.

    Runs the rules (:func:`risk.rules.evaluate_rules`) on each missed day with the attendance
    features of that day only, so that a 48 h alert whose student came back before the
    next run is still recorded.
    """
    from features.attendance import attendance_features
    from features.cohort import cohort
    from risk.rules import evaluate_rules, rules_by_student

    parts = []
    for day in days:
        co = cohort(tables, day)
        feats = attendance_features(tables, day, config=cfg, cohort=co)
        alerts = evaluate_rules(tables, day, feats, cohort=co, config=cfg)
        if not len(alerts):
            continue
        by = rules_by_student(alerts, pd.Index(alerts["student_id"].unique(), dtype="str"))
        parts.append(
            pd.DataFrame(
                {
                    "student_id": by.index.to_numpy(),
                    "day": pd.Timestamp(day),
                    "rules": by["rules"].to_numpy(),
                    "rule_evidence": by["rule_evidence"].to_numpy(),
                    "school_id": co["school_id"].reindex(by.index).astype("str").to_numpy(),
                    "class_id": co["class_id"].reindex(by.index).astype("object").to_numpy(),
                }
            )
        )
    cols = ["student_id", "day", "rules", "rule_evidence", "school_id", "class_id"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def open_database(url: str, *, lock_timeout_s: float = 60.0) -> Engine:
    """An engine on the ledger, migrated: a new SQLite file is created and upgraded; any
    other database must already be at the newest migration (``baoxue db upgrade``)."""
    engine = connect(url, lock_timeout_s=lock_timeout_s)
    rev = current_revision(engine)
    if rev is None and engine.dialect.name == "sqlite":
        upgrade(engine)
    elif rev != head_revision():
        raise RuntimeError(
            f"the database is at migration {rev or 'none'}, this code needs {head_revision()}: "
            "run `baoxue db upgrade --db URL` first"
        )
    return engine


def _write_snapshot(conn: Connection, frame: pd.DataFrame) -> None:
    """Bulk insert (PostgreSQL: COPY; SQLite: executemany on the driver)."""
    table = RiskSnapshot.__table__
    cols = [c.name for c in table.columns]
    out = frame[cols]
    if conn.dialect.name == "postgresql":
        import io

        buf = io.StringIO()
        out.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d")
        buf.seek(0)
        raw = conn.connection.dbapi_connection
        with (
            raw.cursor() as cur,
            cur.copy(
                f"COPY risk_snapshots ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            ) as copy,
        ):
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        return
    values = []
    for c in cols:
        s = out[c]
        if c == "as_of":
            s = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
        kind = str(SNAPSHOT_COLUMNS.get(c, DIFF_COLUMNS.get(c, ("str", "")))[0])
        if kind == "bool":
            arr = s.astype("object").where(s.notna(), None).map(lambda v: None if v is None else int(bool(v)))
        elif kind == "int64":
            arr = s.astype("object").where(s.notna(), None).map(lambda v: None if v is None else int(v))
        elif kind == "float64":
            arr = s.astype("float64").astype("object").where(s.notna(), None)
        else:
            arr = s.astype("object").where(s.notna(), None).map(lambda v: None if v is None else str(v))
        values.append(arr.tolist())
    sql = f"INSERT INTO risk_snapshots ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    raw = conn.connection.dbapi_connection
    cur = raw.cursor()
    cur.executemany(sql, zip(*values, strict=True))
    cur.close()


def _snapshot_rows(
    conn: Connection, run_id: str, columns=("student_id", "probability", "tier", "listed", "rules")
):
    t = RiskSnapshot.__table__
    res = conn.execute(sa.select(*(t.c[c] for c in columns)).where(t.c.run_id == run_id))
    return pd.DataFrame(res.fetchall(), columns=list(columns))


def _previous_probabilities(conn: Connection, as_of: dt.date, days: int) -> pd.Series | None:
    """Probabilities of the stored run closest to ``as_of - days`` (not after it, not older
    than twice that): the ``previous`` argument of :func:`risk.assess.assess`."""
    runs = Run.__table__
    target = as_of - dt.timedelta(days=days)
    row = conn.execute(
        sa.select(runs.c.run_id)
        .where(runs.c.as_of <= target, runs.c.as_of > target - dt.timedelta(days=days))
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    frame = _snapshot_rows(conn, row[0], ("student_id", "probability"))
    return frame.set_index("student_id")["probability"].astype("float64")


@dataclass(frozen=True)
class LedgerState:
    """What the compute part of a night needs from the ledger, read before it runs.

    ``previous`` holds the probabilities of about ``[job] previous_days`` earlier (the
    ``previous`` argument of :func:`risk.assess.assess`); ``open_suspected`` the students with
    an open suspected-dropout case (their return streaks are computed with the scores).
    """

    run_exists: bool
    last_run_id: str | None = None
    last_as_of: dt.date | None = None
    previous: pd.Series | None = None
    open_suspected: tuple[str, ...] = ()


@dataclass
class ComputedNight:
    """The compute part's result (load -> assess, plus the rules of missed nights): all the
    write part needs, and nothing of the county's raw tables beyond the staff list."""

    snapshot: pd.DataFrame  # SNAPSHOT_COLUMNS, one row per student in school
    staff: pd.DataFrame | None
    rejects: pd.DataFrame
    n_rejects: int
    missed: list[dt.date]
    alerts: pd.DataFrame | None  # rule alerts of the missed nights
    streaks: pd.Series  # present streaks of every student who may hold a suspected-dropout case
    model_version: str
    stage_seconds: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Stage bookkeeping: fault injection before a stage, seconds and a log line after it."""

    def __init__(self, fault: str, on_stage: Callable[[str, float], None] | None) -> None:
        self.fault, self.on_stage = fault, on_stage
        self.seconds: dict[str, float] = {}
        self.clock = time.perf_counter()

    def start(self, name: str) -> None:
        _check_fault(name, self.fault)
        log.info("stage %s", name)
        self.clock = time.perf_counter()

    def done(self, name: str) -> None:
        took = round(time.perf_counter() - self.clock, 3)
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
        log.info("stage %s done in %.1f s", name, took)
        if self.on_stage is not None:
            self.on_stage(name, took)


def read_ledger_state(conn: Connection, cfg: BaoxueConfig, as_of: dt.date, run_id: str) -> LedgerState:
    """The ledger as the night for ``as_of`` finds it (see :class:`LedgerState`).

    Raises ``ValueError`` when a run for a later date exists (runs go forward in time).
    """
    runs = Run.__table__
    if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
        return LedgerState(run_exists=True)
    last = conn.execute(
        sa.select(runs.c.run_id, runs.c.as_of)
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    if last is not None and last.as_of > as_of:
        raise ValueError(
            f"a run for a later date ({last.as_of}) exists; runs go forward in time "
            f"(re-running {as_of} would rewrite the ledger's history)"
        )
    cases = Case.__table__
    open_sus = conn.execute(
        sa.select(cases.c.student_id)
        .where(cases.c.case_type == "suspected_dropout", cases.c.status.in_(OPEN_STATUSES))
        .order_by(cases.c.student_id)
    ).scalars()
    return LedgerState(
        run_exists=False,
        last_run_id=None if last is None else last.run_id,
        last_as_of=None if last is None else last.as_of,
        previous=_previous_probabilities(conn, as_of, cfg.job.previous_days),
        open_suspected=tuple(str(s) for s in open_sus),
    )


def _scoring_model(model, cfg: BaoxueConfig):
    from risk.score import ScoringModel, load_model

    if isinstance(model, ScoringModel):
        return model
    return load_model(model if model is not None else cfg.job.model_uri, tracking_uri=cfg.train.tracking_uri)


def compute_night(
    cfg: BaoxueConfig,
    as_of: dt.date,
    state: LedgerState,
    *,
    source: str | Path | None = None,
    model=None,
    fault: str | None = None,
    on_stage: Callable[[str, float], None] | None = None,
) -> ComputedNight:
    """The compute part of a night: load and validate, features, assess; then the rules of the
    school days missed since ``state.last_as_of`` and the return streaks.

    Reads only the data and ``state`` (no database), so it runs where the data is: in this
    process (:func:`run_nightly`) or in a Dask worker (:mod:`jobs.province`). ``model`` is a
    :class:`~risk.score.ScoringModel` or what :func:`~risk.score.load_model` loads (default
    ``[job] model_uri``); ``fault`` a stage to stop before (default: ``BAOXUE_FAIL_AT``).
    """
    from features.build import build_features
    from features.load import load_tables
    from risk.assess import assess
    from risk.assign import present_streaks

    stages = _Stages(_fault_from_env() if fault is None else fault, on_stage)
    source = cfg.data.source if source is None else source

    stages.start("load")
    loaded = load_tables(cfg.data, source)
    tables = loaded.tables
    stages.done("load")

    stages.start("features")
    features = build_features(tables, as_of, cfg)
    stages.done("features")

    stages.start("assess")
    scoring = _scoring_model(model, cfg)
    snapshot = assess(tables, as_of, scoring, cfg, features=features, previous=state.previous)
    del features
    if "student_id" in snapshot.columns:
        snapshot = snapshot.reset_index(drop=True)
    else:  # indexed by student_id
        snapshot = snapshot.rename_axis("student_id").reset_index()
    snapshot = snapshot[list(SNAPSHOT_COLUMNS)]
    stages.done("assess")

    stages.start("diff")  # its first half: catch up missed nights, return streaks
    alerts = None
    missed: list[dt.date] = []
    if state.last_as_of is not None:
        school_days = set(pd.DatetimeIndex(tables.attendance["date"].unique()).date)
        last = state.last_as_of
        gap = [last + dt.timedelta(days=k) for k in range(1, (as_of - last).days)]
        missed = (
            [d for d in gap if d in school_days][-cfg.job.catch_up_days :] if cfg.job.catch_up_days else []
        )
        if missed:
            alerts = missed_rule_alerts(tables, missed, cfg)
            log.info("caught up %d missed school days: %d rule alerts", len(missed), len(alerts))
    # who may hold an open suspected-dropout case tonight: those who hold one, and those a rule
    # tonight or on a missed night may open one for
    ruled = snapshot.loc[snapshot["rules"].fillna("").astype("str") != "", "student_id"].astype("str")
    candidates = set(state.open_suspected) | set(ruled)
    if alerts is not None and len(alerts):
        candidates |= set(alerts["student_id"].astype("str"))
    streaks = present_streaks(tables.attendance, sorted(candidates), as_of)
    stages.done("diff")
    return ComputedNight(
        snapshot=snapshot,
        staff=tables.staff,
        rejects=loaded.rejects,
        n_rejects=int(loaded.rejects.drop_duplicates(["table", "file_row"]).shape[0]),
        missed=missed,
        alerts=alerts,
        streaks=streaks,
        model_version=scoring.version,
        stage_seconds=stages.seconds,
    )


def write_night(
    conn: Connection,
    cfg: BaoxueConfig,
    as_of: dt.date,
    night: ComputedNight,
    state: LedgerState,
    *,
    run_id: str,
    data_hash: str,
    started: dt.datetime,
    seconds: dict[str, float] | None = None,
    fault: str | None = None,
    on_stage: Callable[[str, float], None] | None = None,
) -> NightlyResult:
    """The write part of a night, inside the caller's write transaction: diff with the
    previous run, snapshot, cases, run record. ``seconds`` holds the stages timed before
    (lock, compute); the caller commits (or rolls back on any exception)."""
    from jobs.ledger import sync_staff, update_ledger

    stages = _Stages(_fault_from_env() if fault is None else fault, on_stage)
    stages.seconds = dict(seconds or {})
    for name, took in night.stage_seconds.items():
        stages.seconds[name] = round(stages.seconds.get(name, 0.0) + took, 3)
    snapshot = night.snapshot
    runs = Run.__table__

    stages.clock = time.perf_counter()  # the rest of 'diff' (its fault was checked before the catch-up)
    prev_snap = None if state.last_run_id is None else _snapshot_rows(conn, state.last_run_id)
    diff = compare_snapshots(snapshot, prev_snap, change_min=cfg.job.change_min)
    left_cohort = 0
    if prev_snap is not None and len(prev_snap):
        gone = ~prev_snap["student_id"].astype("str").isin(snapshot["student_id"].astype("str"))
        left_cohort = int((gone & prev_snap["listed"].astype(bool)).sum())
    stages.done("diff")

    stages.start("snapshot")
    stored = pd.concat([snapshot.reset_index(drop=True), diff.reset_index(drop=True)], axis=1)
    stored["run_id"] = run_id
    _write_snapshot(conn, stored)
    stages.done("snapshot")

    stages.start("cases")
    sync_staff(conn, night.staff, run_id)
    counts = update_ledger(
        conn,
        snapshot,
        night.staff,
        as_of=as_of,
        run_id=run_id,
        config=cfg.job,
        alerts=night.alerts,
        owner_roles=cfg.risk.owner_roles,
        streaks=night.streaks,
    )
    stages.done("cases")

    stages.start("record")
    tier = snapshot["tier"].astype("str")
    change = diff["change"]
    record = {
        "run_id": run_id,
        "as_of": as_of,
        "config_hash": run_key(cfg),
        "previous_run_id": state.last_run_id,
        "started_at": started.replace(microsecond=0),
        "model_version": str(snapshot["model_version"].iloc[0]) if len(snapshot) else night.model_version,
        "code_version": _code_version(),
        "data_hash": data_hash,
        "missed_days": len(night.missed),
        "n_rejects": night.n_rejects,
        "n_students": len(snapshot),
        "n_red": int((tier == "red").sum()),
        "n_yellow": int((tier == "yellow").sum()),
        "n_blue": int((tier == "blue").sum()),
        "n_listed": int(snapshot["listed"].astype(bool).sum()),
        "n_selected": int(snapshot["selected"].astype(bool).sum()),
        "n_rules": int((snapshot["rules"].fillna("") != "").sum()),
        "n_new": int((change == "new").sum()),
        "n_rising": int((change == "rising").sum()),
        "n_falling": int((change == "falling").sum()),
        "n_left": int((change == "left").sum()) + left_cohort,
        "n_rules_new": int((diff["rules_new"] != "").sum()),
        "n_cases_opened": counts.opened,
        "n_cases_updated": counts.updated,
        "n_cases_closed": counts.closed,
        "n_escalations": counts.escalations,
        "n_returned": counts.returned,
        "n_events": counts.events,
        "n_over_capacity": counts.over_capacity,
        "n_unowned": counts.unowned,
        "n_waiting": counts.waiting,
        "n_open_cases": counts.open_after,
    }
    stages.done("record")
    seconds_now = {**stages.seconds, "commit": 0.0}
    record.update(
        finished_at=dt.datetime.now().replace(microsecond=0),
        seconds=round(sum(seconds_now.values()), 3),
        stage_seconds=json.dumps(seconds_now),
    )
    conn.execute(sa.insert(runs), [record])
    stages.start("commit")
    return NightlyResult(
        run_id=run_id,
        as_of=as_of,
        status="done",
        stage_seconds=seconds_now,
        counts={k: v for k, v in record.items() if k.startswith("n_") or k == "missed_days"},
        model_version=record["model_version"],
    )


def night_run_id(cfg: BaoxueConfig, as_of: dt.date) -> str:
    """The run id of the night ``as_of`` under ``cfg``: the date and the first 8 digits of
    :func:`run_key` (the same in every county of a province)."""
    return f"{as_of:%Y%m%d}-{run_key(cfg)[:8]}"


def run_nightly(
    cfg: BaoxueConfig,
    as_of: dt.date,
    *,
    engine: Engine | None = None,
    source: str | Path | None = None,
    model=None,
    on_stage: Callable[[str, float], None] | None = None,
    fault: str | None = None,
) -> NightlyResult:
    """Run the nightly job for ``as_of`` (see the module docstring for what it guarantees).

    The whole night runs in this process inside one write transaction:
    :func:`read_ledger_state`, :func:`compute_night`, :func:`write_night`. A province runs
    the same parts county by county (:func:`jobs.province.run_province`).

    Parameters
    ----------
    cfg : BaoxueConfig
        The configuration; ``[job] db_url`` and ``model_uri`` unless given here.
    as_of : date
        The night's date; only the CLI decides what "today" is.
    engine : Engine, optional
        The ledger database (default: :func:`open_database` on ``cfg.job.db_url``).
    source : str or Path, optional
        Data folder or URL (default ``cfg.data.source``).
    model : str, Path, ModelBundle or ScoringModel, optional
        What :func:`risk.score.load_model` loads (default ``cfg.job.model_uri``).
    on_stage : callable, optional
        Called as ``on_stage(stage, seconds)`` after each stage (progress display).
    fault : str, optional
        Stop before this stage (fault injection; default ``BAOXUE_FAIL_AT``, '' = none).

    Returns
    -------
    NightlyResult
        ``status`` is ``"skipped"`` when the run for this date and configuration exists.

    Raises
    ------
    LockTimeout
        Another run held the lock longer than ``[job] lock_timeout_s``.
    InjectedFault
        ``BAOXUE_FAIL_AT`` named a stage.
    """
    env_fault = _fault_from_env()  # an unknown stage name is an error before anything runs
    fault = env_fault if fault is None else fault
    engine = engine or open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    source = cfg.data.source if source is None else source
    run_id = night_run_id(cfg, as_of)
    started = dt.datetime.now()
    clock = time.perf_counter()
    with write_transaction(engine, timeout_s=cfg.job.lock_timeout_s) as conn:
        lock_s = round(time.perf_counter() - clock, 3)
        state = read_ledger_state(conn, cfg, as_of, run_id)
        if state.run_exists:
            log.info("run for this date and configuration exists: nothing to do")
            return NightlyResult(run_id=run_id, as_of=as_of, status="skipped")
        night = compute_night(cfg, as_of, state, source=source, model=model, fault=fault, on_stage=on_stage)
        rejects_file = write_rejects_file(cfg, as_of, night)
        result = write_night(
            conn,
            cfg,
            as_of,
            night,
            state,
            run_id=run_id,
            data_hash=_data_hash(source),
            started=started,
            seconds={"lock": lock_s},
            fault=fault,
            on_stage=on_stage,
        )
    result.rejects_file = rejects_file
    log.info(
        "run committed: %d students, %d cases opened, %d open",
        result.counts["n_students"],
        result.counts["n_cases_opened"],
        result.counts["n_open_cases"],
    )
    return result


def write_rejects_file(cfg: BaoxueConfig, as_of: dt.date, night: ComputedNight) -> Path:
    """The night's rejects file, ``[job] out_dir/rejects_<as_of>.csv``."""
    from features.load import write_rejects

    return write_rejects(night.rejects, Path(cfg.job.out_dir) / f"rejects_{as_of}.csv")


def _code_version() -> str:
    from training.bundle import code_version

    return code_version()
