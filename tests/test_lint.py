"""Style and rule hygiene are tests: snakemake --lint, snakefmt, ruff."""

from __future__ import annotations

from support.commands import BIN, REPO, run


def test_snakemake_lint_is_clean():
    result = run([str(BIN / "snakemake"), "--lint", "--cores", "1"], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_check():
    result = run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_and_format():
    for args in (
        ["check", "scripts", "tests", "bench"],
        ["format", "--check", "scripts", "tests", "bench"],
    ):
        result = run([str(BIN / "ruff"), *args], cwd=REPO)
        assert result.returncode == 0, result.stdout + result.stderr
