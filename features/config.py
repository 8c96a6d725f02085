"""Typed configuration: one frozen dataclass per stage, read from one TOML file.

``baoxue.toml`` has sections ``[data] [rules] [features] [train] [risk] [job] [compute] [web]``.
Every default is written once, on a dataclass field. An unknown key is an error
that suggests the nearest name.

Examples
--------
>>> cfg = load_config(None)
>>> cfg.rules.suspected_dropout_days
3
>>> parse_config({"rules": {"suspected_dropout_dayz": 4}})
Traceback (most recent call last):
...
features.errors.ConfigError: [rules] unknown key 'suspected_dropout_dayz'; did you mean 'suspected_dropout_days'?
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from features.errors import ConfigError

__all__ = [
    "DataConfig",
    "RulesConfig",
    "FeaturesConfig",
    "TrainConfig",
    "RiskConfig",
    "JobConfig",
    "ComputeConfig",
    "WebConfig",
    "ReportsConfig",
    "WATCHED_GROUPS",
    "BaoxueConfig",
    "feature_settings",
    "load_config",
    "parse_config",
]


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where the input tables come from and how a county's export is mapped onto the contract."""

    source: str = "data"  # folder of Parquet/CSV/XLSX files, or a SQLAlchemy URL
    mappings: tuple[str, ...] = ()  # built-in mapping names (e.g. "national_registry") or TOML paths
    # county header -> contract column; a nested table maps one table only: {"students": {...}}
    columns: dict[str, Any] = field(default_factory=dict)
    # column (or "table.column") -> {county code: contract code}
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_reject_share: float = 0.05  # a required table losing more rows than this stops the run
    rejects_file: str = "rejects.csv"
    id_salt: str = ""  # secret salt for the keyed hash of registry numbers / national IDs
    id_salt_env: str = "BAOXUE_ID_SALT"  # environment variable read when id_salt is empty
    sql_schema: str | None = None  # database schema when source is a SQLAlchemy URL
    # the county's time zone: a timestamp with a zone (2024-09-01T16:30:00Z, +00:00, a tz-aware
    # Parquet column) is converted to it before its date is taken; naive timestamps are local
    timezone: str = "Asia/Shanghai"
    # XLSX workbooks: table -> sheet name(s) to read; a table not named here reads every sheet
    # whose header matches the table (after the column mappings)
    sheets: dict[str, Any] = field(default_factory=dict)
    # the spreadsheet row (1 = first) that holds the header, for title rows above it: one number
    # for every table, or {table = row} (tables not named: row 1); XLSX and CSV
    header_row: int | dict[str, Any] = 1
    # the default school calendar (no calendar table, or dates it does not cover): China's
    # statutory holidays and 调休 make-up workdays (package chinesecalendar), winter break from
    # this many days before to this many days after the lunar new year's day (春节), summer break
    # from summer_break_start to summer_break_end (MM-DD, inclusive)
    winter_break_before_days: int = 21
    winter_break_after_days: int = 14
    summer_break_start: str = "07-11"
    summer_break_end: str = "08-31"
    # the nightly job's input checks (jobs.freshness): attendance must reach the night within
    # this many calendar days, not counting the days without school (weekends, holidays)
    max_staleness_days: int = 3
    # a school's latest school days must hold at least this share of its usual attendance rows
    min_rows_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.max_reject_share <= 1:
            raise ConfigError(f"[data] max_reject_share must be in [0, 1], got {self.max_reject_share}")
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"[data] timezone {self.timezone!r} is not a time zone name (e.g. 'Asia/Shanghai')"
            ) from None
        rows = self.header_row.values() if isinstance(self.header_row, dict) else [self.header_row]
        if any(not isinstance(r, int) or isinstance(r, bool) or r < 1 for r in rows):
            raise ConfigError(
                f"[data] header_row must be a row number >= 1 (or {{table = row}}), got {self.header_row!r}"
            )
        for table, names in self.sheets.items():
            ok = isinstance(names, str) or (
                isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
            )
            if not ok:
                raise ConfigError(
                    f"[data.sheets] {table} must be a sheet name or a list of names, got {names!r}"
                )
        for name in ("winter_break_before_days", "winter_break_after_days"):
            if not 0 <= getattr(self, name) <= 90:
                raise ConfigError(f"[data] {name} must be between 0 and 90 days, got {getattr(self, name)}")
        import re

        for name in ("summer_break_start", "summer_break_end"):
            v = getattr(self, name)
            m = re.fullmatch(r"(\d{2})-(\d{2})", str(v))
            if not m or not 1 <= int(m.group(1)) <= 12 or not 1 <= int(m.group(2)) <= 31:
                raise ConfigError(f"[data] {name} must be a month-day like '07-11', got {v!r}")
        if self.summer_break_end < self.summer_break_start:
            raise ConfigError("[data] summer_break_end must not be before summer_break_start (same year)")

        if self.max_staleness_days < 0:
            raise ConfigError(f"[data] max_staleness_days must be >= 0, got {self.max_staleness_days}")
        if not 0 <= self.min_rows_share <= 1:
            raise ConfigError(f"[data] min_rows_share must be in [0, 1], got {self.min_rows_share}")

    def header_row_of(self, table: str) -> int:
        """The header row of ``table``'s file (1 = the first row)."""
        if isinstance(self.header_row, dict):
            return int(self.header_row.get(table, 1))
        return int(self.header_row)

    def sheets_of(self, table: str) -> tuple[str, ...] | None:
        """The sheets ``[data.sheets]`` names for ``table`` (``None``: every matching sheet)."""
        names = self.sheets.get(table)
        if names is None:
            return None
        return (names,) if isinstance(names, str) else tuple(names)


@dataclass(frozen=True, kw_only=True)
class RulesConfig:
    """The deterministic policy rules of DOMAIN.md; every day count is a county choice."""

    report_48h_days: int = 2  # 48 hours absent without approved leave -> report (2 school days)
    suspected_dropout_days: int = 3  # MORE THAN this many consecutive unexcused days -> 疑似辍学
    registry_update_days: int = 5  # this many consecutive days -> registry 疑似辍学 mark (some: 7)
    registry_dropout_days: int = 30  # still out after this many calendar days -> registry 辍学
    principal_leave_days: int = 5  # leave longer than this needs the principal's approval
    head_teacher_leave_days: int = 2  # leave up to this the head teacher approves
    chronic_absence_share: float = 0.10  # baseline rule: absent >= 10% of school days

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v <= 0:
                raise ConfigError(f"[rules] {f.name} must be > 0, got {v}")


@dataclass(frozen=True, kw_only=True)
class FeaturesConfig:
    """Feature building."""

    recent_windows: tuple[int, ...] = (10, 20)  # school-day windows for recent absence
    recent_change_days: int = 90  # 'recent' family/hardship/left-behind changes
    bottom_share: float = 0.20  # 学困生: bottom 20% of the class on the composite
    fail_share: float = 0.60  # a subject is failed below 60% of full marks (or level D)
    use_restricted: tuple[str, ...] = ()  # restricted fields allowed as features (audit only otherwise)
    # DOMAIN.md "Periods": start of autumn term (September) and spring term (March, after
    # Spring Festival); the window is the first this-many calendar days of the term
    phase_window_days: int = 28
    # DOMAIN.md "Stages": grade 9 pushed out before 中考; usual exam date (MM-DD) and the
    # "month before" window in calendar days
    zhongkao_date: str = "06-15"
    zhongkao_window_days: int = 30
    # DOMAIN.md "Who is watched most": restricted fields usable as features only when listed
    # in use_restricted: ethnicity_code, disability_type, health_status, prisoner_child,
    # incarceration


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Labels, temporal validation and model fitting."""

    horizon_days: int = 90  # label window after as_of (DATA_CONTRACT "The label")
    suspected_resolution_days: int = 30  # a suspected mark not resolved by a return within this
    streak_days: int = 20  # or this many consecutive unexcused school days -> positive
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    # isotonic calibration on few positives collapses the scores into a few steps (ties that a
    # hash then orders): below this many calibration positives, sigmoid (strictly monotone) is used
    isotonic_min_positives: int = 200
    # as-of dates: the first day of these months (school terms; July/August are holidays)
    as_of_months: tuple[int, ...] = (9, 10, 11, 12, 1, 2, 3, 4, 5, 6)
    valid_months: int = 3  # as-of months of the later period used for early stopping + calibration
    early_stopping_share: float = 0.5  # share of that period's students for early stopping; rest calibrate
    early_stopping_rounds: int = 30  # stop when validation log loss has not improved for this many trees
    # LightGBM: explanation (TreeSHAP) cost grows with depth squared, so depth and trees stay bounded
    n_estimators: int = 300
    num_leaves: int = 15
    max_depth: int = 6
    min_child_samples: int = 50
    learning_rate: float = 0.05
    # monotone constraints on the features with a known direction (training.monotone): more
    # unexcused absence or a failed subject never lowers the risk; cost: benchmarks/RESULTS.md
    monotone: bool = True
    # a time-budgeted search over a small fixed grid of tree settings (training.fit.SEARCH_GRID),
    # scored on the early-stopping rows of the validation period; 0 = off (the settings above)
    search_seconds: float = 0.0
    n_jobs: int = 1  # LightGBM threads (deterministic either way)
    seed: int = 0
    # large panels (training.sample): above this many fit rows, LightGBM fits on every positive
    # and this share of each as-of date's negatives, reweighted (calibration rows are never
    # sampled); 1.0 = never sample. Precision@k lost: benchmarks/RESULTS.md "Training at scale"
    negative_sample: float = 0.25
    sample_above_rows: int = 2_000_000  # county panels stay below: they train on every row
    sample_seed: int = 0  # which negatives are kept (same seed, same rows, any row order)
    top_shares: tuple[float, ...] = (0.01, 0.05, 0.10)  # list sizes evaluated, as shares of the cohort
    n_bins: int = 10  # bins of the expected calibration error and the reliability table
    min_group_size: int = 20  # fairness cells with fewer students are suppressed (NaN)
    tracking_uri: str = "sqlite:///mlruns.db"
    experiment: str = "baoxue"
    registered_model: str = "baoxue"  # MLflow registered model; the new version gets alias 'champion'
    # champion/challenger (training.promotion): a challenger is promoted when its precision at
    # capacity on the latest labelled window is not worse than the champion's by more than this
    promote_tolerance: float = 0.02

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ConfigError(f"[train] horizon_days must be >= 1, got {self.horizon_days}")
        for name in ("suspected_resolution_days", "streak_days", "valid_months", "n_estimators", "n_bins"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[train] {name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.early_stopping_share < 1:
            raise ConfigError(
                f"[train] early_stopping_share must be in (0, 1), got {self.early_stopping_share}"
            )
        if not self.as_of_months or any(not 1 <= m <= 12 for m in self.as_of_months):
            raise ConfigError(f"[train] as_of_months must be months 1-12, got {self.as_of_months}")
        if any(not 0 < s <= 1 for s in self.top_shares):
            raise ConfigError(f"[train] top_shares must be in (0, 1], got {self.top_shares}")
        if not 0 < self.negative_sample <= 1:
            raise ConfigError(f"[train] negative_sample must be in (0, 1], got {self.negative_sample}")
        if self.search_seconds < 0:
            raise ConfigError(f"[train] search_seconds must be >= 0, got {self.search_seconds}")
        if self.sample_above_rows < 0:
            raise ConfigError(f"[train] sample_above_rows must be >= 0, got {self.sample_above_rows}")
        if not 0 <= self.promote_tolerance < 1:
            raise ConfigError(f"[train] promote_tolerance must be in [0, 1), got {self.promote_tolerance}")


#: the watched groups (重点监测, DOMAIN.md) that ``[risk] watched_groups`` may name
WATCHED_GROUPS = ("left_behind", "migrant", "poor", "disabled_household", "orphan", "unsupported")


@dataclass(frozen=True, kw_only=True)
class RiskConfig:
    """Scoring, tiers and ranking."""

    # thresholds: the model bundle's, chosen on its evaluation year (training.thresholds), when
    # threshold_source = "model" and the bundle carries them; else these defaults
    threshold_source: Literal["model", "config"] = "model"
    red_risk: float = 0.10  # calibrated 90-day risk at or above this -> red (act today)
    yellow_risk: float = 0.03  # a school's prevention list takes only students at or above this
    red_min_lift: float = 10.0  # training picks the lowest red threshold whose list reaches this lift
    yellow_min_lift: float = 3.0  # ... and the lowest yellow threshold at which the yellow tier reaches this
    # how that yellow threshold is read: "tier" = the yellow tier as a whole (the band below red,
    # within each school's places) reaches yellow_min_lift, and no student below yellow_floor_lift x
    # the base rate is listed by risk; "student" = every yellow student's own risk >= yellow_min_lift x
    # the base rate (a marginal floor: shorter, more precise lists, lower recall)
    yellow_choice: Literal["tier", "student"] = "tier"
    yellow_floor_lift: float = 2.0  # "tier": per-student floor (a trigger needs min_trigger_lift)
    min_trigger_lift: float = 2.0  # a trigger is a yellow / blue condition only at this measured lift
    exit_margin: float = (
        1.25  # a listed student leaves once the school rank > capacity x this, 2 weeks running
    )
    # ... or once the risk < this, 2 weeks running (0: the yellow threshold / exit_margin)
    yellow_exit_risk: float = 0.0
    yellow_unexcused_days: int = 2  # trigger: >= this many unexcused days in the last 10 school days
    yellow_grade_drop: float = 25.0  # trigger: composite grade percentile down this much since the last exam
    blue_risk_ratio: float = 2.0  # risk at least this many times the risk ~4 weeks ago -> blue
    blue_min_risk: float = 0.02  # ... when the risk now is at least this (doubling from 0.1% is noise)
    blue_max_share: float = 0.10  # blue never covers more than this share of the cohort (highest risk first)
    # watched groups (重点监测) -> blue: left_behind, migrant, poor, disabled_household, orphan, unsupported
    watched_groups: tuple[str, ...] = (
        "left_behind",
        "migrant",
        "poor",
        "disabled_household",
        "orphan",
        "unsupported",
    )
    capacity_per_school: int = 10  # prevention cases per school when staff.max_open_cases is missing
    # and at most this many per 100 students of the school (at least 1; 0 = staff limits only)
    capacity_per_100: float = 0.0
    owner_roles: tuple[str, ...] = (
        "counsellor",
        "moral_ed",
        "subject_teacher",
    )  # own prevention cases (包保)
    borderline_band: int = 0  # randomise among this many ranks either side of the cut-off (0 = off)
    borderline_seed: int = 0  # the seed of that lottery (recorded with the run)
    explain: Literal["listed", "all"] = "listed"  # whose reasons are computed
    top_reasons: int = 3  # reasons per student
    language: Literal["zh", "en"] = "zh"

    def __post_init__(self) -> None:
        for name in ("red_risk", "yellow_risk", "yellow_exit_risk", "blue_min_risk", "blue_max_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"[risk] {name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("capacity_per_school", "borderline_band", "yellow_unexcused_days", "top_reasons"):
            if getattr(self, name) < 0:
                raise ConfigError(f"[risk] {name} must be >= 0, got {getattr(self, name)}")
        unknown = set(self.watched_groups) - set(WATCHED_GROUPS)
        if unknown:
            raise ConfigError(
                f"[risk] watched_groups: unknown group {sorted(unknown)[0]!r}; known: {', '.join(WATCHED_GROUPS)}"
            )
        for name in (
            "red_min_lift",
            "yellow_min_lift",
            "yellow_floor_lift",
            "min_trigger_lift",
            "capacity_per_100",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"[risk] {name} must be >= 0, got {getattr(self, name)}")
        if self.exit_margin < 1:
            raise ConfigError(f"[risk] exit_margin must be >= 1, got {self.exit_margin}")
        if self.yellow_choice not in ("tier", "student"):
            raise ConfigError(f"[risk] yellow_choice must be 'tier' or 'student', got {self.yellow_choice!r}")
        if self.threshold_source not in ("model", "config"):
            raise ConfigError(
                f"[risk] threshold_source must be 'model' or 'config', got {self.threshold_source!r}"
            )
        if self.explain not in ("listed", "all"):
            raise ConfigError(f"[risk] explain must be 'listed' or 'all', got {self.explain!r}")


@dataclass(frozen=True, kw_only=True)
class JobConfig:
    """The nightly job."""

    db_url: str = "sqlite:///baoxue.db"
    model_uri: str = ""
    out_dir: str = "out"
    # the case ledger (台账); a person decides every step, the job only suggests and records
    escalation_days: int = 14  # suspected dropout open this long, no return -> suggest next step 四步法
    return_days: int = 5  # back at school this many consecutive school days -> 'returned', proposed for 销号
    auto_close_days: int = 14  # proposed for closing this many days, no staff answer -> closed automatically
    owner_max_open_cases: int = 15  # a case owner's load when staff.max_open_cases is missing
    previous_days: int = 28  # 'previous' risk = the stored snapshot about this many days earlier (4 weeks)
    prior_days: int = (
        7  # 'prior' list = the stored snapshot about a week earlier (stable lists, [risk] exit_margin)
    )
    change_min: float = 0.05  # a probability change of at least this is 'rising' / 'falling'
    catch_up_days: int = 31  # after missed nights, replay the rules for up to this many missed days
    lock_timeout_s: float = 60.0  # a second run waits this long for the database lock, then exits
    # the validated store (features.store): what passed the contract, so a night validates only
    # what changed; off by default until its read path beats a full load (RESULTS.md, issue 21);
    # store_dir "" = next to the ledger (<ledger file>.store/ for SQLite, <out_dir>/store else)
    store: bool = False
    store_dir: str = ""

    def __post_init__(self) -> None:
        for name in ("escalation_days", "return_days", "auto_close_days", "previous_days", "prior_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[job] {name} must be >= 1, got {getattr(self, name)}")
        for name in ("owner_max_open_cases", "catch_up_days", "change_min", "lock_timeout_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"[job] {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class ComputeConfig:
    """Where a province's counties are computed (:mod:`jobs.province`); a county folder always
    runs in-process. Results do not depend on it (it is not part of a run's key)."""

    engine: Literal["local", "dask"] = "local"  # local: county after county in this process
    # dask: a scheduler address (tcp://host:8786), or "local-cluster" to start one on this machine
    scheduler: str = "local-cluster"
    n_workers: int = 2  # local-cluster: worker processes (one county at a time each)
    threads_per_worker: int = 1  # local-cluster: threads per worker

    def __post_init__(self) -> None:
        if self.engine not in ("local", "dask"):
            raise ConfigError(f"[compute] engine must be 'local' or 'dask', got {self.engine!r}")
        for name in ("n_workers", "threads_per_worker"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[compute] {name} must be >= 1, got {getattr(self, name)}")
        if self.scheduler != "local-cluster" and "://" not in self.scheduler:
            raise ConfigError(
                "[compute] scheduler must be 'local-cluster' or an address such as "
                f"'tcp://host:8786', got {self.scheduler!r}"
            )


@dataclass(frozen=True, kw_only=True)
class WebConfig:
    """The staff web app (``baoxue serve``). Not part of a run's key: it changes no result."""

    session_minutes: int = 30  # a login ends after this many minutes without a request
    max_failed_logins: int = 5  # this many wrong passwords in a row lock the account ...
    lockout_minutes: int = 15  # ... for this long
    secret_key: str = ""  # signs the session cookie; "" = a random key per process (logins end on restart)
    secure_cookies: bool = False  # Secure flag on the cookies (true behind HTTPS)
    # the intervention evaluation report researchers read at /research/evidence
    # (`baoxue evaluate-interventions --out FILE`); "" = none
    evidence_report: str = ""

    def __post_init__(self) -> None:
        for name in ("session_minutes", "max_failed_logins", "lockout_minutes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[web] {name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class ReportsConfig:
    """The reports' periods. Not part of a run's key: it changes no list."""

    # the days of the month the township's 《新增疑似辍学学生情况统计表》 is due: each table covers
    # the days since the one before (the 30th stands for the month's last day in February)
    statistics_days: tuple[int, ...] = (10, 20, 30)

    def __post_init__(self) -> None:
        days = tuple(self.statistics_days)
        if (
            not days
            or any(not isinstance(d, int) or not 1 <= d <= 31 for d in days)
            or list(days) != sorted(set(days))
        ):
            raise ConfigError(
                f"[reports] statistics_days must be increasing days of the month (1-31), got {list(days)}"
            )


@dataclass(frozen=True, kw_only=True)
class BaoxueConfig:
    """The whole configuration."""

    data: DataConfig = field(default_factory=DataConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    job: JobConfig = field(default_factory=JobConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    web: WebConfig = field(default_factory=WebConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)

    def digest(self) -> str:
        """A short hash of the configuration, recorded with every run."""
        blob = json.dumps(asdict(self), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def feature_settings(config: BaoxueConfig | None) -> tuple[FeaturesConfig, RulesConfig]:
    """The ``[features]`` and ``[rules]`` settings every feature builder reads (the defaults
    for ``None``).

    The whole :class:`BaoxueConfig` is required: the attendance rule flags and the names of
    some columns follow the county's ``[rules]``, so a bare :class:`FeaturesConfig` (which
    would silently bring the default rules) is refused.

    >>> fc, rules = feature_settings(BaoxueConfig(rules=RulesConfig(registry_update_days=7)))
    >>> fc.recent_windows, rules.registry_update_days
    ((10, 20), 7)
    >>> feature_settings(FeaturesConfig())
    Traceback (most recent call last):
    ...
    TypeError: pass the whole BaoxueConfig (e.g. BaoxueConfig(features=..., rules=...)), not a bare FeaturesConfig: the features follow the county's [rules] too
    """
    if config is None:
        return FeaturesConfig(), RulesConfig()
    if isinstance(config, BaoxueConfig):
        return config.features, config.rules
    raise TypeError(
        "pass the whole BaoxueConfig (e.g. BaoxueConfig(features=..., rules=...)), not a bare "
        f"{type(config).__name__}: the features follow the county's [rules] too"
    )


_SECTIONS = {f.name: f.type for f in fields(BaoxueConfig)}
_CLASSES = {
    "data": DataConfig,
    "rules": RulesConfig,
    "features": FeaturesConfig,
    "train": TrainConfig,
    "risk": RiskConfig,
    "job": JobConfig,
    "compute": ComputeConfig,
    "web": WebConfig,
    "reports": ReportsConfig,
}


def _unknown(where: str, key: str, known: list[str]) -> ConfigError:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(known)}"
    return ConfigError(f"{where} unknown key {key!r}{hint}")


def _coerce(section: str, cls: type, raw: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise _unknown(f"[{section}]", key, list(known))
        ftype = str(known[key].type)
        if ftype.startswith("tuple") and isinstance(value, list | tuple):
            value = tuple(value)
        elif ftype.startswith("tuple") and isinstance(value, str):
            value = (value,)
        if ftype.startswith("Literal"):
            allowed = get_args(eval(ftype, {"Literal": Literal}))  # noqa: S307 - our own annotation
            if value not in allowed:
                raise ConfigError(f"[{section}] {key} must be one of {list(allowed)}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def parse_config(raw: dict[str, Any]) -> BaoxueConfig:
    """Build a :class:`BaoxueConfig` from a parsed TOML mapping."""
    sections: dict[str, Any] = {}
    for name, body in raw.items():
        if name not in _CLASSES:
            raise _unknown("baoxue.toml:", name, list(_CLASSES))
        if not isinstance(body, dict):
            raise ConfigError(f"[{name}] must be a table, got {type(body).__name__}")
        sections[name] = _coerce(name, _CLASSES[name], body)
    return BaoxueConfig(**sections)


def load_config(path: str | Path | None) -> BaoxueConfig:
    """Read ``baoxue.toml`` (``None``: all defaults)."""
    if path is None:
        return BaoxueConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return parse_config(raw)
