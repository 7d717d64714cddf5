"""The entry scripts as commands: help, clean errors, and a real run of each stage."""

from __future__ import annotations

import sys

import pytest

from support.commands import REPO, run

STAGES = [
    "download", "plan", "scenes", "locate", "extract", "timeseries", "stack", "trend", "lakes",
    "lake-pixels", "lake-grids", "report",
    "summary", "synthetic",
]  # fmt: skip
EOTREND = [sys.executable, "-m", "eotrend"]


@pytest.mark.parametrize("stage", STAGES)
def test_help_describes_the_command(stage):
    result = run([*EOTREND, stage, "--help"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m eotrend {stage} "), result.stdout[:200]


def test_help_lists_every_stage():
    result = run([*EOTREND, "--help"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert listed == STAGES


def test_bad_input_gives_one_clear_line(tmp_path):
    """A user error names the file, says what to do, and shows no traceback."""
    aoi = tmp_path / "aoi.txt"
    aoi.write_text("not a vector file")
    product = tmp_path / "missing.SEN3"
    result = run(
        [
            *EOTREND,
            "locate",
            str(product),
            str(aoi),
            "-o",
            str(tmp_path / "v.csv"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {product}: is not a folder" in result.stderr
    assert not (tmp_path / "v.csv").exists()


@pytest.mark.slow  # 5 to 9 s: not in make test-quick
def test_stack_and_trend_commands_on_a_series(tmp_path):
    """synthetic -> stack -> trend as plain commands; the trend has the 7 named bands."""
    from eotrend.geo import raster
    from eotrend.stats import regression

    made = run(
        [
            *EOTREND,
            "synthetic",
            "series",
            "-o",
            str(tmp_path / "in"),
            "--years",
            "2001",
            "2008",
            "--width",
            "30",
            "--height",
            "20",
        ],
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    inputs = sorted(str(p) for p in (tmp_path / "in").glob("*.tif"))
    stacked = run(
        [
            *EOTREND,
            "stack",
            *inputs[::-1],
            "-o",
            str(tmp_path / "stack.tif"),
            "--workers",
            "2",
        ],
        cwd=tmp_path,
    )
    assert stacked.returncode == 0, stacked.stderr
    fitted = run(
        [
            *EOTREND,
            "trend",
            str(tmp_path / "stack.tif"),
            "-o",
            str(tmp_path / "trend.tif"),
        ],
        cwd=tmp_path,
    )
    assert fitted.returncode == 0, fitted.stderr
    info = raster.read_info(tmp_path / "trend.tif")
    assert info.descriptions == regression.STAT_NAMES
    assert [d[:4] for d in raster.read_info(tmp_path / "stack.tif").descriptions] == [
        str(y) for y in range(2001, 2009)
    ]
