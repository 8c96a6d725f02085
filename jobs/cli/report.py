"""``baoxue report``: the reports people use (weekly class list, 一生一案, school, monthly)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import (
    App,
    AsOfOpt,
    CasesOpt,
    ConfigOpt,
    DataOpt,
    DbOpt,
    LangOpt,
    OutOpt,
    SnapOpt,
    StudentSheets,
    choice,
    config_with_db,
    console,
    load_county,
    open_ledger,
    parse_day,
    written,
)

__all__ = ["report_app"]

report_app = App(
    help="Reports: weekly class list, 一生一案, school summary, county monthly report (HTML + XLSX).",
    no_args_is_help=False,
    invoke_without_command=True,
)


#: the options ``baoxue report`` and its subcommands share: given before the subcommand
#: (``baoxue report --data X student S``) they count for it unless it gives its own
_SHARED = ("config", "db", "data", "as_of", "snapshot", "cases")
#: what the group's callback was given (it runs before every subcommand and resets this)
_GIVEN: dict[str, object] = {}


def _report_inputs(config, db, data, as_of, snapshot, cases):
    """Tables from the data source, the run from the ledger database (or a snapshot file)."""
    from jobs.reports.bundle import inputs_from_db, inputs_from_files

    given = _GIVEN
    mine = dict(zip(_SHARED, (config, db, data, as_of, snapshot, cases), strict=True))
    merged = {k: v if v is not None else given.get(k) for k, v in mine.items()}
    config, db, data, as_of, snapshot, cases = (merged[k] for k in _SHARED)
    if as_of is not None:
        as_of = str(parse_day(as_of))
    cfg = config_with_db(config, db)
    _, loaded = load_county(data or cfg.data.source, config)
    if snapshot is not None:
        return inputs_from_files(snapshot, loaded.tables, cases=cases, rules=cfg.rules)
    return inputs_from_db(open_ledger(cfg), loaded.tables, as_of=as_of, rules=cfg.rules)


@report_app.callback()
def report_main(
    ctx: typer.Context,
    all_: Annotated[
        bool, typer.Option("--all", help="every class and school of the run into a dated folder")
    ] = False,
    out: OutOpt = Path("reports"),
    month: Annotated[str | None, typer.Option("--month", help="monthly report month (YYYY-MM)")] = None,
    students: Annotated[
        StudentSheets,
        typer.Option(parser=choice(StudentSheets, "student sheets"), help="whose 一生一案 sheets to write"),
    ] = "red",
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """`baoxue report --all` writes the whole set; the subcommands write one report each."""
    if ctx.invoked_subcommand is not None:
        _GIVEN.clear()
        _GIVEN.update(zip(_SHARED, (config, db, data, as_of, snapshot, cases), strict=True))
        return
    if not all_:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    from jobs.reports.bundle import write_all

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    days = config_with_db(config, db).reports.statistics_days
    res = write_all(inputs, out, month=month, language=lang, students=students, statistics_days=days)
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items())
    console.print(f"{len(res.files)} files in {res.folder} ({secs}); open first: {res.index}", markup=False)


@report_app.command("weekly")
def report_weekly(
    class_id: Annotated[str, typer.Option("--class", help="the class's class_id")],
    out: OutOpt = Path("reports"),
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The head teacher's weekly list of one class (HTML + XLSX)."""
    from jobs.reports.bundle import write_weekly

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    written(write_weekly(inputs, class_id, out, lang))


@report_app.command("student")
def report_student(
    student_id: Annotated[str, typer.Argument(help="the student's student_id")],
    out: OutOpt = Path("reports"),
    restricted: Annotated[
        bool, typer.Option(help="include restricted fields (authorised roles only)")
    ] = False,
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """One student's 一生一案 sheet (HTML with charts)."""
    from jobs.reports.bundle import write_student

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    written(write_student(inputs, student_id, out, lang, show_restricted=restricted))


@report_app.command("school")
def report_school(
    school_id: Annotated[str, typer.Argument(help="the school's school_id")],
    out: OutOpt = Path("reports"),
    month: Annotated[str | None, typer.Option("--month", help="month whose returns are listed")] = None,
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The principal's school summary (HTML + XLSX)."""
    from jobs.reports.bundle import write_school

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    written(write_school(inputs, school_id, out, lang, month))


@report_app.command("statistics")
def report_statistics(
    day: Annotated[
        str | None,
        typer.Option("--day", help="a day of the period (YYYY-MM-DD; default: the data date)"),
    ] = None,
    out: OutOpt = Path("reports"),
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The township's 新增疑似辍学学生情况统计表 of one statistics period ([reports]
    statistics_days, default the 10th, 20th and 30th), with zero-report rows (HTML + XLSX)."""
    from jobs.reports.bundle import write_statistics

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    days = config_with_db(config, db).reports.statistics_days
    when = parse_day(day).isoformat() if day else None
    written(write_statistics(inputs, when, out, lang, days=days))


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="the month reported, YYYY-MM")],
    out: OutOpt = Path("reports"),
    lang: LangOpt = "zh",
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: AsOfOpt = None,
    snapshot: SnapOpt = None,
    cases: CasesOpt = None,
) -> None:
    """The county monthly report 月报 by township and school, with zero-report rows (HTML + XLSX)."""
    from jobs.reports.bundle import write_monthly

    inputs = _report_inputs(config, db, data, as_of, snapshot, cases)
    written(write_monthly(inputs, month, out, lang))
