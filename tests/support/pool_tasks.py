"""Task functions for the parallel-engine tests.

They live in an importable module (not in a test file) because worker processes started by
forkserver or spawn import task functions by name. Calls are counted with files in a folder
passed as an argument: workers are separate processes, so counters in memory would not do.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from eotrend.core.errors import InputError
from eotrend.engine.pool import THREAD_VARIABLES


def block_sum(seed: int, n: int) -> float:
    """A deterministic float from ``seed``: the sum of ``n`` standard normal draws."""
    return float(np.random.default_rng(seed).standard_normal(n).sum())


def sleep_then(seconds: float, value: int) -> int:
    """Return ``value`` after ``seconds``."""
    time.sleep(seconds)
    return value


def sleep_or_fail(kind: str, arg: float) -> float:
    """``kind`` "sleep": sleep ``arg`` seconds and return it; "fail": raise ValueError."""
    if kind == "fail":
        fail_with_value_error(int(arg))
    time.sleep(arg)
    return arg


def worker_facts() -> dict:
    """What a worker sees: its own and its parent's pid and the thread variables."""
    return {
        "ppid": os.getppid(),
        "pid": os.getpid(),
        "env": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }


def record_call(folder: str, index: int) -> None:
    """Append one line to ``folder/calls-<index>`` (appends of a short line are atomic)."""
    with open(Path(folder) / f"calls-{index}", "a") as f:
        f.write("call\n")


def calls(folder: str | Path, index: int) -> int:
    """How many times task ``index`` was called (see :func:`record_call`)."""
    path = Path(folder) / f"calls-{index}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def crash_once(folder: str, index: int, how: str, delay: float = 0.0) -> float:
    """Kill this worker on the first call for ``index``; later calls return a block sum.

    ``how`` is "exit" (``os._exit(1)``), "sigkill" or "none" (never crash). ``delay`` seconds
    are slept before the crash, so that tasks submitted earlier have finished by then.
    Returns ``block_sum(index, 100)``.
    """
    record_call(folder, index)
    marker = Path(folder) / f"crashed-{index}"
    if how != "none" and not marker.exists():
        time.sleep(delay)
        marker.touch()
        if how == "exit":
            os._exit(1)
        os.kill(os.getpid(), signal.SIGKILL)
    return block_sum(index, 100)


def crash_always(index: int) -> float:
    """Kill this worker with SIGKILL whenever ``index`` is negative, else compute."""
    if index < 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return block_sum(index, 100)


def fail_with_value_error(index: int) -> None:
    """Raise ValueError (an ordinary bug in a task)."""
    raise ValueError(f"bad value in block {index}")


def fail_with_input_error(path: str) -> None:
    """Raise InputError (a user-facing error naming its file; its __init__ is not pickle's)."""
    raise InputError(path, "has no variable 'chl_nn'", "Check the product type.")
