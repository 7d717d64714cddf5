"""Memory pressure: stack and trend given a small memory budget (``--mem-mb``, a rule's
``mem_mb``) adapt their blocks and worker counts, finish, and write what an unconstrained
run writes; when blocks cannot get smaller, the log says how much memory the job needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from eotrend.synthetic.series import write_yearly_series
from support.compare import assert_same_raster
from support.stages import stage, warnings_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> list[Path]:
    """Twelve yearly 1000 x 700 rasters: about 56 MB to stack."""
    folder = tmp_path_factory.mktemp("series")
    return write_yearly_series(folder, years=range(2001, 2013), width=1000, height=700)


@pytest.fixture(scope="module")
def stacked(series, tmp_path_factory) -> Path:
    """The stack of ``series`` with no memory limit but the machine's."""
    folder = tmp_path_factory.mktemp("stack")
    result = stage("stack", *series, "-o", folder / "stack.tif", "--workers", 2, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "one block of 700 x 1000 pixels" in result.stderr
    return folder / "stack.tif"


def test_stack_with_little_memory_uses_smaller_blocks_and_fewer_workers(series, stacked, tmp_path):
    out = tmp_path / "stack.tif"
    result = stage("stack", *series, "-o", out, "--workers", 2, "--mem-mb", 60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 blocks of 256 rows" in result.stderr
    assert "row blocks: 1 worker (limited by memory)" in result.stderr
    assert_same_raster(stacked, out)


def test_stack_says_how_much_memory_it_needs_when_blocks_cannot_shrink(tmp_path):
    """A block has at least 16 rows: with a budget below that, the stack still runs (and
    may be killed), and the log says how much the job needs."""
    wide = write_yearly_series(tmp_path / "in", years=range(2001, 2013), width=600, height=100)
    free = stage("stack", *wide, "-o", tmp_path / "free.tif", cwd=tmp_path)
    tight = stage("stack", *wide, "-o", tmp_path / "tight.tif", "--mem-mb", 1, cwd=tmp_path)
    assert free.returncode == 0 and tight.returncode == 0, tight.stderr
    (warning,) = [w for w in warnings_of(tight) if "smallest block" in w]
    assert "16 rows of 12 bands" in warning and "this stack needs about 201 MB" in warning
    assert_same_raster(tmp_path / "free.tif", tmp_path / "tight.tif")


def test_trend_with_little_memory_fits_smaller_windows(stacked, tmp_path):
    free = stage("trend", stacked, "-o", tmp_path / "free.tif", "--workers", 2, cwd=tmp_path)
    assert free.returncode == 0, free.stderr
    assert "one task, run in this process" in free.stderr
    tight = stage(
        "trend",
        stacked,
        "-o",
        tmp_path / "tight.tif",
        "--workers",
        2,
        "--mem-mb",
        700,
        cwd=tmp_path,
    )
    assert tight.returncode == 0, tight.stderr
    assert "windows: 2 workers" in tight.stderr and "tasks=12 " in tight.stderr
    assert_same_raster(tmp_path / "free.tif", tmp_path / "tight.tif")
