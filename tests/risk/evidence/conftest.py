"""Fixtures of the evidence tests; the generators live in ``_evidence_synth``."""

from __future__ import annotations

import pytest

#: seeds of the slow coverage tests (CI coverage over the same 50 seeds every run)
COVERAGE_SEEDS = range(50)


@pytest.fixture(params=[0, 1, 2])
def seed(request: pytest.FixtureRequest) -> int:
    """A few seeds: the fast tests must pass for any of them."""
    return request.param
