"""One exception family for baoxue.

Whole-table and configuration problems raise; row problems never raise (they go
to the rejects file, see :mod:`features.load`).
"""

from __future__ import annotations

__all__ = ["BaoxueError", "ConfigError", "DataContractError", "ModelUnreadableError", "PointInTimeError"]


class BaoxueError(Exception):
    """Base class of every error baoxue raises on purpose."""


class DataContractError(BaoxueError, ValueError):
    """A table or column breaks the data contract (missing, unreadable, too many rejects)."""


class ConfigError(BaoxueError, ValueError):
    """A configuration file or value is wrong."""


class PointInTimeError(BaoxueError, ValueError):
    """Data dated after the as-of date reached a place that must only see the past."""


class ModelUnreadableError(BaoxueError):
    """The model to score with cannot be read: no registry at the tracking URI, no such
    registered model or alias, or no bundle in it. The command line ends with exit 6."""

    #: the command line's exit code for it (``jobs.cli._common.errors``)
    exit_code = 6
