"""``baoxue cases``: the case ledger (台账) for the staff responsible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import App, ConfigOpt, DbOpt, config_with_db, console, isna, open_ledger, parse_day

__all__ = ["cases_app"]

cases_app = App(help="The case ledger (台账): list, show, import staff updates.", no_args_is_help=True)


@cases_app.command("list")
def cases_list(
    config: ConfigOpt = None,
    db: DbOpt = None,
    school: Annotated[str | None, typer.Option(help="school_id")] = None,
    class_id: Annotated[str | None, typer.Option("--class", help="class_id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="closed cases too")] = False,
) -> None:
    """The ledger of a school or class: open cases (with --all, every case)."""
    from rich.table import Table

    from jobs.storage import read_cases

    if school is None and class_id is None:
        raise ValueError("name a --school or a --class: lists go only to the staff responsible")
    engine = open_ledger(config_with_db(config, db))
    frame = read_cases(engine, school_id=school, class_id=class_id, open_only=not all_)
    table = Table(title=f"cases: {school or ''} {class_id or ''} ({len(frame)})")
    cols = ["case_id", "student_id", "case_type", "trigger", "opened_at", "owner_staff_id", "four_step_stage",
            "status", "tier_last", "last_seen"]  # fmt: skip
    for c in cols:
        table.add_column(c)
    for _, r in frame.iterrows():
        table.add_row(*("" if isna(r[c]) else f"{r[c]:%Y-%m-%d}" if "_at" in c or c == "last_seen" else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)


@cases_app.command("show")
def cases_show(
    case_id: Annotated[str, typer.Argument(help="the case's id")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """One case and its history (events in order)."""
    from rich.table import Table

    from jobs.storage import read_case_events, read_cases

    engine = open_ledger(config_with_db(config, db))
    cases = read_cases(engine)
    if case_id not in set(cases["case_id"]):
        raise ValueError(f"no case {case_id!r} in the ledger (see `baoxue cases list`)")
    case = cases.set_index("case_id").loc[case_id]
    for k, v in case.items():
        if not isna(v):
            console.print(f"{k}: {v}", markup=False, highlight=False)
    table = Table(title="history")
    cols = ["ts", "event_type", "source", "actor_role", "outcome", "four_step_stage", "owner_staff_id", "next_due",
            "detail"]  # fmt: skip
    for c in cols:
        table.add_column(c)
    for _, r in read_case_events(engine, case_id=case_id).iterrows():
        table.add_row(*("" if isna(r[c]) else f"{r[c]:%Y-%m-%d}" if c in ("ts", "next_due") else str(r[c])
                        for c in cols))  # fmt: skip
    console.print(table)


@cases_app.command("import")
def cases_import(
    file: Annotated[Path, typer.Argument(help="staff updates, CSV or XLSX (case_id, ts, event_type, ...)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the import's date (default: today)")] = None,
    rejects: Annotated[Path | None, typer.Option(help="rejects CSV (default FILE.rejects.csv)")] = None,
) -> None:
    """Import staff updates (home visits, outcomes, steps, placements, closing) as case events."""
    from jobs.ledger import import_updates

    day = parse_day(as_of)
    cfg = config_with_db(config, db)
    engine = open_ledger(cfg)
    res = import_updates(engine, file, as_of=day, rejects_file=rejects, lock_timeout_s=cfg.job.lock_timeout_s)
    n_bad = res.rejects["file_row"].nunique() if len(res.rejects) else 0
    console.print(
        f"{file}: {res.rows} rows; imported {res.imported}, imported before {res.already}, rejected {n_bad} "
        f"(rejects file: {res.rejects_file})",
        markup=False,
        highlight=False,
    )
