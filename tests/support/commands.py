"""The repository's paths, and commands run as a user would: any command, and the real
snakemake on this repository's Snakefile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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


def finished_run(workdir: Path, config: dict) -> Path:
    """``workdir`` as a user's project folder (``config`` as its config.yaml, the demo's
    AOI as aoi.geojson) after a successful snakemake run of it."""
    import shutil

    import yaml

    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", workdir / "aoi.geojson")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def undeclared_results(run: Path, minimum: int) -> list[str]:
    """The files under ``run``/results that Snakemake's own ``--delete-all-output``
    listing does not name (a file of a directory() output, each lake's rasters or a
    quicklook, is declared through its folder); asserts the run made at least
    ``minimum`` files."""
    listed = snakemake(run, "--delete-all-output", "--dry-run")
    assert listed.returncode == 0, listed.stderr[-3000:]
    text = listed.stdout + listed.stderr
    made = [p for p in (run / "results").rglob("*") if p.is_file()]
    assert len(made) >= minimum
    missing = []
    for path in made:
        name = path.relative_to(run)
        in_folder = name.parent.name == "quicklooks" or name.parent.parent.name in (
            "stacks",
            "trends",
        )
        if str(name.parent if in_folder else name) not in text:
            missing.append(str(name))
    return missing
