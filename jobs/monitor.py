"""``baoxue monitor``: read the ledger and the county data back, and judge the model in service.

Wiring only (:mod:`risk.monitoring` holds the logic): the logged runs and their snapshots
(:func:`jobs.storage.read_runs`, :func:`jobs.storage.read_snapshot`), the county's tables
(:func:`features.load.load_tables`), the model in service (its label definition, training
reference, evaluated precision at capacity and training window) and tonight's features for
the drift check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from features.config import BaoxueConfig, TrainConfig
from jobs.storage import connect, read_runs, read_snapshot
from risk.monitoring import MonitorResult, Thresholds, monitor
from risk.monitoring.panel import judged_panel

__all__ = ["run_monitor", "read_logged_snapshots", "MONITOR_COLUMNS", "WATCHED_COLUMNS"]

log = logging.getLogger(__name__)

#: audit groups (training.fairness.audit_groups) reported as watched groups
WATCHED_COLUMNS = ("left_behind", "migrant", "hardship")


#: the snapshot columns the monitor reads (a year of nights at 50k students is 10M rows: the
#: reasons, evidence and measures text stay in the database)
MONITOR_COLUMNS = ("student_id", "as_of", "school_id", "class_id", "grade", "probability", "rank_county",
                   "tier", "listed", "selected")  # fmt: skip


def _logged_runs(engine, until: dt.date | None) -> pd.DataFrame:
    """The latest run of each logged date (up to ``until``), oldest first: ``run_id, as_of``."""
    runs = read_runs(engine)
    if until is not None:
        runs = runs.loc[runs["as_of"] <= pd.Timestamp(until)]
    return runs.sort_values(["as_of", "finished_at"]).drop_duplicates("as_of", keep="last")


#: how :func:`read_logged_snapshots` reads the rows
READ_METHODS = ("fast", "adbc", "cursor", "read_sql")

#: the monitor's snapshot columns and their dtypes (``tier`` is a category of ``risk.snapshot.TIERS``)
_KINDS = {"student_id": "str", "school_id": "str", "class_id": "str", "grade": "int64", "probability": "float64",
          "rank_county": "int64", "listed": "bool", "selected": "bool"}  # fmt: skip
_STRINGS = {c for c, k in _KINDS.items() if k == "str"}


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    from risk.snapshot import TIERS

    out = frame.astype({c: k for c, k in _KINDS.items() if c in frame.columns})
    if "tier" in out.columns:
        out["tier"] = pd.Categorical(out["tier"].astype("str"), categories=list(TIERS))
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[s]")
    order = ["as_of", "rank_county"] if "rank_county" in out.columns else ["as_of"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def _nights_with_rows(engine, until: dt.date | None) -> list[pd.Timestamp]:
    """The logged dates (up to ``until``) whose latest run wrote snapshot rows, oldest first
    (the nights of :func:`read_logged_snapshots`), without reading the rows."""
    import sqlalchemy as sa

    from jobs.storage import RiskSnapshot

    t = RiskSnapshot.__table__
    runs = _logged_runs(engine, until)
    probe = sa.select(t.c.run_id).where(t.c.run_id == sa.bindparam("r")).limit(1)
    out = []
    with engine.connect() as conn:
        for run_id, as_of in zip(runs["run_id"], runs["as_of"], strict=True):
            if conn.execute(probe, {"r": run_id}).first() is not None:
                out.append(pd.Timestamp(as_of).normalize())
    return sorted(set(out))


def read_logged_snapshots(
    engine,
    *,
    until: dt.date | None = None,
    columns: tuple[str, ...] | None = MONITOR_COLUMNS,
    nights: list | None = None,
    method: str = "fast",
) -> pd.DataFrame:
    """Every logged night's snapshot stacked (the latest run of each date), oldest first;
    ``columns`` only (None: every column, one run at a time).

    ``nights`` reads only the runs of those dates. ``method``: ``"read_sql"`` is the
    straightforward ``pd.read_sql`` of the rows; ``"cursor"`` reads each run's rows through
    the driver's cursor (no per-value type processing, the strings dictionary-encoded,
    ``as_of`` taken from the run); ``"adbc"`` reads a SQLite ledger into Arrow columns with
    the ADBC driver (``adbc-driver-sqlite``), in C; ``"fast"`` (the default) is ``"adbc"``
    where it applies (a SQLite file, the driver installed) and ``"cursor"`` elsewhere. All
    give the same frame (the tests hold them to it; the benchmark times them side by side).
    """
    runs = _logged_runs(engine, until)
    if nights is not None:
        keep = {pd.Timestamp(d).normalize() for d in nights}
        runs = runs.loc[runs["as_of"].dt.normalize().isin(keep)]
    if columns is None:
        parts = [read_snapshot(engine, run_id=r) for r in runs["run_id"]]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else read_snapshot(engine, run_id="")
    if method not in READ_METHODS:
        raise ValueError(f"read_logged_snapshots: method {method!r} is not one of {READ_METHODS}")
    if method == "read_sql":
        return _read_sql(engine, runs["run_id"].tolist(), columns)
    if method == "fast":
        method = "adbc" if _adbc_file(engine) is not None else "cursor"
    if method == "adbc":
        return _read_adbc(engine, runs, columns)
    return _read_fast(engine, runs, columns)


def _adbc_file(engine) -> str | None:
    """The SQLite ledger's file when the ADBC driver can read it (None: not SQLite, in memory,
    or ``adbc-driver-sqlite`` not installed)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return None
    return str(Path(engine.url.database).resolve())


def _read_adbc(engine, runs: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The runs' rows of a SQLite ledger as Arrow columns (ADBC), ``as_of`` from the run."""
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    from jobs.storage import RiskSnapshot

    path = _adbc_file(engine)
    if path is None:
        raise ValueError(
            "read_logged_snapshots: method 'adbc' needs a SQLite ledger file and adbc-driver-sqlite "
            f"installed ({engine.url.render_as_string(hide_password=True)}); method 'fast' falls back to 'cursor'"
        )
    t = RiskSnapshot.__table__
    read = [c for c in columns if c != "as_of"]
    for c in read:
        if c not in t.c:
            raise ValueError(f"risk_snapshots: no column {c!r}")
    ids = runs["run_id"].tolist()
    parts = []
    with adbc.connect(f"file:{path}?mode=ro") as conn:
        cur = conn.cursor()
        try:
            for i in range(0, len(ids), 200):  # bounded IN lists
                chunk = ids[i : i + 200]
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    f"SELECT run_id, {', '.join(read)} FROM risk_snapshots WHERE run_id IN ({marks})", chunk
                )
                parts.append(cur.fetch_arrow_table())
        finally:
            cur.close()
    if not parts or not sum(p.num_rows for p in parts):
        return _finish(pd.DataFrame({c: pd.Series(dtype=_KINDS.get(c, "object")) for c in columns}))
    table = pa.concat_tables(parts, promote_options="permissive")
    return _finish_arrow(table, runs, columns)


def _finish_arrow(table, runs: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """:func:`_finish` of the ADBC read, done in Arrow and NumPy: ``as_of`` of each row by
    its run's dictionary code (not a lookup of 6M run ids), the (as_of, rank_county) order
    by one stable ``lexsort`` of integers and one Arrow ``take``, ``tier`` by the codes of
    its few distinct values. The same frame as ``_finish`` (the tests hold them to it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from risk.snapshot import TIERS

    run = pc.dictionary_encode(table.column("run_id")).combine_chunks()
    when = pd.Series(runs["as_of"].to_numpy("datetime64[s]"), index=runs["run_id"].to_numpy())
    as_of = when.reindex(pd.Index(run.dictionary.to_pylist(), dtype="str")).to_numpy("datetime64[s]")
    as_of = as_of[run.indices.to_numpy(zero_copy_only=False)]
    rank = None
    if "rank_county" in columns:
        rank = table.column("rank_county")
    if (rank is not None and rank.null_count) or ("tier" in columns and table.column("tier").null_count):
        return _finish(_with_as_of(table, as_of, columns))  # nulls: the general path, as before
    if rank is not None:
        rank = rank.to_numpy().astype("int64", copy=False)
    # np.lexsort is stable: ties keep the rows' read order, as sort_values(kind="stable")
    order = np.lexsort((rank, as_of.view("int64"))) if rank is not None else np.argsort(as_of, kind="stable")
    read = [c for c in columns if c not in ("as_of", "tier")]
    data: dict[str, object] = {}
    if read:
        part = table.select(read).take(pa.array(order)).to_pandas()
        part = part.astype({c: k for c, k in _KINDS.items() if c in part.columns})
        data.update({c: part[c].to_numpy() if c not in _STRINGS else part[c].array for c in read})
    if "tier" in columns:
        tier = pc.dictionary_encode(table.column("tier").cast(pa.string())).combine_chunks()
        names = pd.Index(tier.dictionary.to_pylist(), dtype="object")
        codes = pd.Index(list(TIERS)).get_indexer(names)  # a value outside TIERS: -1 (NaN), as _finish
        idx = tier.indices.to_numpy(zero_copy_only=False)
        data["tier"] = pd.Categorical.from_codes(codes[idx[order]], categories=list(TIERS))
    data["as_of"] = as_of[order]
    return pd.DataFrame({c: data[c] for c in columns})


def _with_as_of(table, as_of, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["as_of"] = as_of
    return frame[list(columns)]


def _read_sql(engine, ids: list[str], columns: tuple[str, ...]) -> pd.DataFrame:
    import sqlalchemy as sa

    from jobs.storage import RiskSnapshot

    t = RiskSnapshot.__table__
    frames = []
    with engine.connect() as conn:
        for i in range(0, len(ids), 50):  # bounded IN lists
            stmt = sa.select(*(t.c[c] for c in columns)).where(t.c.run_id.in_(ids[i : i + 50]))
            frames.append(pd.read_sql(stmt, conn))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
    return _finish(frame)


def _read_fast(engine, runs: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """One query per run on the primary key (run_id, student_id) through the DBAPI cursor:
    no ORM or type processing per value, no ``as_of`` column (one value per run), and each
    string column dictionary-encoded (a child's id is repeated on every night)."""
    import numpy as np

    from jobs.storage import RiskSnapshot

    t = RiskSnapshot.__table__
    read = [c for c in columns if c != "as_of"]
    for c in read:
        if c not in t.c:
            raise ValueError(f"risk_snapshots: no column {c!r}")
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT {', '.join(read)} FROM risk_snapshots WHERE run_id = {mark}"
    strings = [c for c in read if _KINDS.get(c, "str") == "str"]
    parts: dict[str, list] = {c: [] for c in read}
    dates, lengths = [], []
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        try:
            for run_id, as_of in zip(runs["run_id"], runs["as_of"], strict=True):
                cur.execute(sql, (run_id,))
                rows = cur.fetchall()
                if not rows:
                    continue
                cols = list(zip(*rows, strict=True))
                for c, values in zip(read, cols, strict=True):
                    parts[c].append(values)
                dates.append(as_of)
                lengths.append(len(rows))
        finally:
            cur.close()
    data: dict[str, object] = {}
    for c in read:
        flat = [v for part in parts[c] for v in part] if parts[c] else []
        parts[c] = []
        if c in strings:
            codes, uniques = pd.factorize(np.array(flat, dtype=object), sort=True)
            data[c] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype="str"))
        else:
            data[c] = np.array(flat, dtype=_KINDS[c])
    if "as_of" in columns:
        data["as_of"] = np.repeat(pd.to_datetime(pd.Series(dates, dtype="object")).to_numpy("datetime64[s]")
                                  if dates else np.array([], "datetime64[s]"), lengths)  # fmt: skip
    frame = pd.DataFrame({c: data[c] for c in columns}) if lengths else pd.DataFrame(columns=list(columns))
    return _finish(frame)


def _train_config(bundle, fallback: TrainConfig) -> TrainConfig:
    if bundle is None or not bundle.config:
        return fallback
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.config.items() if k in names}
    try:
        return TrainConfig(**kw)
    except (TypeError, ValueError):
        return fallback


def _window_end(bundle, part: str) -> dt.date | None:
    text = (bundle.window or {}).get(part, "") if bundle is not None else ""
    return pd.Timestamp(text.split("..")[-1]).date() if text else None


def _same_month(bundle, night: dt.date) -> dt.date | None:
    text = (bundle.window or {}).get("fit", "")
    if ".." not in text:
        return None
    lo, hi = (pd.Timestamp(x) for x in text.split(".."))
    days = [d for d in pd.date_range(lo, hi, freq="MS") if d.month == night.month]
    return days[-1].date() if days else None


def run_monitor(
    db_url: str,
    data: str | Path,
    *,
    as_of: dt.date | None = None,
    config: BaoxueConfig | None = None,
    model=None,
    thresholds: Thresholds | None = None,
    method: str = "fast",
) -> MonitorResult:
    """Monitor the model in service on ``as_of`` (what ``baoxue monitor`` calls).

    Parameters
    ----------
    db_url : str
        The ledger (``[job] db_url``).
    data : str or Path
        The county's data folder or URL (the same the nightly job reads).
    as_of : date, optional
        The monitor's date; default the last day the data describes.
    config : BaoxueConfig, optional
        Default ``BaoxueConfig()``.
    model : str, Path or ModelBundle, optional
        The model in service (default ``[job] model_uri``); without one that loads, the
        label definition is ``[train]`` and the drift check is left out.
    thresholds : Thresholds, optional
        The monitor's bounds (:class:`risk.monitoring.status.Thresholds`).
    method : {"fast", "read_sql"}
        ``"fast"``: read only the judged nights' rows of the ledger (through the driver's
        cursor), and build each judged night's cohort once for its labels and watched groups
        (:func:`risk.monitoring.panel.judged_panel`). ``"read_sql"``: the straightforward
        path (every night through ``pd.read_sql``, :func:`training.labels.label_panel` and
        :func:`training.fairness.audit_groups`); both give the same result (the tests hold
        them to it, the benchmark times both).
    """
    from features.build import build_features
    from features.load import load_tables
    from training.fairness import audit_groups
    from training.fit import prepare_features
    from training.labels import label_panel, observable_as_of_dates, observed_until

    if method not in ("fast", "read_sql"):
        raise ValueError(f"run_monitor: method {method!r} is not 'fast' or 'read_sql'")
    cfg = config or BaoxueConfig()
    tables = load_tables(cfg.data, data).tables
    as_of = as_of or observed_until(tables).date()

    bundle = None
    try:
        from risk.score import load_model

        bundle = load_model(model if model is not None else cfg.job.model_uri).bundle
    except (FileNotFoundError, OSError, ValueError) as exc:
        log.warning("model not loaded (%s): drift check left out", exc)
    tcfg = _train_config(bundle, cfg.train)
    until = min(as_of, observed_until(tables).date())

    engine = connect(db_url)
    try:
        if method == "fast":
            # only the judged nights' rows are read: the others only name the nights
            nights = _nights_with_rows(engine, as_of)
            judged = observable_as_of_dates(nights, tcfg, until=until)
            snapshots = read_logged_snapshots(engine, until=as_of, nights=judged)
        else:
            snapshots = read_logged_snapshots(engine, until=as_of, method="read_sql")
            nights = sorted(pd.to_datetime(snapshots["as_of"]).dt.normalize().unique())
            judged = observable_as_of_dates(nights, tcfg, until=until)
    finally:
        engine.dispose()

    reference = current = None
    source = "bundle"
    if bundle is not None and nights:
        last_night = pd.Timestamp(nights[-1]).date()
        current = prepare_features(build_features(tables, last_night, cfg), bundle.features)
        reference = bundle.reference or None
        fit_end = _window_end(bundle, "fit")
        if not reference and fit_end is not None:
            from training.reference import feature_reference

            # the latest fit date in the night's month (the term's rhythm is not drift)
            fit_end = _same_month(bundle, last_night) or fit_end
            ref_frame = prepare_features(build_features(tables, fit_end, cfg), bundle.features)
            reference = feature_reference(ref_frame)
            source = f"features on {fit_end} (the bundle holds no reference)"
    groups = labels = None
    if judged and method == "fast":
        # one cohort per judged night for both the labels and the watched groups
        labels, groups = judged_panel(tables, judged, tcfg, until=until, watched=WATCHED_COLUMNS)
    elif judged:
        labels = label_panel(tables, judged, tcfg, until=until)
        g = audit_groups(tables, judged)
        groups = g[["student_id", "as_of", *[c for c in WATCHED_COLUMNS if c in g.columns]]]
    cap = cfg.risk.capacity_per_school
    evaluated = (bundle.metrics or {}).get(f"precision_at_cap{cap}") if bundle is not None else None
    last_trained = (
        (_window_end(bundle, "valid") or _window_end(bundle, "fit")) if bundle is not None else None
    )
    return monitor(
        snapshots,
        tables,
        as_of=as_of,
        train_config=tcfg,
        reference=reference,
        current=current,
        groups=groups,
        evaluated_precision=evaluated,
        last_trained_as_of=last_trained,
        thresholds=thresholds,
        reference_source=source,
        labels=labels,
        nights=[pd.Timestamp(d) for d in nights],
    )
