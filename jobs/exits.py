"""Exit codes of the ``baoxue`` commands, and which error gives which.

One code, one meaning, so that a scheduler (cron, systemd, Airflow) can tell a night that
needs the operator from one that can simply be retried:

====  ========================================================================================
code  meaning
====  ========================================================================================
0     done (or nothing to do: that night's run exists)
1     the night stopped in a stage for another reason: a fault injected by ``BAOXUE_FAIL_AT``,
      a county of a province failed (rerun with ``--resume``); the ledger is unchanged
2     bad data or configuration: a contract, config or argument error, a bad option, a salt
      that is too short or differs from the ledger's (:class:`SaltMismatch`), a file missing
3     locked: another nightly run holds the ledger's lock; try again later
4     stale or incomplete input (:class:`StaleInput`): the data is older than the night or
      incomplete; fix the export, or accept it explicitly
5     the database is unreachable, read-only, or refuses a write (:class:`DatabaseUnavailable`)
6     the model cannot be read: missing, truncated or not a bundle (:class:`ModelUnreadable`)
10    ``baoxue monitor --fail-on``: a monitored check is at or above the level asked for
====  ========================================================================================

:func:`exit_for` maps an exception to its code and one-line message; the CLI's one error
path (:func:`jobs.cli._common.errors`) uses it, and anything it does not know is a bug and
keeps its traceback.

>>> exit_for(ModelUnreadable("model.joblib", "truncated file"))
(6, 'error: the model model.joblib cannot be read (truncated file); train it again with `baoxue train` or point --model at a good bundle')
>>> exit_for(KeyError("x")) is None
True
"""

from __future__ import annotations

from features.errors import BaoxueError, ConfigError, ModelUnreadable

__all__ = [
    "OK",
    "STAGE_FAILED",
    "BAD_INPUT",
    "LOCKED",
    "STALE",
    "DATABASE",
    "MODEL",
    "MONITOR_FAIL_ON",
    "EXIT_CODES",
    "DatabaseUnavailable",
    "ModelUnreadable",
    "StaleInput",
    "SaltMismatch",
    "exit_for",
    "one_line",
]

OK = 0
STAGE_FAILED = 1
BAD_INPUT = 2
LOCKED = 3
STALE = 4
DATABASE = 5
MODEL = 6
MONITOR_FAIL_ON = 10

#: code -> what it means (the README's table is this one)
EXIT_CODES: dict[int, str] = {
    OK: "done, or nothing to do (that night's run exists)",
    STAGE_FAILED: "the night stopped in a stage for another reason (an injected fault, a county of a "
    "province failed); the ledger is unchanged",
    BAD_INPUT: "bad data or configuration (contract, config, option, salt, missing file)",
    LOCKED: "another nightly run holds the ledger's lock",
    STALE: "stale or incomplete input",
    DATABASE: "the database is unreachable, read-only or refuses a write",
    MODEL: "the model cannot be read (missing, truncated, not a bundle)",
    MONITOR_FAIL_ON: "`baoxue monitor --fail-on`: a check is at or above the level asked for",
}


class DatabaseUnavailable(BaoxueError):
    """The ledger database cannot be reached, is read-only, or refuses a write (exit 5)."""


class StaleInput(BaoxueError, ValueError):
    """The night's input is older than the night, or incomplete (exit 4)."""


class SaltMismatch(ConfigError):
    """The id salt is not the one the ledger's students were pseudonymised with (exit 2)."""


def one_line(text: object, limit: int = 300) -> str:
    """The first line of ``text``, at most ``limit`` characters (a database driver's message
    runs over many lines and quotes the SQL).

    >>> one_line("could not connect\\nDETAIL: the server is down")
    'could not connect'
    """
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def exit_for(
    exc: BaseException, *, busy: str = "the database is busy ({exc}); try again"
) -> tuple[int, str] | None:
    """Exit code and one-line message of an error baoxue knows; None for anything else (a bug)."""
    import sqlalchemy.exc as sa_exc

    from jobs.stages import InjectedFault
    from jobs.storage import LockTimeout

    if isinstance(exc, LockTimeout):
        return LOCKED, busy.format(exc=exc)
    if isinstance(exc, InjectedFault):
        return STAGE_FAILED, f"stopped: {exc}; the database is unchanged"
    if isinstance(exc, DatabaseUnavailable):
        return DATABASE, f"error: {one_line(exc)}"
    if isinstance(exc, ModelUnreadable):
        return MODEL, f"error: {one_line(exc)}"
    if isinstance(exc, StaleInput):
        return STALE, f"error: {exc}"
    if isinstance(exc, sa_exc.SQLAlchemyError):
        orig = getattr(exc, "orig", None) or exc
        what = "unreachable or refused the statement" if isinstance(exc, sa_exc.OperationalError) else "error"
        return DATABASE, f"error: database {what}: {one_line(orig)} (run with --debug for the traceback)"
    if isinstance(exc, BaoxueError | ValueError | FileNotFoundError):
        return BAD_INPUT, f"error: {exc}"
    return None
