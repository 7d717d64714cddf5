"""The notes a comment or document must not cite: files outside the repository, which a
reader of the code cannot follow (tests/test_citations.py, tests/test_docs.py)."""

from __future__ import annotations

import re

NOTES = (
    "olci-format.md",
    "cdse-api.md",
    "sen3r-notes.md",
    "snakemake-conventions.md",
    "slurm-local.md",
)
FORBIDDEN = re.compile("|".join(re.escape(s) for s in (*NOTES, "../shared")))
