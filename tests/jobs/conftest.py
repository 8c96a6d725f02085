"""Ledger databases for the job tests: a SQLite file always, PostgreSQL when BAOXUE_TEST_PG_URL is set."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from jobs.storage import connect, upgrade

PG_ENV = "BAOXUE_TEST_PG_URL"


def small_county(root, folder: str = "county", *, n_estimators: int = 40):
    """The nightly tests' county: 1,200 simulated students over 2 years (seed 11, no attendance
    oddities) written to ``root / folder``, and a small model trained on it saved to
    ``root / "bundle.joblib"``. Returns (the county's tables, the model's path)."""
    from dataclasses import replace

    from features.config import BaoxueConfig
    from features.load import load_tables
    from features.sim import simulate_county, write_county
    from training.bundle import save_bundle
    from training.pipeline import train_tables

    write_county(simulate_county(students=1200, years=2, seed=11, attendance=False), root / folder)
    cfg = BaoxueConfig()
    cfg = replace(
        cfg,
        train=replace(cfg.train, n_estimators=n_estimators, num_leaves=7, max_depth=4, min_child_samples=20),
    )
    tables = load_tables(cfg.data, root / folder).tables
    bundle, _ = train_tables(tables, cfg, evaluate_first=False)
    return tables, save_bundle(bundle, root / "bundle.joblib")


def pg_schema_url() -> tuple[str, str]:
    """A fresh schema on the test server and a URL whose search_path points at it."""
    base = os.environ[PG_ENV]
    schema = f"baoxue_t_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(base).begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    with sa.create_engine(os.environ[PG_ENV]).begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """A wide terminal for the CLI's rich output: under pytest-xdist the temporary paths are
    longer (``popen-gw1``) and rich broke the lines that the CLI tests read at 80 columns."""
    from jobs.cli._common import console

    monkeypatch.setattr(console, "_width", 200)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database URL on each backend (PostgreSQL skips, visibly, without the env var)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    url, schema = pg_schema_url()
    try:
        yield url
    finally:
        sa.create_engine(url).dispose()
        drop_pg_schema(schema)


@pytest.fixture
def engine(db_url):
    """A migrated ledger on each backend."""
    eng = connect(db_url, lock_timeout_s=5)
    upgrade(eng)
    yield eng
    eng.dispose()
