"""Helpers of the fault-injection tests: running stage commands as a user would, the one
form every user error must take, and comparisons with a clean run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from conftest import REPO, command_env
from eotrend.geo import raster

SCRIPTS = REPO / "scripts"


def stage(
    name: str, *args: object, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m eotrend <name> ARGS`` in ``cwd`` (with ``env``: the test's environment
    plus these variables), output captured."""
    return subprocess.run(
        stage_args(name, *args),
        cwd=cwd,
        env={**command_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stage_args(name: str, *args: object) -> list[str]:
    """The argument list of :func:`stage` (for commands run under a killer)."""
    return [sys.executable, "-m", "eotrend", name, *map(str, args)]


def error_line(result: subprocess.CompletedProcess, *needles: object) -> str:
    """The one clear message of a failed command, checked: exit status 1, no traceback,
    exactly one line starting with ``error: `` on stderr, holding every needle (file names,
    what is wrong). Returns that line."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-5000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for needle in needles:
        assert str(needle) in errors[0], (str(needle), errors[0])
    return errors[0]


def warnings_of(result: subprocess.CompletedProcess) -> list[str]:
    """The WARNING lines a command logged."""
    return [line for line in result.stderr.splitlines() if " WARNING " in line]


def assert_same_raster(a: Path, b: Path) -> None:
    """Same size, bands, georeferencing and values (NaN where NaN)."""
    info_a, info_b = raster.read_info(a), raster.read_info(b)
    for field in ("width", "height", "count", "transform", "crs_wkt", "descriptions"):
        assert getattr(info_a, field) == getattr(info_b, field), field
    np.testing.assert_array_equal(
        raster.read_rows(a, 0, info_a.height), raster.read_rows(b, 0, info_b.height)
    )


def assert_same_table(a: Path, b: Path) -> None:
    """Equal CSV tables (values, dtypes, column order)."""
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def assert_same_tree(a: Path, b: Path) -> None:
    """The same files with the same bytes under two folders (hidden files included)."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
