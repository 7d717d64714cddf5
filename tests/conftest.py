"""Shared fixtures: paths of the repository and a runner for the real snakemake command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
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


def command_env() -> dict[str, str]:
    """Environment for subprocesses: this virtualenv first on PATH (snakemake runs its
    `script:` rules with the python it finds there)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command, capture its output; the caller checks the return code."""
    return subprocess.run(
        args,
        cwd=cwd,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The real snakemake command on this repository's Snakefile, run in ``workdir``
    (which holds its own config.yaml, as a user's project folder would)."""
    command = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
    ]
    return run([*command, *args], cwd=workdir, timeout=timeout)


@pytest.fixture
def repo() -> Path:
    return REPO
