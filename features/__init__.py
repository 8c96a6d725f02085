"""baoxue.features: the data contract, loading and validation, the simulated county, and
the point-in-time feature builders."""

from features.config import BaoxueConfig, load_config
from features.contract import TABLES, Tables
from features.errors import BaoxueError, ConfigError, DataContractError, PointInTimeError
from features.load import LoadResult, tables_from_frames

__all__ = [
    "BaoxueConfig",
    "BaoxueError",
    "ConfigError",
    "DataContractError",
    "LoadResult",
    "PointInTimeError",
    "TABLES",
    "Tables",
    "load_config",
    "tables_from_frames",
]
