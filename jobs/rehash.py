"""Move a ledger to a new id salt: the one supported way to change ``[data] id_salt``.

A keyed hash cannot be turned back, so a new salt alone makes every child a new student:
their open cases are orphaned and new ones open beside them. The night therefore refuses a
salt whose fingerprint is not the ledger's (:func:`jobs.guard.check_salt_matches`), and
:func:`rehash_ledger` (``baoxue db rehash``) re-keys the ledger instead:

1. it reads the county's tables raw (read and mapped, not yet pseudonymised) and hashes
   their ids under both salts with :func:`features.identity.pseudonymize`, so the map
   old pseudonym -> new pseudonym is exactly what a night computes under each salt;
2. it refuses when the old salt is not the ledger's (its fingerprint differs from the last
   good run's) or the new one is too short;
3. in one write transaction, holding the nightly lock, it rewrites ``student_id`` in every
   ledger table that has one (risk snapshots, cases, interventions, the web app's audit,
   plans and notes), records the new salt fingerprint on the runs that carried the old one,
   and adds an ``audit`` row (action ``rehash``, counts and fingerprints only). The
   append-only triggers of snapshots, audit, plans and notes are lifted for this statement
   only, inside the transaction (SQLite: dropped and created again; PostgreSQL: disabled and
   enabled), so nothing else can change history meanwhile and a failure changes nothing.

Children in the ledger who are not in tonight's data (left the county) cannot be re-keyed
(their raw number is not at hand): they keep their old pseudonym, and are counted in
:attr:`RehashResult.unmapped`. Case ids stay as they are (they are keys, not hashes to redo).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.config import BaoxueConfig
from jobs.exits import SaltMismatch

__all__ = ["RehashResult", "rekey_map", "rehash_ledger"]

_APPEND_ONLY = ("risk_snapshots", "audit", "plans", "notes")
_ID_COLUMNS = ("student_id", "registry_no", "national_id")


@dataclass
class RehashResult:
    """What :func:`rehash_ledger` did (or would do, ``dry_run``)."""

    mapped: int  # ids of the data with an old and a new pseudonym
    rows: dict[str, int]  # table -> rows re-keyed
    unmapped: int  # ledger students not in the data (they keep their old pseudonym)
    old_fingerprint: str | None
    new_fingerprint: str | None
    dry_run: bool = False


def rekey_map(cfg: BaoxueConfig, source: str | Path | None, old_salt: str, new_salt: str) -> pd.DataFrame:
    """``old_id, new_id`` of every child of the data at ``source``: their pseudonym under each salt."""
    from features.identity import pseudonymize
    from features.load import read_source
    from features.mapping import apply_mapping, mapping_from_config, split_derived

    data = cfg.data
    mapping = mapping_from_config(data.mappings, data.columns, data.values)
    raw, _ = read_source(data.source if source is None else source, sql_schema=data.sql_schema)
    frames = {name: apply_mapping(name, f.reset_index(drop=True), mapping) for name, f in raw.items()}
    ids = {}
    for name, frame in split_derived(frames).items():
        cols = [c for c in _ID_COLUMNS if c in frame.columns]
        if cols:
            ids[name] = frame[cols].astype("str").drop_duplicates().reset_index(drop=True)
    old = pseudonymize(ids, old_salt, salt_env="--old-salt-env")
    new = pseudonymize(ids, new_salt, salt_env="--new-salt-env")
    pairs = [
        pd.DataFrame(
            {"old_id": old[n]["student_id"].astype("str"), "new_id": new[n]["student_id"].astype("str")}
        )
        for n in ids
        if "student_id" in old[n].columns
    ]
    if not pairs:
        return pd.DataFrame({"old_id": pd.Series(dtype="str"), "new_id": pd.Series(dtype="str")})
    out = pd.concat(pairs, ignore_index=True).dropna().drop_duplicates()
    return out[out["old_id"] != out["new_id"]].drop_duplicates("old_id").reset_index(drop=True)


def _tables_with_ids() -> list[sa.Table]:
    from jobs.storage import Base

    return [t for t in Base.metadata.sorted_tables if "student_id" in t.columns]


def _lift_triggers(conn: Connection, table: str) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")


def _restore_triggers(conn: Connection, table: str) -> None:
    # the same trigger as the migrations (0001, 0002) create
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def rehash_ledger(
    engine: Engine,
    cfg: BaoxueConfig,
    *,
    old_salt: str,
    new_salt: str,
    source: str | Path | None = None,
    dry_run: bool = False,
) -> RehashResult:
    """Re-key the ledger from ``old_salt`` to ``new_salt`` (see the module docstring).

    Raises
    ------
    SaltMismatch
        ``old_salt`` is not the salt of the ledger's last good run that recorded one.
    ConfigError
        ``new_salt`` is shorter than :data:`features.identity.MIN_SALT_CHARS`, or the two are equal.
    """
    from features.errors import ConfigError
    from features.identity import check_salt, salt_fingerprint
    from jobs.guard import check_writable, ledger_salt_fingerprint

    if not old_salt or not new_salt:
        raise ConfigError(
            "rehash needs both salts: --old-salt-env and --new-salt-env name variables that hold them"
        )
    if old_salt == new_salt:
        raise ConfigError("the old and the new salt are the same: nothing to rehash")
    check_salt(new_salt, salt_env="--new-salt-env")
    old_fp, new_fp = salt_fingerprint(old_salt), salt_fingerprint(new_salt)
    check_writable(engine)
    with engine.connect() as conn:
        theirs = ledger_salt_fingerprint(conn)
    if theirs is not None and theirs[0] != old_fp:
        if theirs[0] == new_fp:
            raise SaltMismatch(
                f"the ledger is on the new salt already (fingerprint {new_fp}, run {theirs[1]})"
            )
        raise SaltMismatch(
            f"the old salt is not this ledger's (its fingerprint is {theirs[0]} in run {theirs[1]}, "
            f"the old salt's {old_fp}): give the salt the ledger was built with as --old-salt-env"
        )
    pairs = rekey_map(cfg, source, old_salt, new_salt)
    try:
        return _rewrite(engine, cfg, pairs, old_fp, new_fp, dry_run)
    except _DryRun as dry:  # rolled back: nothing written
        return dry.result


def _rewrite(
    engine: Engine, cfg: BaoxueConfig, pairs: pd.DataFrame, old_fp, new_fp, dry_run: bool
) -> RehashResult:
    from jobs.storage import AuditEntry, Run, write_transaction

    tables = _tables_with_ids()
    rows: dict[str, int] = {}
    with write_transaction(engine, timeout_s=cfg.job.lock_timeout_s) as conn:
        known: set[str] = set()
        for t in tables:
            known |= {str(v) for v in conn.execute(sa.select(t.c.student_id).distinct()).scalars() if v}
        mapped_ids = set(pairs["old_id"])
        unmapped = len(known - mapped_ids)
        if dry_run:
            for t in tables:
                rows[t.name] = int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(t).where(t.c.student_id.in_(list(mapped_ids)))
                    ).scalar()
                    if mapped_ids
                    else 0
                )
            raise _DryRun(RehashResult(len(pairs), rows, unmapped, old_fp, new_fp, dry_run=True))
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE baoxue_rekey (old_id VARCHAR(64) PRIMARY KEY, new_id VARCHAR(64))"
        )
        rekey = sa.table("baoxue_rekey", sa.column("old_id"), sa.column("new_id"))
        records = pairs.to_dict("records")
        for i in range(0, len(records), 5000):
            conn.execute(sa.insert(rekey), records[i : i + 5000])
        for t in tables:
            new_id = sa.select(rekey.c.new_id).where(rekey.c.old_id == t.c.student_id).scalar_subquery()
            lifted = t.name in _APPEND_ONLY
            if lifted:
                _lift_triggers(conn, t.name)
            res = conn.execute(
                sa.update(t).where(t.c.student_id.in_(sa.select(rekey.c.old_id))).values(student_id=new_id)
            )
            if lifted:
                _restore_triggers(conn, t.name)
            rows[t.name] = int(res.rowcount or 0)
        runs = Run.__table__
        fp_col = runs.c.salt_fingerprint
        conn.execute(
            sa.update(runs).where(sa.or_(fp_col == old_fp, fp_col.is_(None))).values(salt_fingerprint=new_fp)
        )
        conn.execute(
            sa.insert(AuditEntry.__table__),
            [
                {
                    "ts": dt.datetime.now().replace(microsecond=0),
                    "staff_id": "baoxue db rehash",
                    "role": "operator",
                    "action": "rehash",
                    "detail": json.dumps(
                        {
                            "old_salt_fingerprint": old_fp,
                            "new_salt_fingerprint": new_fp,
                            "ids": len(pairs),
                            "rows": rows,
                            "unmapped": unmapped,
                        },
                        sort_keys=True,
                    ),  # fmt: skip
                }
            ],
        )
        conn.exec_driver_sql("DROP TABLE baoxue_rekey")
    return RehashResult(len(pairs), rows, unmapped, old_fp, new_fp)


class _DryRun(Exception):
    def __init__(self, result: RehashResult) -> None:
        self.result = result
