"""Task functions for the engine's fault tests (workers import them by name)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from support.pool_tasks import block_sum

# Linux system call number of write(2), by machine.
WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}


class KilledOnTheWay:
    """A result whose pickling, when the worker sends it to the parent, sets off a SIGKILL
    of the worker as soon as it writes (the result, to the pipe or a file): the worker dies
    while its result travels."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __reduce__(self):
        main = threading.get_native_id()
        threading.Thread(target=_kill_when_writing, args=(main,), daemon=True).start()
        return (np.asarray, (self.values,))


def _kill_when_writing(thread_id: int, patience: float = 5.0) -> None:
    """SIGKILL this process once thread ``thread_id`` is inside write(2) (or after
    ``patience`` seconds)."""
    number = str(WRITE_SYSCALL.get(os.uname().machine, 1))
    syscall = Path(f"/proc/self/task/{thread_id}/syscall")
    end = time.monotonic() + patience
    while time.monotonic() < end:
        if syscall.read_text().split()[0] == number:
            break
        time.sleep(0.0001)
    os.kill(os.getpid(), signal.SIGKILL)


def big_result_once_killed(folder: str, index: int, size: int) -> np.ndarray:
    """``np.full(size, index)``; on its first call for ``index`` the worker is killed while
    the result is on its way (see :class:`KilledOnTheWay`)."""
    values = np.full(size, index, dtype=np.float64)
    marker = Path(folder) / f"sent-{index}"
    if marker.exists():
        return values
    marker.touch()
    return KilledOnTheWay(values)


def big_result_or_fail(index: int, size: int) -> np.ndarray:
    """Raise ValueError for index 0 (after the others started), else ``np.full(size, index)``."""
    if index == 0:
        time.sleep(0.05)
        raise ValueError("task 0 fails")
    return np.full(size, index, dtype=np.float64)


def sum_after_go(folder: str, index: int, patience: float = 60.0) -> float:
    """``block_sum(index, 100)``, once the file ``folder/go`` exists.

    Writes ``folder/started-<index>`` first, so that a test knows the task is running and
    can act (kill a process of the pool) before it lets every task finish by creating
    ``go``. Raises TimeoutError after ``patience`` seconds without it.
    """
    (Path(folder) / f"started-{index}").touch()
    end = time.monotonic() + patience
    while not (Path(folder) / "go").exists():
        if time.monotonic() > end:
            raise TimeoutError(f"no {folder}/go after {patience} s")
        time.sleep(0.005)
    return block_sum(index, 100)
