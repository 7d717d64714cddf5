"""The conda environment pins the same versions as the pip requirements the tests use."""

from __future__ import annotations

import re

import yaml

from support.commands import REPO

# pip name -> conda-forge name, where they differ.
CONDA_NAMES = {
    "snakemake": "snakemake-minimal",
    "netcdf4": "netcdf4",
    "matplotlib": "matplotlib-base",
}


def pip_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "envs" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[CONDA_NAMES.get(name.lower(), name.lower())] = version
    return pins


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / "eotrend.yaml").read_text())
    pins = {}
    for dependency in env["dependencies"]:
        name, version = re.split(r"\s*=\s*", dependency, maxsplit=1)
        pins[name] = version
    return pins


def test_conda_env_matches_pip_pins():
    conda = conda_pins()
    for name, version in pip_pins().items():
        assert name in conda, f"{name} is pinned for pip but missing from envs/eotrend.yaml"
        # conda-forge drops PEP 440 post-release suffixes (1.7.5.1.post1 is 1.7.5 there).
        assert version.startswith(conda[name]), f"{name}: pip {version} != conda {conda[name]}"
    assert conda["python"] == "3.11"
    assert "gdal" in conda
