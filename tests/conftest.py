"""Fixtures and the test session's set-up; the helpers tests import are in ``support``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from support.commands import REPO

# Commands run as `python -m eotrend <stage>`: every subprocess finds the package.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(REPO / "scripts"), os.environ.get("PYTHONPATH")])
)

# `make test` is deterministic: property tests draw the same examples on every run and
# every machine (no example database, no deadline that a loaded CI machine could miss).
# HYPOTHESIS_PROFILE=explore draws new examples, for hunting bugs by hand.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def repo() -> Path:
    return REPO
