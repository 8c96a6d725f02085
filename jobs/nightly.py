"""The nightly run: tonight's data -> risk snapshot -> case ledger, in one transaction.

Stages (:data:`jobs.stages.STAGES`), in order::

    load -> features -> assess -> diff -> snapshot -> cases -> record -> commit

``load`` reads and validates the county's tables (rejects file written to ``[job] out_dir``);
``features`` builds the feature matrix of ``as_of``; ``assess`` scores, explains, fires the
rules, sets tiers and ranks under capacity (:func:`risk.assess.assess`, with the stored
probabilities of about ``[job] previous_days`` earlier as ``previous``); ``diff`` compares with
the previous run (new on the list, rising, falling, left, rules newly fired:
:func:`risk.changes.compare_snapshots`) and replays the rules of the school days missed since
the last run (by the school calendar: :func:`risk.changes.missed_school_days`,
:func:`~risk.changes.missed_rule_alerts`); ``snapshot`` stores one immutable row per student;
``cases`` syncs staff and opens, updates, returns, escalates and closes cases (the policy in
:mod:`risk.cases`, written by :mod:`jobs.ledger`); ``record`` writes the run; ``commit`` ends
the transaction.

The night is two parts, reused by every engine: :func:`compute_night` (load -> assess, the
rules of missed nights and the return streaks; it reads the data and a small
:class:`LedgerState`, never the database) and :func:`write_night` (diff -> record, inside the
caller's write transaction). :func:`run_nightly` runs both in this process under one lock;
:func:`jobs.province.run_province` runs the first part of each county as a Dask task and the
second on the driver, one transaction per county.

Guarantees:

- **Atomic.** The run takes the database lock (:func:`jobs.storage.write_transaction`)
  before its first stage and every write is in that one transaction: an error, a kill or
  ``BAOXUE_FAIL_AT=<stage>`` (fault injection, :mod:`jobs.stages`: the run stops just before
  that stage) leaves the database exactly as it was.
- **Idempotent, by content.** A night is ``as_of`` and the hash of the configuration that
  changes results (:func:`run_key`); a run of it is keyed by its inputs' content
  (:func:`input_key`: the model file's bytes, the data files' bytes, the configuration and the
  date; never a path string). When the night's current version has the same key the job does
  nothing; when its inputs changed (a corrected export, a retrained model at the same path) it
  refuses and says what changed, and ``replace=True`` (``nightly --replace``) appends a
  version that supersedes it: reads see the latest version only
  (:func:`jobs.storage.current_run`), the rules of the night and of the school days it
  missed are fired again (lost alerts open), and no event is deleted.
- **Fresh and complete input.** Before anything is computed, an export that is empty, stale
  or thin (:mod:`jobs.freshness`) stops the night with
  :class:`~jobs.freshness.StaleInputError` (exit 4) unless ``accept_stale`` (recorded in
  ``runs.stale_override``); a night after the data's last day plus one is refused unless
  ``force_date``.
- **One writer.** A second run waits up to ``[job] lock_timeout_s`` for the lock, then
  stops with :class:`~jobs.storage.LockTimeout`; if the first one finished meanwhile,
  the second sees its run and does nothing.
- **No lost alerts.** Missed nights are caught up: the rules of every school day since the
  previous run (up to ``[job] catch_up_days``) open cases dated the day they fired.

Stages are checked, timed and logged by :class:`jobs.stages.Stages`. Logs carry stage names,
counts and timings, never names or IDs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.config import BaoxueConfig
from jobs.freshness import StaleInputError, check_as_of, check_inputs, override_record
from jobs.guard import guarded_night
from jobs.stages import Stages, current_fault
from jobs.storage import (
    DIFF_COLUMNS,
    Case,
    LockTimeout,
    RiskSnapshot,
    Run,
    connect,
    current_revision,
    current_run,
    head_revision,
    upgrade,
    write_transaction,
)
from risk.cases import OPEN_STATUSES
from risk.changes import compare_snapshots, missed_rule_alerts, missed_school_days
from risk.snapshot import SNAPSHOT_COLUMNS

__all__ = [
    "NightlyResult",
    "LedgerState",
    "ComputedNight",
    "read_ledger_state",
    "compute_night",
    "write_night",
    "write_rejects_file",
    "night_run_id",
    "run_key",
    "data_hash",
    "model_hash",
    "input_key",
    "scoring_model",
    "open_database",
    "night_store",
    "run_nightly",
    "LockTimeout",
]

log = logging.getLogger(__name__)


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
    supersedes_run_id: str | None = None  # the version a --replace superseded
    stale_override: str | None = None  # what --accept-stale let through (JSON)
    store_lines: tuple[str, ...] = ()  # what the validated store did (features.store)


def run_key(cfg: BaoxueConfig) -> str:
    """The hash of the configuration that changes a run's results (12 hex digits).

    Where the data, the database, the model and the output files live is left out, so the same
    night run from another folder, with ``--db`` or with another spelling of the model's path is
    the same night (which model and data it read is :func:`input_key`'s part); so is
    ``[compute]`` (and ``[web]``) (a county scores the same on any engine), and so are the input
    checks (``[data] max_staleness_days``, ``min_rows_share``: they stop a night, never change it).

    >>> from features.config import JobConfig
    >>> run_key(BaoxueConfig()) == run_key(BaoxueConfig(job=JobConfig(db_url="sqlite:///x.db")))
    True
    """
    neutral = replace(
        cfg,
        data=replace(cfg.data, source="", rejects_file="", id_salt=""),
        job=replace(
            cfg.job, db_url="", out_dir="", lock_timeout_s=0.0, model_uri="", store=True, store_dir=""
        ),
    )
    fields = asdict(neutral)
    for name in ("max_staleness_days", "min_rows_share"):
        fields["data"].pop(name, None)
    fields.pop("compute", None)
    fields.pop("web", None)  # the web app's settings change no result
    fields.pop("reports", None)  # nor do the reports' periods
    fields["train"].pop("promote_tolerance", None)  # who is champion, not how a night scores
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _file_sha256(path: Path, h=None):
    h = h or hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h


def data_hash(source: str | Path) -> str:
    """The run record's ``data_hash`` of a data folder, file or URL (12 hex digits): the SHA-256
    of the files' names and bytes (a folder's top-level files; dotfiles and the rejects files
    the job writes are left out), so a copy, a touch or another path to the same export gives the
    same hash and a corrected export another one. A database URL is hashed as its text: its
    content is not read here."""
    p = Path(str(source))
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.iterdir()):
            if f.is_file() and not f.name.startswith(".") and not f.name.startswith("rejects"):
                h.update(f"{f.name}\0".encode())
                _file_sha256(f, h)
                h.update(b"\0")
    elif p.is_file():
        _file_sha256(p, h)
    else:
        h.update(str(source).encode())
    return h.hexdigest()[:12]


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # not a path at all (too long, bad characters)
        return False


def model_hash(model) -> str:
    """The content hash of the model a night scores with (16 hex digits): the SHA-256 of the
    bundle file's bytes (whatever path names it), of the registered version's label for an
    MLflow model (``name vN``), or of the pickled bundle for one in memory."""
    import pickle

    from risk.score import ScoringModel

    if model is None or model == "":
        raise ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config")
    if isinstance(model, ScoringModel):
        if _is_file(model.source):
            return _file_sha256(Path(model.source)).hexdigest()[:16]
        if model.source.startswith(("models:/", "runs:/")):
            return hashlib.sha256(model.version.encode()).hexdigest()[:16]
        model = model.bundle
    if isinstance(model, str | Path):
        if _is_file(str(model)):
            return _file_sha256(Path(model)).hexdigest()[:16]
        return hashlib.sha256(str(model).encode()).hexdigest()[:16]
    return hashlib.sha256(pickle.dumps(model, protocol=5)).hexdigest()[:16]


def input_key(cfg: BaoxueConfig, as_of: dt.date, *, data: str, model: str) -> str:
    """The content key of a run (``runs.input_key``, 64 hex digits): the model's and the data's
    content hashes (:func:`model_hash`, :func:`data_hash`), :func:`run_key` and the date."""
    return hashlib.sha256(f"{model}|{data}|{run_key(cfg)}|{as_of:%Y-%m-%d}".encode()).hexdigest()


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
        .where(runs.c.as_of <= target, runs.c.as_of > target - dt.timedelta(days=days), current_run())
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    frame = _snapshot_rows(conn, row[0], ("student_id", "probability"))
    return frame.set_index("student_id")["probability"].astype("float64")


def _prior_tiers(conn: Connection, as_of: dt.date, days: int) -> pd.DataFrame | None:
    """Tier and tier condition of the stored run closest to ``as_of - days`` (not after it,
    not older than twice that): the ``prior`` argument of :func:`risk.assess.assess` (stable
    lists, ``[risk] exit_margin``)."""
    runs = Run.__table__
    target = as_of - dt.timedelta(days=days)
    row = conn.execute(
        sa.select(runs.c.run_id)
        .where(runs.c.as_of <= target, runs.c.as_of > target - dt.timedelta(days=days), current_run())
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return _snapshot_rows(conn, row[0], ("student_id", "tier", "tier_condition")).set_index("student_id")


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
    prior: pd.DataFrame | None = None  # tiers of about [job] prior_days earlier (stable lists)
    run_id: str | None = None  # the id this night writes (free: a redo or a rerun after a void)
    input_key: str | None = None  # :func:`input_key` of tonight's inputs
    supersedes_run_id: str | None = None  # the version a redo replaces
    store_generation: str | None = None  # the validated store of the last completed run


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
    stale: list = field(default_factory=list)  # jobs.freshness findings let through by accept_stale
    store_generation: str | None = None  # the validated store's manifest the load wrote
    store_lines: tuple[str, ...] = ()  # what the store did (features.store.StoreNight.lines)


def read_ledger_state(
    conn: Connection,
    cfg: BaoxueConfig,
    as_of: dt.date,
    run_id: str,
    *,
    key: str | None = None,
    data: str | None = None,
    replace: bool = False,
) -> LedgerState:
    """The ledger as the night for ``as_of`` finds it (see :class:`LedgerState`).

    Only current versions count (:func:`jobs.storage.current_run`): a failed, void or
    superseded run is never "the previous run" nor "a later run". ``key`` is tonight's
    :func:`input_key` (``data`` its :func:`data_hash`, to say what changed); without it a night
    whose current version exists is done. With it:

    - the night's current version has the same key: done (``run_exists``);
    - its key differs: ``ValueError`` naming what changed, unless ``replace``: then tonight
      supersedes it, and the previous run and the missed days are those of the night before;
    - ``run_id`` (the id tonight writes) is ``run_id``, or ``run_id-v2``, ``-v3`` … when a
      version, failed or void run holds it.

    Raises ``ValueError`` when a later night exists (runs go forward in time).
    """
    runs = Run.__table__
    night = runs.c.config_hash == run_key(cfg)
    current = conn.execute(
        sa.select(runs.c.run_id, runs.c.input_key, runs.c.data_hash, runs.c.model_version)
        .where(runs.c.as_of == as_of, night, current_run())
        .order_by(runs.c.finished_at.desc())
        .limit(1)
    ).first()
    supersedes = None
    if current is not None:
        if key is None or current.input_key in (None, key):
            return LedgerState(run_exists=True, run_id=current.run_id)
        if not replace:
            what = (
                "the data changed" if data is not None and current.data_hash != data else "the model changed"
            )
            raise ValueError(
                f"the night {as_of} ran already (run {current.run_id}) with other inputs: {what}. "
                f"`baoxue nightly --replace --as-of {as_of}` supersedes it with tonight's inputs"
            )
        supersedes = current.run_id
    last = conn.execute(
        sa.select(runs.c.run_id, runs.c.as_of)
        .where(current_run(), *([runs.c.as_of < as_of] if supersedes else []))
        .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc())
        .limit(1)
    ).first()
    later = conn.execute(
        sa.select(runs.c.run_id, runs.c.as_of).where(current_run(), runs.c.as_of > as_of).limit(1)
    ).first()
    if later is not None:
        raise ValueError(
            f"a run for a later date ({later.as_of}, run {later.run_id}) exists; runs go forward in time "
            f"({'redoing' if supersedes else 're-running'} {as_of} would rewrite the ledger's history). "
            f"A mistaken later night is made harmless by `baoxue runs void {later.run_id} --reason TEXT`"
        )
    taken = set(conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id.like(f"{run_id}%"))).scalars())
    free, n = run_id, 1
    while free in taken:
        n += 1
        free = f"{run_id}-v{n}"
    cases = Case.__table__
    open_sus = conn.execute(
        sa.select(cases.c.student_id)
        .where(cases.c.case_type == "suspected_dropout", cases.c.status.in_(OPEN_STATUSES))
        .order_by(cases.c.student_id)
    ).scalars()
    done = conn.execute(
        sa.select(runs.c.store_generation)
        .where(runs.c.status == "ok", runs.c.store_generation.is_not(None))
        .order_by(runs.c.finished_at.desc())
        .limit(1)
    ).first()
    return LedgerState(
        store_generation=None if done is None else done[0],
        run_exists=False,
        last_run_id=None if last is None else last.run_id,
        last_as_of=None if last is None else last.as_of,
        previous=_previous_probabilities(conn, as_of, cfg.job.previous_days),
        open_suspected=tuple(str(s) for s in open_sus),
        prior=_prior_tiers(conn, as_of, cfg.job.prior_days),
        run_id=free,
        input_key=key,
        supersedes_run_id=supersedes,
    )


def scoring_model(model, cfg: BaoxueConfig):
    """``model`` as a :class:`~risk.score.ScoringModel`: one already, or what
    :func:`~risk.score.load_model` loads from it (default ``[job] model_uri``)."""
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
    on_stage: Callable[[str, float], None] | None = None,
    accept_stale: bool = False,
    force_date: bool = False,
    store=None,
    full: bool = False,
) -> ComputedNight:
    """The compute part of a night: load and validate, features, assess; then the rules of the
    school days missed since ``state.last_as_of`` and the return streaks.

    With ``store`` (a :class:`features.store.ValidatedStore`) the load goes through it from
    ``state.store_generation`` (only new or changed rows are validated; the result is a full
    load's); ``full`` validates every row again and rebuilds the store (``nightly --full``).

    Reads only the data and ``state`` (no database), so it runs where the data is: in this
    process (:func:`run_nightly`) or in a Dask worker (:mod:`jobs.province`). ``model`` is a
    :class:`~risk.score.ScoringModel` or what :func:`~risk.score.load_model` loads (default
    ``[job] model_uri``); ``on_stage(stage, seconds)`` is called after each stage. An injected
    fault (:func:`jobs.stages.current_fault`) stops it before its stage.

    After loading, the input is checked (:mod:`jobs.freshness`): a night after the data's last
    day plus one raises ``ValueError`` unless ``force_date``; an empty, stale or thin export
    raises :class:`~jobs.freshness.StaleInputError` unless ``accept_stale`` (the findings are
    then kept in ``stale`` for the run record).
    """
    from features.build import build_features
    from features.load import load_tables
    from risk.assess import assess
    from risk.assign import present_streaks

    stages = Stages(on_stage)
    source = cfg.data.source if source is None else source

    stages.start("load")
    # a reject-share stop writes the night's rejects file before it raises, and names it
    rejects_path = Path(cfg.job.out_dir) / f"rejects_{as_of}.csv"
    generation, store_lines = None, ()
    if store is not None:
        from features.store import load_with_store

        loaded, stored = load_with_store(
            cfg.data, source, store, base=state.store_generation, rejects_path=rejects_path, full=full
        )
        generation, store_lines = stored.generation, stored.lines
    else:
        loaded = load_tables(cfg.data, source, rejects_path=rejects_path)
    for line in loaded.report():
        log.info("load: %s", line)
    tables = loaded.tables
    if not force_date:
        check_as_of(tables, as_of)
    stale = check_inputs(
        tables, as_of, max_staleness_days=cfg.data.max_staleness_days, min_rows_share=cfg.data.min_rows_share
    )
    if stale and not accept_stale:
        raise StaleInputError(stale, as_of)
    for finding in stale:
        log.warning("accepted stale input: %s", finding.message())
    stages.done("load")

    stages.start("features")
    features = build_features(tables, as_of, cfg)
    stages.done("features")

    stages.start("assess")
    scoring = scoring_model(model, cfg)
    snapshot = assess(
        tables, as_of, scoring, cfg, features=features, previous=state.previous, prior=state.prior
    )
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
        schools = snapshot["school_id"].astype("str").unique()
        missed = missed_school_days(
            tables.calendar, schools, state.last_as_of, as_of, catch_up_days=cfg.job.catch_up_days
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
        stale=stale,
        store_generation=generation,
        store_lines=store_lines,
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
    on_stage: Callable[[str, float], None] | None = None,
) -> NightlyResult:
    """The write part of a night, inside the caller's write transaction: diff with the
    previous run, snapshot, cases, run record. ``seconds`` holds the stages timed before
    (lock, compute); the caller commits (or rolls back on any exception)."""
    from jobs.ledger import sync_staff, update_ledger

    stages = Stages(on_stage, seconds=seconds)
    stages.add(night.stage_seconds)
    snapshot = night.snapshot
    runs = Run.__table__
    run_id = state.run_id or run_id  # a redo, or a rerun after a void, writes a free id

    stages.restart()  # the rest of 'diff' (its fault was checked before the catch-up)
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
        "salt_fingerprint": _salt_fingerprint(cfg),
        "status": "ok",
        "supersedes_run_id": state.supersedes_run_id,
        "stale_override": override_record(night.stale),
        "input_key": state.input_key,
        "store_generation": night.store_generation,
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
        supersedes_run_id=state.supersedes_run_id,
        stale_override=record["stale_override"],
        store_lines=night.store_lines,
    )


def night_run_id(cfg: BaoxueConfig, as_of: dt.date) -> str:
    """The run id of the night ``as_of`` under ``cfg``: the date and the first 8 digits of
    :func:`run_key` (the same in every county of a province)."""
    return f"{as_of:%Y%m%d}-{run_key(cfg)[:8]}"


@guarded_night  # checks the database, model and salt first; records a failed night (jobs.guard)
def run_nightly(
    cfg: BaoxueConfig,
    as_of: dt.date,
    *,
    engine: Engine | None = None,
    source: str | Path | None = None,
    model=None,
    on_stage: Callable[[str, float], None] | None = None,
    replace: bool = False,
    accept_stale: bool = False,
    force_date: bool = False,
    full: bool = False,
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
    replace : bool
        Supersede the night's current version when tonight's inputs differ (``--replace``).
    accept_stale : bool
        Run on an empty, stale or thin export, recorded in ``runs.stale_override``.
    force_date : bool
        Run a night after the data's last day plus one.
    full : bool
        Validate every source row again and rebuild the validated store (``nightly --full``);
        otherwise the load goes through the store (:func:`night_store`) and validates only
        new or changed rows, with the same result.

    Returns
    -------
    NightlyResult
        ``status`` is ``"skipped"`` when the night's current version has the same inputs.

    Raises
    ------
    ValueError
        A later night exists; the night ran with other inputs and ``replace`` is false; the
        date is after the data's last day plus one.
    jobs.freshness.StaleInputError
        The export is empty, stale or thin (:mod:`jobs.freshness`).

    LockTimeout
        Another run held the lock longer than ``[job] lock_timeout_s``.
    jobs.stages.InjectedFault
        A fault was injected (``BAOXUE_FAIL_AT``, :func:`jobs.stages.inject_fault`).
    """
    current_fault()  # an unknown stage name is an error before anything runs
    engine = engine or open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    source = cfg.data.source if source is None else source
    run_id = night_run_id(cfg, as_of)
    model = model if model is not None else cfg.job.model_uri
    if isinstance(model, str) and model.startswith(("models:/", "runs:/")):
        model = scoring_model(model, cfg)  # an alias may move: the version it names is the content
    data = data_hash(source)
    key = input_key(cfg, as_of, data=data, model=model_hash(model))
    started = dt.datetime.now()
    clock = time.perf_counter()
    store = night_store(cfg, engine)
    with write_transaction(engine, timeout_s=cfg.job.lock_timeout_s) as conn:
        lock_s = round(time.perf_counter() - clock, 3)
        state = read_ledger_state(conn, cfg, as_of, run_id, key=key, data=data, replace=replace)
        if state.run_exists:
            log.info("the night's current version has the same inputs: nothing to do")
            return NightlyResult(run_id=state.run_id or run_id, as_of=as_of, status="skipped")
        night = compute_night(
            cfg,
            as_of,
            state,
            source=source,
            model=model,
            on_stage=on_stage,
            accept_stale=accept_stale,
            force_date=force_date,
            store=store,
            full=full,
        )
        rejects_file = write_rejects_file(cfg, as_of, night)
        result = write_night(
            conn,
            cfg,
            as_of,
            night,
            state,
            run_id=run_id,
            data_hash=data,
            started=started,
            seconds={"lock": lock_s},
            on_stage=on_stage,
        )
        if store is not None:  # under the lock; the next night starts from the committed run's
            store.publish(night.store_generation, keep=(state.store_generation,))
    result.rejects_file = rejects_file
    log.info(
        "run committed: %d students, %d cases opened, %d open",
        result.counts["n_students"],
        result.counts["n_cases_opened"],
        result.counts["n_open_cases"],
    )
    return result


def night_store(cfg: BaoxueConfig, engine: Engine | None = None):
    """The validated store of the ledger ``engine`` (default ``[job] db_url``), or None when
    ``[job] store`` is off or the ledger is an in-memory database: ``[job] store_dir``, else
    ``<ledger file>.store/`` next to a SQLite ledger, else ``[job] out_dir/store``.

    >>> from features.config import JobConfig
    >>> on = BaoxueConfig(job=JobConfig(store=True))
    >>> night_store(on, sa.create_engine("sqlite:////srv/county/ledger.db")).root
    PosixPath('/srv/county/ledger.db.store')
    >>> night_store(BaoxueConfig()) is None  # off by default
    True
    """
    from features.store import ValidatedStore

    if not cfg.job.store:
        return None
    if cfg.job.store_dir:
        return ValidatedStore(cfg.job.store_dir)
    url = engine.url if engine is not None else sa.engine.make_url(cfg.job.db_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
            return None
        path = Path(url.database)
        return ValidatedStore(path.with_name(f"{path.name}.store"))
    return ValidatedStore(Path(cfg.job.out_dir) / "store")


def write_rejects_file(cfg: BaoxueConfig, as_of: dt.date, night: ComputedNight) -> Path:
    """The night's rejects file, ``[job] out_dir/rejects_<as_of>.csv``."""
    from features.load import write_rejects

    return write_rejects(night.rejects, Path(cfg.job.out_dir) / f"rejects_{as_of}.csv")


def _salt_fingerprint(cfg: BaoxueConfig) -> str | None:
    from features.identity import salt_fingerprint, salt_from_config

    return salt_fingerprint(salt_from_config(cfg.data))


def _code_version() -> str:
    from training.bundle import code_version

    return code_version()
