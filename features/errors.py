"""One exception family for baoxue.

Whole-table and configuration problems raise; row problems never raise (they go
to the rejects file, see :mod:`features.load`).
"""

from __future__ import annotations

__all__ = [
    "BaoxueError",
    "ConfigError",
    "DataContractError",
    "PointInTimeError",
    "ModelUnreadable",
]


class BaoxueError(Exception):
    """Base class of every error baoxue raises on purpose."""


class DataContractError(BaoxueError, ValueError):
    """A table or column breaks the data contract (missing, unreadable, too many rejects)."""


class ConfigError(BaoxueError, ValueError):
    """A configuration file or value is wrong."""


class PointInTimeError(BaoxueError, ValueError):
    """Data dated after the as-of date reached a place that must only see the past."""


class ModelUnreadable(BaoxueError):
    """A model file or URI cannot be loaded: missing, truncated, damaged or not a bundle, no
    registry at the tracking URI, no such registered model or alias (``baoxue`` exits 6,
    :mod:`jobs.exits`). ``ModelUnreadable(model, reason)``, or one message."""

    def __init__(self, model: object, reason: str | None = None) -> None:
        self.model = str(model)
        self.reason = reason
        if reason is None:  # one message that says it all
            super().__init__(self.model)
            return
        super().__init__(
            f"the model {self.model} cannot be read ({reason}); train it again with `baoxue train` "
            "or point --model at a good bundle"
        )
