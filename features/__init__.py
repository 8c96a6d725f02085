"""baoxue.features: the data contract, loading and validation, the simulated county, and
the point-in-time feature builders."""

from features.academic import academic_features
from features.attendance import attendance_features
from features.build import BUILDERS, build_features, build_panel, feature_columns
from features.catalog import catalog, catalog_markdown, phrase
from features.cohort import cohort
from features.config import BaoxueConfig, load_config
from features.context import context_features
from features.contract import TABLES, Tables
from features.errors import BaoxueError, ConfigError, DataContractError, PointInTimeError
from features.hardship import hardship_features
from features.left_behind import left_behind_features
from features.load import LoadResult, tables_from_frames

__all__ = [
    "BUILDERS",
    "academic_features",
    "attendance_features",
    "build_features",
    "build_panel",
    "catalog",
    "catalog_markdown",
    "cohort",
    "context_features",
    "feature_columns",
    "hardship_features",
    "left_behind_features",
    "phrase",
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
