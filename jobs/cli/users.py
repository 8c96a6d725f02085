"""``baoxue users``: logins of the staff web app (``baoxue serve``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from jobs.cli._common import App, ConfigOpt, DbOpt, config_with_db, console, isna, open_ledger

__all__ = ["users_app"]

users_app = App(help="Logins of the staff web app: add, list.", no_args_is_help=True)

_ROLES = "head_teacher|counsellor|principal|county|researcher"


@users_app.command("add")
def users_add(
    staff_id: Annotated[str, typer.Option("--staff-id", help="the staff table's staff_id")],
    role: Annotated[str, typer.Option(help=_ROLES)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Create a login (or reset its role and password, unlocking it)."""
    from jobs.web.auth import add_user

    if not password_stdin:
        raise ValueError("give the password on stdin with --password-stdin (never on the command line)")
    password = sys.stdin.readline().rstrip("\r\n")
    engine = open_ledger(config_with_db(config, db))
    add_user(engine, staff_id, role, password)
    console.print(f"login {staff_id} ({role}) saved", markup=False, highlight=False)


@users_app.command("list")
def users_list(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """The logins, their roles, school and class, and whether they are locked."""
    from rich.table import Table

    from jobs.web.auth import list_users

    frame = list_users(open_ledger(config_with_db(config, db)))
    table = Table(title=f"logins ({len(frame)})")
    for c in frame.columns:
        table.add_column(c)
    for _, r in frame.iterrows():
        table.add_row(*("" if isna(v) else str(v) for v in r))
    console.print(table)
