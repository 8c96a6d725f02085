"""What the command groups share: the console, the common options, the fixed choices, and
the one error path.

Only the CLI decides what "today" is (:func:`day`); library code always takes ``as_of``.
Heavy imports stay inside the functions, so ``baoxue --help`` starts fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

__all__ = [
    "App",
    "Command",
    "Group",
    "AsOfOpt",
    "CasesOpt",
    "ConfigOpt",
    "DataOpt",
    "DbOpt",
    "ExplainMode",
    "Language",
    "LangOpt",
    "OutOpt",
    "PresetName",
    "SnapOpt",
    "StudentSheets",
    "choice",
    "config_with_db",
    "console",
    "errors",
    "isna",
    "load_county",
    "open_ledger",
    "parse_day",
    "plain_help",
    "summary_table",
    "written",
]

console = Console()

# --- fixed choices: typer lists them in --help and refuses any other value (exit 2) ------------

#: the simulator's calibration presets (``features.sim.PRESETS``)
PresetName = Literal["reap_2010", "current"]
#: whose reasons ``baoxue score`` computes (``[risk] explain``)
ExplainMode = Literal["listed", "all"]
#: the language of lists and reports (``[risk] language``, ``risk.reasons.Language``)
Language = Literal["zh", "en"]
#: whose 一生一案 sheets ``baoxue report --all`` writes (``jobs.reports.bundle.write_all``)
StudentSheets = Literal["red", "listed", "none"]


def choice(kind: Any, noun: str) -> Callable[[str], str]:
    """The parser of an option whose type is the ``Literal`` ``kind``.

    Typer shows the values in ``--help`` (from the annotation); a value outside them ends the
    command with exit 2 and a message naming the option and the allowed values.

    >>> parse = choice(Language, "language")
    >>> parse("en")
    'en'
    >>> try:
    ...     parse("fr")
    ... except typer.BadParameter as exc:
    ...     print(exc)
    unknown language 'fr'; choose one of zh, en
    """
    values = get_args(kind)

    def parse(value: str) -> str:
        if value not in values:
            raise typer.BadParameter(f"unknown {noun} {value!r}; choose one of {', '.join(values)}")
        return value

    return parse


# --- options used by several commands ---------------------------------------------------------

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="baoxue.toml (defaults when absent)")]
DbOpt = Annotated[str | None, typer.Option("--db", help="ledger database URL (default [job] db_url)")]
DataOpt = Annotated[
    str | None, typer.Option("--data", help="data folder or URL (default: the config's data source)")
]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="the run's date (default: the latest run)")]
SnapOpt = Annotated[
    Path | None,
    typer.Option("--snapshot", help="a snapshot file from `baoxue score` instead of the database"),
]
CasesOpt = Annotated[Path | None, typer.Option("--cases", help="with --snapshot: a cases CSV/XLSX/Parquet")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="folder to write into")]
LangOpt = Annotated[
    Language, typer.Option("--lang", parser=choice(Language, "language"), help="report language")
]


# --- the one error path ------------------------------------------------------------------------

#: what a command says when another writer holds the ledger's lock (``busy`` of :meth:`App.command`)
BUSY = "the database is busy ({exc}); try again"


def errors(fn: Callable[..., Any], *, busy: str = BUSY) -> Callable[..., Any]:
    """Run the command ``fn``; turn the errors baoxue raises on purpose into one line on stderr
    and an exit code, never a traceback (the codes: :mod:`jobs.exits`, the README's table).

    - a contract, config, estimation or argument error (``features.errors.BaoxueError``,
      ``ValueError``), a salt refused, or a missing file: ``error: <message>``, exit 2;
    - another writer holds the ledger's lock (``jobs.storage.LockTimeout``): ``busy``, exit 3;
    - stale or incomplete input (``jobs.exits.StaleInput``): exit 4;
    - the database unreachable, read-only or refusing a statement (``jobs.exits.DatabaseUnavailable``,
      any SQLAlchemy error): its first line, exit 5;
    - the model unreadable (``jobs.exits.ModelUnreadable``): exit 6;
    - a fault injected by ``BAOXUE_FAIL_AT`` (``jobs.stages.InjectedFault``): exit 1, the
      database unchanged.

    Anything else is a bug and keeps its traceback; ``baoxue --debug`` (or ``BAOXUE_DEBUG=1``)
    keeps it for every error.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            said = _exit_for(exc, busy)
            if said is None or debugging():
                raise
            code, message = said
            _say(message)
            raise typer.Exit(code) from exc

    return run


#: environment variable that keeps tracebacks (``baoxue --debug`` sets it for its process)
DEBUG_ENV = "BAOXUE_DEBUG"


def debugging() -> bool:
    """Whether errors keep their traceback (``--debug``, ``BAOXUE_DEBUG=1``)."""
    import os

    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _exit_for(exc: Exception, busy: str) -> tuple[int, str] | None:
    """Exit code and message of an error baoxue raises on purpose; None for anything else."""
    from jobs.exits import exit_for

    return exit_for(exc, busy=busy)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def plain_help(text: str | None) -> str | None:
    r"""``text`` escaped for rich markup, so ``--help`` shows it as written.

    Help texts name config settings as ``[section] key``; rich would take ``[compute]`` for a
    style tag and print "( engine)". A bracket already escaped (``\[job]``) stays as it is.

    >>> plain_help("every county ([compute] engine), default \\[job] db_url")
    'every county (\\[compute] engine), default \\[job] db_url'
    """
    if text is None:
        return None
    return re.sub(r"(?<!\\)\[", r"\\[", text)


def _plain_params(command: Any) -> None:
    """The command's and its parameters' help as plain text (:func:`plain_help`); a flag shows
    no ``<bool>`` type (typer gives every option a type column, flags included)."""
    command.help = plain_help(command.help)
    command.short_help = plain_help(command.short_help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = plain_help(param.help)
    _untyped_flags(command.params)


def _untyped_flags(params: list[Any]) -> list[Any]:
    """``params`` with no type shown for the flags (their metavar set to nothing)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A typer command whose help is plain text and whose flags show no type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_params(self)

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))  # --help is added here, not in __init__


class Group(TyperGroup):
    """A typer group whose help is plain text and whose flags show no type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_params(self)

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class App(typer.Typer):
    """A ``typer.Typer`` whose commands and callbacks all report errors through :func:`errors`,
    and whose ``--help`` shows help texts as written (:class:`Command`, :class:`Group`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, busy: str = BUSY, **kwargs: Any):  # type: ignore[override]
        """``typer.Typer.command``; ``busy`` is what the command says when the ledger is locked."""
        kwargs.setdefault("cls", Command)
        register = super().command(name, **kwargs)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            register(errors(fn, busy=busy))
            return fn

        return decorator

    def callback(self, **kwargs: Any):  # type: ignore[override]
        """``typer.Typer.callback``, its errors reported as a command's."""
        register = super().callback(**kwargs)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            register(errors(fn))
            return fn

        return decorator


# --- helpers -----------------------------------------------------------------------------------


def isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def parse_day(text: str | None):
    """The date ``text``, or today when it is None (a bad date: exit 2, naming it).

    Reads the formats the loader reads: 2025-04-21, 2025/4/21, 2025.4.21, 20250421, 2025年4月21日.

    >>> [str(parse_day(t)) for t in ("2025-04-21", "2025/4/21", "2025年4月21日", "20250421")]
    ['2025-04-21', '2025-04-21', '2025-04-21', '2025-04-21']
    """
    import datetime as dt
    import re

    import pandas as pd

    if text is None:
        return dt.date.today()
    norm = re.sub(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$", r"\1-\2-\3", text.strip())
    norm = re.sub(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$", r"\1-\2-\3", norm)
    try:  # year first only: 20-11-2024 or 11/20/2024 would be guesses
        if re.fullmatch(r"\d{8}", norm):
            day = pd.to_datetime(norm, format="%Y%m%d")
        elif re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", norm):
            day = pd.to_datetime(norm, format="%Y-%m-%d")
        else:
            day = pd.NaT
    except (ValueError, TypeError):
        day = pd.NaT
    if pd.isna(day):
        raise ValueError(f"--as-of {text!r} is not a date (write it like 2025-04-21 or 2025/4/21)")
    return day.date()


def config_with_db(config: Path | None, db: str | None = None):
    """The config file's settings (defaults when absent), with ``--db`` replacing ``[job] db_url``."""
    from dataclasses import replace

    from features.config import load_config

    cfg = load_config(config)
    return replace(cfg, job=replace(cfg.job, db_url=db)) if db else cfg


def load_county(data_dir: str, config: Path | None):
    """The config and the county loaded through the data contract."""
    from features.config import load_config
    from features.load import load_tables

    cfg = load_config(config)
    return cfg, load_tables(cfg.data, data_dir)


def open_ledger(cfg, *, create: bool = False):
    """The ledger database of ``[job] db_url``, migrated (a database behind the code: exit 2).

    A SQLite file in a folder that does not exist is refused (exit 5), so a mistyped ``--db``
    never starts a new, empty ledger: ``baoxue db upgrade --db URL`` creates one on purpose.
    A command that only reads or amends the ledger (``runs``, ``cases``, ``report``, ``users``)
    refuses a SQLite file that does not exist too (exit 5; issue 19: ``baoxue runs`` without
    ``--db`` silently created ``./baoxue.db``); ``create=True`` (the nightly run) may start one.
    """
    from jobs.nightly import open_database

    missing_folder(cfg.job.db_url)
    if not create:
        missing_file(cfg.job.db_url)
    try:
        return open_database(cfg.job.db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    except RuntimeError as exc:  # a stale migration: a usage error, said as one
        raise ValueError(str(exc)) from exc


def missing_file(url: str) -> None:
    """Raise ``DatabaseUnavailable`` when ``url`` is a SQLite file that does not exist (opening it
    would create an empty ledger)."""
    import sqlalchemy as sa

    from jobs.exits import DatabaseUnavailable

    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return
    path = Path(u.database.removeprefix("file:").split("?")[0])
    if not path.exists():
        raise DatabaseUnavailable(
            f"no ledger at {path} (--db {url}, default [job] db_url): give the --db of your ledger, or "
            f"create one on purpose with `baoxue db upgrade --db {url}` (the first `baoxue nightly` also does)"
        )


def missing_folder(url: str) -> None:
    """Raise ``DatabaseUnavailable`` when ``url`` is a SQLite file in a folder that does not exist."""
    import sqlalchemy as sa

    from jobs.exits import DatabaseUnavailable

    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return
    folder = Path(u.database.removeprefix("file:").split("?")[0]).parent
    if not folder.is_dir():
        raise DatabaseUnavailable(
            f"the database folder {folder} does not exist (--db {url}); check the path, or create a "
            f"new ledger there on purpose with `baoxue db upgrade --db {url}`"
        )


def summary_table(summary, title: str):
    """The per-table load summary (``features.load.summarize``) as a rich table."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for col in ("table", "read", "loaded", "rejected", "repaired", "by reason", "dates", "students"):
        table.add_column(col)
    for name, row in summary.iterrows():
        dates = "" if isna(row.first_date) else f"{row.first_date:%Y-%m-%d} … {row.last_date:%Y-%m-%d}"
        reasons = escape("\n".join(f"{n} × {r}" for r, n in row.rejected_by_reason.items()))
        students = "" if isna(row.students) else f"{int(row.students):,}"
        table.add_row(
            str(name),
            f"{row.rows_read:,}",
            f"{row.rows_loaded:,}",
            f"{row.rows_rejected:,}",
            f"{row.get('rows_repaired', 0):,}",
            reasons,
            dates,
            students,
        )
    return table


def written(paths: Iterable) -> None:
    """Print the files a command wrote, one a line."""
    for p in paths:
        console.print(str(p), markup=False, highlight=False)
