"""The stage seam of a night: fault injection before each stage, timing and a log line after it.

A night runs its :data:`STAGES` through one :class:`Stages` object: ``start(name)`` checks the
injected fault (:func:`current_fault`) and ``done(name)`` times the stage, logs it and calls the
progress callback. Production code never takes a fault parameter; a fault comes from

- the environment: ``BAOXUE_FAIL_AT=<stage>`` (:data:`FAIL_ENV`) stops a run just before that
  stage (drills, the kill-safety tests), and ``BAOXUE_FAIL_COUNTY=<code>[:how],...``
  (:data:`FAIL_COUNTY_ENV`, read by :func:`county_faults`) restricts it to some counties of a
  province, where ``how`` can also make the worker process die;
- or :func:`inject_fault`, a context manager that overrides the environment in its block
  (tests, and the province engine for each county's own fault)::

      with inject_fault("cases"):
          run_nightly(cfg, as_of)          # raises InjectedFault before stage 'cases'

Logs carry stage names and timings, never names or IDs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "STAGES",
    "COMPUTE_STAGES",
    "FAIL_ENV",
    "FAIL_COUNTY_ENV",
    "FAULT_HOWS",
    "InjectedFault",
    "Fault",
    "fault_from_env",
    "current_fault",
    "inject_fault",
    "county_faults",
    "Stages",
]

log = logging.getLogger(__name__)

#: the stages of a run, in order (``BAOXUE_FAIL_AT`` takes one of these)
STAGES: tuple[str, ...] = ("load", "features", "assess", "diff", "snapshot", "cases", "record", "commit")

#: the stages of the compute part of a night (where the data is; a Dask worker in a province)
COMPUTE_STAGES: tuple[str, ...] = ("load", "features", "assess", "diff")

#: environment variable that stops a run just before the stage it names (tests, drills)
FAIL_ENV = "BAOXUE_FAIL_AT"

#: environment variable that makes some counties of a province fail (see :func:`county_faults`)
FAIL_COUNTY_ENV = "BAOXUE_FAIL_COUNTY"

#: how an injected fault stops the run: raise :class:`InjectedFault`, or the process dies
#: (every attempt, or the first attempt only)
FAULT_HOWS: tuple[str, ...] = ("raise", "exit", "exit_once")


class InjectedFault(RuntimeError):
    """Raised by an injected fault (:data:`FAIL_ENV`, :func:`inject_fault`)."""


@dataclass(frozen=True)
class Fault:
    """A fault to inject: stop just before ``stage`` ('' = none).

    ``how`` is ``raise`` (:class:`InjectedFault`), ``exit`` (the process dies with status 70:
    a Dask worker killed) or ``exit_once`` (dies unless the file ``marker`` exists, and
    creates it first, so a retry succeeds).
    """

    stage: str = ""
    how: str = "raise"
    marker: str = ""

    def __post_init__(self) -> None:
        if self.stage and self.stage not in STAGES:
            raise ValueError(f"{FAIL_ENV}={self.stage!r} is not a stage; use one of {', '.join(STAGES)}")
        if self.how not in FAULT_HOWS:
            raise ValueError(f"fault {self.how!r}: use one of {', '.join(FAULT_HOWS)}")

    def check(self, stage: str) -> None:
        """Stop here if this fault is set for ``stage`` (see the class docstring)."""
        if not self.stage or self.stage != stage:
            return
        if self.how == "raise":
            raise InjectedFault(f"{FAIL_ENV}={stage}: run stopped before stage {stage!r} (fault injection)")
        if self.how == "exit_once":
            marker = Path(self.marker)
            if marker.exists():
                return  # the first attempt died: this one runs
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        os._exit(70)  # the process dies (fault injection)


_OVERRIDE: ContextVar[Fault | None] = ContextVar("baoxue_fault", default=None)


def fault_from_env() -> Fault:
    """The fault ``BAOXUE_FAIL_AT`` names (none when unset); an unknown stage is a ``ValueError``.

    >>> fault_from_env() == Fault() or "BAOXUE_FAIL_AT is set"
    True
    """
    return Fault(os.environ.get(FAIL_ENV, "").strip())


def current_fault() -> Fault:
    """The fault in force: the innermost :func:`inject_fault`, else :func:`fault_from_env`."""
    override = _OVERRIDE.get()
    return fault_from_env() if override is None else override


@contextmanager
def inject_fault(fault: Fault | str) -> Iterator[Fault]:
    """Inject ``fault`` (a :class:`Fault` or a stage name; ``''`` = none, whatever the
    environment says) into the runs started in this block.

    >>> with inject_fault("cases") as f:
    ...     current_fault().stage
    'cases'
    >>> try:
    ...     with inject_fault("cases"):
    ...         Stages().start("cases")
    ... except InjectedFault as exc:
    ...     print(exc)
    BAOXUE_FAIL_AT=cases: run stopped before stage 'cases' (fault injection)
    """
    fault = Fault(fault) if isinstance(fault, str) else fault
    token = _OVERRIDE.set(fault)
    try:
        yield fault
    finally:
        _OVERRIDE.reset(token)


def county_faults(codes: Iterable[str], stage_fault: Fault | None = None) -> dict[str, Fault]:
    """Each county's fault: ``BAOXUE_FAIL_COUNTY=<code>[:how][,<code>[:how]...]`` restricts the
    stage fault (default :func:`fault_from_env`; stage ``features`` when it names none) to
    those counties, with ``how`` from :data:`FAULT_HOWS` (default ``raise``); the other
    counties get none. When the variable is unset every county gets the stage fault. A
    process can only die in a compute stage (:data:`COMPUTE_STAGES`).

    >>> county_faults(["990101"], Fault("cases"))
    {'990101': Fault(stage='cases', how='raise', marker='')}
    """
    stage_fault = fault_from_env() if stage_fault is None else stage_fault
    codes = list(codes)
    spec = os.environ.get(FAIL_COUNTY_ENV, "").strip()
    if not spec:
        return dict.fromkeys(codes, stage_fault)
    found = dict.fromkeys(codes, Fault())
    for item in spec.split(","):
        county, _, how = item.strip().partition(":")
        how = how or "raise"
        if how not in FAULT_HOWS:
            raise ValueError(f"{FAIL_COUNTY_ENV}={spec!r}: after ':' use one of {', '.join(FAULT_HOWS)}")
        stage = stage_fault.stage or "features"
        if how != "raise" and stage not in COMPUTE_STAGES:
            raise ValueError(
                f"{FAIL_COUNTY_ENV}={spec!r}: a worker can only die in a compute stage "
                f"({', '.join(COMPUTE_STAGES)}), not before {stage!r}"
            )
        if county in found:
            found[county] = Fault(stage, how)
    return found


class Stages:
    """Stage bookkeeping of one part of a night: the fault in force (:func:`current_fault`,
    read when this is made) checked before a stage; seconds, a log line and
    ``on_stage(name, seconds)`` after it. ``seconds`` accumulates per stage name.
    """

    def __init__(
        self,
        on_stage: Callable[[str, float], None] | None = None,
        *,
        seconds: dict[str, float] | None = None,
    ) -> None:
        self.fault = current_fault()
        self.on_stage = on_stage
        self.seconds: dict[str, float] = dict(seconds or {})
        self.clock = time.perf_counter()

    def add(self, seconds: dict[str, float]) -> None:
        """Add stage seconds timed elsewhere (the lock, another part of the night)."""
        for name, took in seconds.items():
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)

    def start(self, name: str) -> None:
        """Mark ``name`` as the stage running (log lines and a failed night's record say it),
        check the fault for it, then start its clock."""
        from jobs.logs import set_stage

        set_stage(name)
        self.fault.check(name)
        log.info("stage %s", name)
        self.restart()

    def restart(self) -> None:
        """Restart the clock without a fault check (a stage that goes on in another part)."""
        self.clock = time.perf_counter()

    def done(self, name: str) -> None:
        """Stage ``name`` is done: add its seconds, log them, call ``on_stage``."""
        took = round(time.perf_counter() - self.clock, 3)
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
        log.info("stage %s done in %.1f s", name, took)
        if self.on_stage is not None:
            self.on_stage(name, took)
