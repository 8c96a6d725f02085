"""A province's nightly run: every county's night, on this process or as Dask tasks.

A province folder holds one ``county=<code>/`` partition per county
(:func:`features.province.county_partitions`). Each county keeps **its own ledger**: the
database ``[job] db_url`` with the county code put in (:func:`county_db_url`), its own run,
snapshot, cases and staff. The county is the unit that owns a ledger (台账) in 控辍保学, and
the ledger code is written for one county (staff sync, open cases, one run per night).

Engines (``[compute] engine``):

- ``local``: county after county in this process, each one :func:`jobs.nightly.run_nightly`.
- ``dask``: the compute part of each county (:func:`jobs.nightly.compute_night`: load and
  validate, features, scoring, explanations, rules, tiers, ranking, missed-night rules) is
  one Dask task (``client.submit`` per county) on a worker that reads its own partition;
  only the county's snapshot, staff list, rejects and a few counts come back. The driver is
  the single writer: as each county's result arrives it writes it
  (:func:`jobs.nightly.write_night`) in one transaction on that county's ledger.

Ranking, capacity and the tiers are per school or per county (the red tier is a rule or an
absolute risk threshold, never a share of the province), so the counties never need each other.

Guarantees:

- **Per county, all or nothing.** A county whose task raises or whose worker dies is
  recorded ``failed`` and its ledger is untouched; the others commit. A worker that dies
  is retried by Dask (``distributed.scheduler.allowed-failures``) before the county fails.
- **Idempotent per county.** A county whose run exists is ``skipped`` without computing.
- **Resume.** The province record ``[job] out_dir/province_<run_id>.json`` lists every
  county's status; ``resume=True`` (``baoxue nightly --resume``) reruns only the counties
  not ``done`` or ``skipped`` in it.

Fault injection (:mod:`jobs.stages`): ``BAOXUE_FAIL_AT=<stage>`` stops every county before
that stage; ``BAOXUE_FAIL_COUNTY=<code>[:how][,<code>[:how]...]`` restricts it to those
counties (stage ``features`` when ``BAOXUE_FAIL_AT`` is unset, :func:`jobs.stages.county_faults`);
``how`` is ``raise`` (default), ``exit`` (the worker process dies at that point, every attempt)
or ``exit_once`` (it dies on the first attempt only). The exits need the dask engine (the local
engine raises instead) and a compute stage (load, features, assess, diff).

A worker runs one county at a time: the clusters started here set
``distributed.scheduler.worker-saturation`` to 1.0, so that a worker that dies takes no other
county's task with it (set the same on an external scheduler).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

from features.config import BaoxueConfig, ComputeConfig
from features.errors import ConfigError
from features.province import PARTITION_KEY, county_partitions
from jobs.nightly import (
    ComputedNight,
    LedgerState,
    NightlyResult,
    compute_night,
    data_hash,
    input_key,
    model_hash,
    night_run_id,
    open_database,
    read_ledger_state,
    run_key,
    run_nightly,
    scoring_model,
    write_night,
    write_rejects_file,
)
from jobs.stages import Fault, county_faults, fault_from_env, inject_fault
from jobs.storage import write_transaction

__all__ = [
    "CountyOutcome",
    "ProvinceResult",
    "county_db_url",
    "county_config",
    "record_path",
    "read_record",
    "run_province",
]

log = logging.getLogger(__name__)


@dataclass
class CountyOutcome:
    """What the night did in one county."""

    status: str  # done / skipped (its run exists) / failed
    run_id: str
    error: str = ""  # the exception's type and message (no names, no ids beyond student_id hashes)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rejects_file: str = ""


@dataclass
class ProvinceResult:
    """What a province night did: one :class:`CountyOutcome` per county of the record."""

    as_of: dt.date
    run_id: str
    engine: str
    counties: dict[str, CountyOutcome]
    record_file: Path
    seconds: float = 0.0
    computed: tuple[str, ...] = ()  # the counties this call ran (a resume: the failed ones)

    @property
    def failed(self) -> list[str]:
        return [c for c, o in self.counties.items() if o.status == "failed"]


def county_db_url(url: str, code: str) -> str:
    """The ledger URL of county ``code``: ``{county}`` in ``url`` replaced by the code, or for a
    SQLite file ``NAME.db`` -> ``NAME_<code>.db`` next to it.

    >>> county_db_url("sqlite:///out/baoxue.db", "990101")
    'sqlite:///out/baoxue_990101.db'
    >>> county_db_url("postgresql+psycopg://h/baoxue_{county}", "990101")
    'postgresql+psycopg://h/baoxue_990101'
    """
    if "{county}" in url:
        return url.replace("{county}", code)
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        p = Path(u.database)
        return u.set(database=str(p.with_name(f"{p.stem}_{code}{p.suffix}"))).render_as_string(
            hide_password=False
        )
    raise ConfigError(
        "[job] db_url: a province keeps one ledger per county; put {county} in the URL "
        f"(a database or schema name per county), got {u.render_as_string(hide_password=True)}"
    )


def county_config(cfg: BaoxueConfig, code: str, folder: str | Path) -> BaoxueConfig:
    """``cfg`` for county ``code``: its partition, its ledger, ``out_dir/county=<code>``.

    The run key is the province's (:func:`jobs.nightly.run_key` leaves these out).
    """
    return replace(
        cfg,
        data=replace(cfg.data, source=str(folder)),
        job=replace(
            cfg.job,
            db_url=county_db_url(cfg.job.db_url, code),
            out_dir=str(Path(cfg.job.out_dir) / f"{PARTITION_KEY}={code}"),
        ),
    )


def record_path(cfg: BaoxueConfig, as_of: dt.date) -> Path:
    """The province record of the night ``as_of``: ``[job] out_dir/province_<run_id>.json``."""
    return Path(cfg.job.out_dir) / f"province_{night_run_id(cfg, as_of)}.json"


def read_record(path: str | Path) -> dict | None:
    """A province record (``None`` when there is none)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _compute_task(
    cfg: BaoxueConfig, as_of: dt.date, state: LedgerState, model, fault: Fault
) -> ComputedNight:
    """One county's compute part, in a Dask worker, with the county's own injected fault."""
    with inject_fault(fault):
        return compute_night(cfg, as_of, state, model=model)


def _write_county(
    cfg: BaoxueConfig,
    as_of: dt.date,
    night: ComputedNight,
    state: LedgerState,
    *,
    run_id: str,
    started: dt.datetime,
    fault: Fault,
) -> NightlyResult:
    """Write one county's computed night in one transaction on its ledger (driver side; the
    county's fault only ever raises here)."""
    from jobs.guard import check_salt_matches, check_writable

    engine = open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    try:
        check_writable(engine)  # a read-only ledger or another salt: the county fails, its ledger unchanged
        check_salt_matches(engine, cfg)
        rejects_file = write_rejects_file(cfg, as_of, night)
        clock = time.perf_counter()
        with write_transaction(engine, timeout_s=cfg.job.lock_timeout_s) as conn:
            lock_s = round(time.perf_counter() - clock, 3)
            data = data_hash(cfg.data.source)
            now = read_ledger_state(conn, cfg, as_of, run_id, key=state.input_key, data=data)
            if now.run_exists:
                return NightlyResult(run_id=run_id, as_of=as_of, status="skipped")
            if now.last_run_id != state.last_run_id:
                raise RuntimeError(
                    "the ledger got another run while this county was computed; run the night again"
                )
            with inject_fault(Fault(fault.stage)):
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
                )
        result.rejects_file = rejects_file
        return result
    finally:
        engine.dispose()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _outcome(result: NightlyResult) -> CountyOutcome:
    return CountyOutcome(
        status=result.status,
        run_id=result.run_id,
        stage_seconds=result.stage_seconds,
        counts=result.counts,
        rejects_file="" if result.rejects_file is None else str(result.rejects_file),
    )


def _client(compute: ComputeConfig):
    """A Dask client for ``[compute]`` and the cluster it started (``None``: an address)."""
    import dask
    from distributed import Client, LocalCluster

    if compute.scheduler == "local-cluster":
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(
                n_workers=compute.n_workers,
                threads_per_worker=compute.threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
        return Client(cluster), cluster
    return Client(compute.scheduler), None


def run_province(
    cfg: BaoxueConfig,
    as_of: dt.date,
    *,
    source: str | Path | None = None,
    model=None,
    resume: bool = False,
    client=None,
    on_county: Callable[[str, CountyOutcome], None] | None = None,
) -> ProvinceResult:
    """Run the night ``as_of`` in every county of a province folder (see the module docstring).

    Parameters
    ----------
    cfg : BaoxueConfig
        ``[compute]`` picks the engine; ``[job] db_url`` is the ledgers' URL pattern
        (:func:`county_db_url`) and ``out_dir`` gets the province record and one
        ``county=<code>/`` folder of rejects per county.
    as_of : date
        The night.
    source : str or Path, optional
        The province folder (default ``[data] source``).
    model : optional
        What :func:`risk.score.load_model` loads (default ``[job] model_uri``); loaded once.
    resume : bool
        Rerun only the counties the night's record does not list as done or skipped.
    client : distributed.Client, optional
        A client to use with the dask engine (default: one from ``[compute]``, closed after).
    on_county : callable, optional
        Called as ``on_county(code, outcome)`` as each county finishes (progress display).

    Raises
    ------
    ValueError
        ``source`` is not a province folder, or ``resume`` without a record of that night.
    """
    stage_fault = fault_from_env()
    source = cfg.data.source if source is None else source
    parts = county_partitions(source)
    if not parts:
        raise ValueError(f"{source} is not a province folder (no {PARTITION_KEY}=<code>/ partitions)")
    run_id = night_run_id(cfg, as_of)
    record_file = record_path(cfg, as_of)
    before = read_record(record_file)
    todo = list(parts)
    if resume:
        if before is None:
            raise ValueError(
                f"no province record {record_file} of the night {as_of}: run it without --resume first"
            )
        kept = {c: o.get("status") for c, o in before.get("counties", {}).items()}
        todo = [c for c in parts if kept.get(c) not in ("done", "skipped")]
    faults = county_faults(todo, stage_fault)
    started = dt.datetime.now()
    clock = time.perf_counter()
    configs = {c: county_config(cfg, c, parts[c]) for c in todo}
    outcomes: dict[str, CountyOutcome] = {}

    def finish(code: str, outcome: CountyOutcome) -> None:
        outcomes[code] = outcome
        log.info("county %d/%d %s", len(outcomes), len(todo), outcome.status)
        if on_county is not None:
            on_county(code, outcome)

    scoring = scoring_model(model, cfg) if todo else None
    if cfg.compute.engine == "local" or not todo:
        for code in todo:
            try:
                with inject_fault(Fault(faults[code].stage)):  # the local engine raises instead of exiting
                    result = run_nightly(configs[code], as_of, source=parts[code], model=scoring)
            except Exception as exc:  # one county's failure never stops the others
                finish(code, CountyOutcome(status="failed", run_id=run_id, error=_error(exc)))
            else:
                finish(code, _outcome(result))
    else:
        _run_dask(cfg, as_of, todo, configs, faults, scoring, run_id, started, client, finish)
    record = _write_record(cfg, as_of, run_id, record_file, before, outcomes, started, clock, resume)
    counties = {c: CountyOutcome(**o) for c, o in record["counties"].items()}
    return ProvinceResult(
        as_of=as_of,
        run_id=run_id,
        engine=cfg.compute.engine,
        counties=counties,
        record_file=record_file,
        seconds=round(time.perf_counter() - clock, 3),
        computed=tuple(todo),
    )


def _run_dask(cfg, as_of, todo, configs, faults, scoring, run_id, started, client, finish) -> None:
    from distributed import as_completed

    owned = client is None
    cluster = None
    if owned:
        client, cluster = _client(cfg.compute)
    try:
        states: dict[str, LedgerState] = {}
        for code in todo:  # the ledger as each county finds it (read-only; checked again at write)
            try:
                engine = open_database(configs[code].job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
                try:
                    data = data_hash(configs[code].data.source)  # the county's inputs' content
                    key = input_key(configs[code], as_of, data=data, model=model_hash(scoring))
                    with engine.connect() as conn:
                        state = read_ledger_state(conn, configs[code], as_of, run_id, key=key, data=data)
                finally:
                    engine.dispose()
            except Exception as exc:
                finish(code, CountyOutcome(status="failed", run_id=run_id, error=_error(exc)))
                continue
            if state.run_exists:
                finish(code, CountyOutcome(status="skipped", run_id=run_id))
            else:
                states[code] = state
        if not states:
            return
        # the model goes with each task (a bundle is small); a scattered copy would be lost with
        # a worker that dies, and the tasks that need it with it
        futures = {}
        for code, state in states.items():
            marker = str(Path(configs[code].job.out_dir) / f".killed_{run_id}")
            fault = replace(faults[code], marker=marker)
            fut = client.submit(_compute_task, configs[code], as_of, state, scoring, fault, pure=False)
            futures[fut] = code
        for fut in as_completed(futures):
            code = futures[fut]
            try:
                night = fut.result()
            except Exception as exc:  # the task raised, or its worker died too often
                finish(code, CountyOutcome(status="failed", run_id=run_id, error=_error(exc)))
                continue
            finally:
                fut.release()
            try:
                result = _write_county(
                    configs[code], as_of, night, states[code], run_id=run_id, started=started,
                    fault=faults[code],
                )  # fmt: skip
            except Exception as exc:
                finish(code, CountyOutcome(status="failed", run_id=run_id, error=_error(exc)))
            else:
                finish(code, _outcome(result))
            del night
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()


def _write_record(cfg, as_of, run_id, path, before, outcomes, started, clock, resume) -> dict:
    """Write the province record (atomically): the counties of ``before`` not rerun keep theirs."""
    counties = dict((before or {}).get("counties", {})) if resume else {}
    counties.update({c: asdict(o) for c, o in outcomes.items()})
    counties = dict(sorted(counties.items()))
    status = [o["status"] for o in counties.values()]
    record = {
        "run_id": run_id,
        "as_of": str(as_of),
        "config_hash": run_key(cfg),
        "engine": cfg.compute.engine,
        "workers": cfg.compute.n_workers if cfg.compute.engine == "dask" else 1,
        "started_at": started.replace(microsecond=0).isoformat(),
        "seconds": round(time.perf_counter() - clock, 3),
        "resumed": bool(resume),
        "n_counties": len(counties),
        "n_done": status.count("done"),
        "n_skipped": status.count("skipped"),
        "n_failed": status.count("failed"),
        "counties": counties,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return record
