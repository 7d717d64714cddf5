"""The README's commands are true: run on a clean clone, as a newcomer would.

Every ```bash block of the README is run, line by line, except blocks marked
`# needs: ...` (credentials, a cluster, your own folder). `make test` is the command
that runs this very suite: it is checked to be what CI runs instead of being re-run.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from support.commands import REPO, command_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def readme_commands() -> list[str]:
    """The command lines of the README's runnable bash blocks, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if any(line.startswith("# needs:") for line in lines):
            continue
        commands += [line for line in lines if not line.startswith("#")]
    return commands


def test_readme_lists_the_two_commands_first():
    assert readme_commands()[:2] == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_commands_run_on_a_clean_clone(tmp_path):
    clone = tmp_path / "eotrend"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = command_env()
    env.pop("VIRTUAL_ENV", None)
    # As on a newcomer's machine, Python writes the bytecode of what it imports: the
    # install need not compile every module of every package first (30 s of its time).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["UV_COMPILE"] = ""
    script = "set -e\n" + "\n".join(c for c in readme_commands() if c != "make test")
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1100,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert "Results are in" in result.stdout
    assert (clone / "report.html").stat().st_size > 100_000
    assert (clone / "results" / "amazon_olci" / "plots" / "coverage.png").is_file()
