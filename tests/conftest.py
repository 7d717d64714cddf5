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


# `make test` gives each test file to the next free pytest-xdist worker, in collection
# order (--dist loadfile --no-loadscope-reorder): the files that take longest come first,
# so that none of them starts last while the other worker has nothing left to do. The
# rest keep pytest's order. Longest first, as measured on 2 cores (pytest --durations).
SLOWEST_FIRST = (
    "slurm/test_slurm.py",
    "test_readme_commands.py",
    "workflow/test_workflow.py",
    "workflow/test_lake_outputs_workflow.py",
    "faults/test_batches.py",
    "faults/test_workflow_faults.py",
    "faults/test_bad_inputs.py",
    "test_docs.py",
    "unit/test_remote_floor.py",
    "faults/test_worker_kills.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    if missing := [name for name in SLOWEST_FIRST if not (tests / name).is_file()]:
        raise pytest.UsageError(f"tests/conftest.py: SLOWEST_FIRST names no file {missing}")
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}

    def order(item: pytest.Item) -> int:
        path = Path(item.path)
        name = path.relative_to(tests).as_posix() if path.is_relative_to(tests) else ""
        return rank.get(name, len(rank))

    items.sort(key=order)  # stable: a file's tests and the other files keep their order


@pytest.fixture
def repo() -> Path:
    return REPO
