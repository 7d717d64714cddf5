"""Comments and docstrings cite public sources, never notes that are not in the repository.

The project was written from reference notes kept outside the repository (olci-format.md,
cdse-api.md, sen3r-notes.md, snakemake-conventions.md, slurm-local.md, next to the checkout
as ../shared). A reader of the repository cannot follow such a citation: facts cite the
public source instead (ESA/EUMETSAT product pages, the CDSE documentation, the Snakemake
documentation, papers and public code) or the files under tests/data. Every tracked file
outside docs/ and README.md (which are checked on their own) is searched.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support.citations import FORBIDDEN
from support.commands import REPO

SKIPPED = ("docs/",)
SKIPPED_FILES = ("README.md", "tests/support/citations.py", "tests/test_citations.py")


def tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False
    )
    if listing.returncode != 0:
        pytest.skip(f"not a git checkout: {listing.stderr.decode(errors='replace').strip()}")
    return [name for name in listing.stdout.decode().split("\0") if name]


def offending_lines() -> list[str]:
    found = []
    for name in tracked_files():
        if name.startswith(SKIPPED) or name in SKIPPED_FILES:
            continue
        path = REPO / name
        if not path.is_file():  # deleted in the work tree, or a submodule
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        for number, line in enumerate(data.decode(errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_citation_of_notes_outside_the_repository():
    found = offending_lines()
    assert not found, (
        f"{len(found)} line(s) cite notes that are not in the repository; cite the public "
        "source (or a file under tests/data) instead:\n" + "\n".join(found)
    )
