"""The log of a night: every line carries the time, the run id and the stage.

:func:`configure` installs one handler on the root logger (stderr by default) with a
:class:`RunContext` filter, which adds ``run_id`` and ``stage`` to each record from two
context variables: :func:`run_context` sets the run id for the block it wraps (the nightly
job's guard does, :mod:`jobs.guard`), and :class:`jobs.stages.Stages` sets the stage when one
starts. Text lines look like::

    2026-12-04T21:03:11+0800 INFO run=20250421-3fa2b1c0 stage=assess jobs.nightly: ...

and with ``json=True`` (``baoxue nightly --log-json``) each line is one JSON object with the
keys ``ts``, ``level``, ``logger``, ``run_id``, ``stage`` and ``message``, for a log
collector. Logs carry stage names, counts and timings, never names or IDs (the callers'
rule; nothing here adds data).

>>> import io, logging
>>> buf = io.StringIO()
>>> handler = configure(level=logging.INFO, json=True, stream=buf)
>>> with run_context("20250421-abcd1234"):
...     logging.getLogger("jobs.x").info("stage %s done", "load")
>>> import json as _json
>>> line = _json.loads(buf.getvalue().splitlines()[-1])
>>> line["run_id"], line["message"], sorted(line)
('20250421-abcd1234', 'stage load done', ['level', 'logger', 'message', 'run_id', 'stage', 'ts'])
>>> reset()
"""

from __future__ import annotations

import datetime as dt
import json as _json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

__all__ = [
    "RunContext",
    "JsonFormatter",
    "TEXT_FORMAT",
    "configure",
    "reset",
    "run_context",
    "set_stage",
    "current_stage",
]

_RUN_ID: ContextVar[str] = ContextVar("baoxue_run_id", default="-")
_STAGE: ContextVar[str] = ContextVar("baoxue_stage", default="-")

#: the text format: ISO time with the UTC offset, level, run id, stage, logger, message
TEXT_FORMAT = "%(asctime)s %(levelname)s run=%(run_id)s stage=%(stage)s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class RunContext(logging.Filter):
    """Adds ``run_id`` and ``stage`` (``-`` outside a run) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = getattr(record, "run_id", None) or _RUN_ID.get()
        record.stage = getattr(record, "stage", None) or _STAGE.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 with offset), level, logger, run_id, stage, message."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")
        out = {
            "ts": ts,
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", _RUN_ID.get()),
            "stage": getattr(record, "stage", _STAGE.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return _json.dumps(out, ensure_ascii=False)


_INSTALLED: list[logging.Handler] = []


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(
    level: int = logging.WARNING, *, json: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the baoxue handler on the root logger (replacing one installed before) at ``level``."""
    reset()
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.addFilter(RunContext())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT, _DATE_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _INSTALLED.append(handler)
    return handler


def reset() -> None:
    """Remove the handler :func:`configure` installed."""
    root = logging.getLogger()
    while _INSTALLED:
        root.removeHandler(_INSTALLED.pop())


@contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Log lines in this block carry ``run_id`` (the stage is reset to ``-`` at its end)."""
    token = _RUN_ID.set(run_id)
    stage = _STAGE.set("-")
    try:
        yield
    finally:
        _STAGE.reset(stage)
        _RUN_ID.reset(token)


def set_stage(name: str) -> None:
    """The stage now running (:meth:`jobs.stages.Stages.start` calls it)."""
    _STAGE.set(name)


def current_stage() -> str:
    """The stage last started in this context (``-`` before the first)."""
    return _STAGE.get()
