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


def _check_fault(stage: str) -> None:
    wanted = os.environ.get(FAIL_ENV, "").strip()
    if wanted and wanted not in STAGES:
        raise ValueError(f"{FAIL_ENV}={wanted!r} is not a stage; use one of {', '.join(STAGES)}")
    if wanted and wanted == stage:
        raise InjectedFault(f"{FAIL_ENV}={stage}: run stopped before stage {stage!r} (fault injection)")


def run_key(cfg: BaoxueConfig) -> str:
    """The hash of the configuration that changes a run's results (12 hex digits).

    Where the data, the database and the output files live is left out, so the same
    night run from another folder or with ``--db`` is the same run.

    >>> from features.config import JobConfig
    >>> run_key(BaoxueConfig()) == run_key(BaoxueConfig(job=JobConfig(db_url="sqlite:///x.db")))
    True
    """
    neutral = replace(
        cfg,
        data=replace(cfg.data, source="", rejects_file="", id_salt=""),
        job=replace(cfg.job, db_url="", out_dir="", lock_timeout_s=0.0),
    )
    blob = json.dumps(asdict(neutral), sort_keys=True, default=str).encode()
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


def run_nightly(
    cfg: BaoxueConfig,
    as_of: dt.date,
    *,
    engine: Engine | None = None,
    source: str | Path | None = None,
    model=None,
    on_stage: Callable[[str, float], None] | None = None,
) -> NightlyResult:
    """Run the nightly job for ``as_of`` (see the module docstring for what it guarantees).

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
    model : str, Path or ModelBundle, optional
        What :func:`risk.score.load_model` loads (default ``cfg.job.model_uri``).
    on_stage : callable, optional
        Called as ``on_stage(stage, seconds)`` after each stage (progress display).

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
    _check_fault("")  # an unknown stage name is an error before anything runs
    engine = engine or open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    source = cfg.data.source if source is None else source
    key = run_key(cfg)
    run_id = f"{as_of:%Y%m%d}-{key[:8]}"
    started = dt.datetime.now()
    seconds: dict[str, float] = {}
    runs = Run.__table__
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        _check_fault(name)
        log.info("stage %s", name)

    def done(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now
        log.info("stage %s done in %.1f s", name, seconds[name])
        if on_stage is not None:
            on_stage(name, seconds[name])

    with write_transaction(engine, timeout_s=cfg.job.lock_timeout_s) as conn:
        seconds["lock"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
            log.info("run for this date and configuration exists: nothing to do")
            return NightlyResult(run_id=run_id, as_of=as_of, status="skipped")
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

        stage("load")
        from features.load import load_tables, write_rejects

        loaded = load_tables(cfg.data, source)
        tables = loaded.tables
        rejects_file = write_rejects(loaded.rejects, Path(cfg.job.out_dir) / f"rejects_{as_of}.csv")
        done("load")

        stage("features")
        from features.build import build_features

        features = build_features(tables, as_of, cfg)
        done("features")

        stage("assess")
        from risk.assess import assess
        from risk.score import load_model

        scoring = load_model(
            model if model is not None else cfg.job.model_uri, tracking_uri=cfg.train.tracking_uri
        )
        previous = _previous_probabilities(conn, as_of, cfg.job.previous_days)
        snapshot = assess(tables, as_of, scoring, cfg, features=features, previous=previous)
        if "student_id" in snapshot.columns:
            snapshot = snapshot.reset_index(drop=True)
        else:  # indexed by student_id
            snapshot = snapshot.rename_axis("student_id").reset_index()
        snapshot = snapshot[list(SNAPSHOT_COLUMNS)]
        done("assess")

        stage("diff")
        prev_snap = None if last is None else _snapshot_rows(conn, last.run_id)
        diff = compare_snapshots(snapshot, prev_snap, change_min=cfg.job.change_min)
        alerts = None
        missed: list[dt.date] = []
        if last is not None:
            school_days = set(pd.DatetimeIndex(tables.attendance["date"].unique()).date)
            gap = [last.as_of + dt.timedelta(days=k) for k in range(1, (as_of - last.as_of).days)]
            missed = (
                [d for d in gap if d in school_days][-cfg.job.catch_up_days :]
                if cfg.job.catch_up_days
                else []
            )
            if missed:
                alerts = missed_rule_alerts(tables, missed, cfg)
                log.info("caught up %d missed school days: %d rule alerts", len(missed), len(alerts))
        left_cohort = 0
        if prev_snap is not None and len(prev_snap):
            gone = ~prev_snap["student_id"].astype("str").isin(snapshot["student_id"].astype("str"))
            left_cohort = int((gone & prev_snap["listed"].astype(bool)).sum())
        done("diff")

        stage("snapshot")
        stored = pd.concat([snapshot.reset_index(drop=True), diff.reset_index(drop=True)], axis=1)
        stored["run_id"] = run_id
        _write_snapshot(conn, stored)
        done("snapshot")

        stage("cases")
        from jobs.ledger import sync_staff, update_ledger

        sync_staff(conn, tables.staff, run_id)
        counts = update_ledger(
            conn,
            snapshot,
            tables.staff,
            as_of=as_of,
            run_id=run_id,
            config=cfg.job,
            attendance=tables.attendance,
            alerts=alerts,
            owner_roles=cfg.risk.owner_roles,
        )
        done("cases")

        stage("record")
        tier = snapshot["tier"].astype("str")
        change = diff["change"]
        record = {
            "run_id": run_id,
            "as_of": as_of,
            "config_hash": key,
            "previous_run_id": None if last is None else last.run_id,
            "started_at": started.replace(microsecond=0),
            "model_version": str(snapshot["model_version"].iloc[0]) if len(snapshot) else scoring.version,
            "code_version": _code_version(),
            "data_hash": _data_hash(source),
            "missed_days": len(missed),
            "n_rejects": int(loaded.rejects.drop_duplicates(["table", "file_row"]).shape[0]),
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
        done("record")
        seconds["commit"] = 0.0
        total = round(sum(seconds.values()), 3)
        record.update(
            finished_at=dt.datetime.now().replace(microsecond=0),
            seconds=total,
            stage_seconds=json.dumps(seconds),
        )
        conn.execute(sa.insert(runs), [record])
        stage("commit")
    log.info(
        "run committed: %d students, %d cases opened, %d open",
        len(snapshot),
        counts.opened,
        counts.open_after,
    )
    return NightlyResult(
        run_id=run_id,
        as_of=as_of,
        status="done",
        stage_seconds=seconds,
        counts={k: v for k, v in record.items() if k.startswith("n_") or k == "missed_days"},
        rejects_file=rejects_file,
        model_version=record["model_version"],
    )


def _code_version() -> str:
    from training.bundle import code_version

    return code_version()
