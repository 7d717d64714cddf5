"""A disk that fills: outputs (or the temporary folder) on a small tmpfs.

Each command must stop with one clear message naming what could not be written and
saying what to do, and leave nothing under a final name (nor a temporary file). Mounting
needs root; elsewhere these tests are skipped.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from eotrend.synthetic.series import write_yearly_series
from support.scenes import small_scene, write_polygons
from support.stages import error_line, stage

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def small_disk():
    """A 1 MB tmpfs mounted on a new folder of /tmp (unmounted and removed after the test).
    Not under tmp_path: as $TMPDIR its path must leave room for the pool's forkserver
    socket name (AF_UNIX paths hold at most 107 bytes), and pytest-xdist's are long."""
    disk = Path(tempfile.mkdtemp(prefix="eotrend-disk-", dir="/tmp"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        disk.rmdir()


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> list[Path]:
    """Twelve 500 x 400 rasters: their stack takes several MB."""
    folder = tmp_path_factory.mktemp("series")
    return write_yearly_series(folder, years=range(2001, 2013), width=500, height=400)


def assert_nothing_written(folder: Path) -> None:
    left = sorted(p.name for p in folder.rglob("*"))
    assert left == [], left


def test_stack_on_a_full_disk(series, small_disk, tmp_path):
    out = small_disk / "stack.tif"
    result = stage("stack", *series, "-o", out, cwd=tmp_path)
    error_line(result, f"error: {out}: cannot be written: no space left in {small_disk}")
    assert "Free space there" in result.stderr
    assert "Exception ignored" not in result.stderr  # GDAL failing to close: one log line
    assert_nothing_written(small_disk)


def test_extract_on_a_full_disk(small_disk, tmp_path):
    product = small_scene(tmp_path, -60.0, -3.0, rows=600, columns=577)
    aoi = write_polygons(
        tmp_path / "aoi.geojson", [[[(-60.6, -3.6), (-59.4, -3.6), (-59.4, -2.4), (-60.6, -2.4)]]]
    )
    out = small_disk / "pixels.parquet"
    result = stage("extract", product, aoi, "-o", out, "--angles", cwd=tmp_path)
    error_line(result, f"error: {out}: cannot be written: no space left", "No space left on device")
    assert_nothing_written(small_disk)


def test_stack_with_a_full_temporary_folder(series, small_disk, tmp_path):
    """Workers hand blocks over through $TMPDIR: a full one is named, not a crash."""
    out = tmp_path / "stack.tif"
    result = stage(
        "stack", *series, "-o", out, "--mem-mb", 20, cwd=tmp_path, env={"TMPDIR": str(small_disk)}
    )
    line = error_line(result, f"error: {small_disk}/eotrend-stack-", "has no room for a block")
    assert "point TMPDIR at a larger one" in line
    assert not out.exists()
    assert_nothing_written(small_disk)


def test_trend_on_a_full_disk(series, small_disk, tmp_path):
    stacked = stage("stack", *series, "-o", tmp_path / "stack.tif", cwd=tmp_path)
    assert stacked.returncode == 0, stacked.stderr
    out = small_disk / "trend.tif"
    result = stage("trend", tmp_path / "stack.tif", "-o", out, cwd=tmp_path)
    assert not out.exists()
    error_line(result, f"error: {out}: cannot be written: no space left")
