"""Stage commands run as a user would (``python -m eotrend <stage>``), and the one form
every user error must take."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.commands import command_env


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
