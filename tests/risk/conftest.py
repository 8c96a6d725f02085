"""Shared fixtures for the scoring tests: a small simulated county and a model trained on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from features.build import build_features
from features.config import BaoxueConfig
from features.load import tables_from_frames
from features.sim import simulate_county


@pytest.fixture(scope="session")
def risk_config() -> BaoxueConfig:
    cfg = BaoxueConfig()
    # small trees: the machine is shared and CI must stay short
    train = replace(cfg.train, n_estimators=60, num_leaves=7, max_depth=4, min_child_samples=20)
    return replace(cfg, train=train)


@pytest.fixture(scope="session")
def county_tables():
    county = simulate_county(students=1200, years=2, seed=11)
    return tables_from_frames(county.frames).tables


@pytest.fixture(scope="session")
def risk_bundle(county_tables, risk_config):
    from training.pipeline import train_tables

    bundle, _ = train_tables(county_tables, risk_config, evaluate_first=False)
    return bundle


@pytest.fixture(scope="session")
def score_day() -> dt.date:
    return dt.date(2024, 3, 11)  # a Monday after Spring Festival, in the second simulated year


@pytest.fixture(scope="session")
def day_features(county_tables, score_day, risk_config):
    return build_features(county_tables, score_day, risk_config)
