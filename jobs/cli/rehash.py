"""``baoxue db rehash``: move the ledger to a new id salt (:mod:`jobs.rehash`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from jobs.cli._common import ConfigOpt, DataOpt, DbOpt, config_with_db, console, open_ledger

__all__ = ["db_rehash"]


def db_rehash(
    old_salt_env: Annotated[
        str, typer.Option("--old-salt-env", help="environment variable holding the ledger's salt now")
    ],
    new_salt_env: Annotated[
        str,
        typer.Option("--new-salt-env", help="environment variable holding the new salt (>= 16 characters)"),
    ],
    config: ConfigOpt = None,
    data: DataOpt = None,
    db: DbOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would change, write nothing")
    ] = False,
) -> None:
    """Re-key every student_id of the ledger from the old id salt to the new one, in one transaction.

    Reads the county's data (--data) to hash each child's registry number under both salts. The
    salts are read from environment variables, never from the command line. Afterwards set
    \\[data] id_salt (or its environment variable) to the new salt: the next night then runs on it.
    """
    from jobs.rehash import rehash_ledger

    salts = {}
    for option, var in (("--old-salt-env", old_salt_env), ("--new-salt-env", new_salt_env)):
        salts[option] = os.environ.get(var, "")
        if not salts[option]:
            raise ValueError(f"{option} {var}: that environment variable is not set (or empty)")
    cfg = config_with_db(config, db)
    result = rehash_ledger(
        open_ledger(cfg),
        cfg,
        old_salt=salts["--old-salt-env"],
        new_salt=salts["--new-salt-env"],
        source=data,
        dry_run=dry_run,
    )
    rows = ", ".join(f"{t} {n:,}" for t, n in result.rows.items() if n)
    verb = "would re-key" if result.dry_run else "re-keyed"
    console.print(
        f"{verb} {result.mapped:,} children of the data: rows {rows or 'none'}; {result.unmapped:,} "
        f"students of the ledger are not in the data and keep their old pseudonym; salt fingerprint "
        f"{result.old_fingerprint or 'none'} -> {result.new_fingerprint}",
        markup=False,
        highlight=False,
    )
    if not result.dry_run:
        console.print(
            f"now set the new salt for the nightly job ({cfg.data.id_salt_env} or [data] id_salt)",
            markup=False,
        )
