"""Killing the pool workers of a running command from outside, as the OOM killer would.

Workers of the engine (:mod:`eotrend.engine.pool`) are the children of a forkserver process,
itself a child of the stage's process. :class:`WorkerKiller` watches the process tree under
a root process (a stage command, or snakemake and every job it runs) through ``/proc`` and
sends SIGKILL to workers while they are busy (running, or using CPU since the last look),
at random moments. Nothing in the code under test knows about it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

FORKSERVER = b"multiprocessing.forkserver"


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (all its threads'), empty once it is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found = []
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except FileNotFoundError:  # a thread gone, or a kernel without these files
            return [p for p in _all_pids() if _parent(p) == pid]
        found += [int(child) for child in text.split()]
    return found


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def is_forkserver(pid: int) -> bool:
    try:
        return FORKSERVER in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def helper(root: int, module: str) -> int | None:
    """The child of ``root`` that runs ``multiprocessing.<module>`` ("forkserver" or
    "resource_tracker"), None if it has none. (The forkserver's children, the workers,
    carry its command line too, but they are not children of ``root``.)"""
    name = f"multiprocessing.{module}".encode()
    for pid in children(root):
        try:
            if name in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def kill_and_wait(pid: int, patience: float = 30.0) -> None:
    """SIGKILL ``pid`` and return once it is dead (a zombie, or gone)."""
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + patience
    while (state := cpu_state(pid)) is not None and state[0] not in "ZX":
        if time.monotonic() > end:
            raise TimeoutError(f"process {pid} still lives {patience} s after SIGKILL")
        time.sleep(0.001)


def workers(root: int) -> list[int]:
    """The pool workers below ``root``: children of a forkserver."""
    return [w for p in descendants(root) if is_forkserver(p) for w in children(p)]


def cpu_state(pid: int) -> tuple[str, int] | None:
    """(state letter, user + system clock ticks) of a process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[11]) + int(fields[12])


class WorkerKiller(threading.Thread):
    """Kill pool workers below ``root`` while they work, at random moments.

    Every ``poll`` seconds the busy workers are listed; with probability ``chance`` one of
    them, chosen at random, is killed with SIGKILL, until ``kills`` were killed (None: no
    limit, i.e. every task's worker dies sooner or later). ``seed`` makes the choices
    repeatable (the moments still depend on timing). Use as a context manager around the
    command's lifetime; :attr:`killed` lists the pids killed.
    """

    def __init__(
        self,
        root: int,
        *,
        seed: int,
        kills: int | None,
        chance: float = 0.05,
        poll: float = 0.003,
    ) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.rng = random.Random(seed)
        self.kills = kills
        self.chance = chance
        self.poll = poll
        self.killed: list[int] = []
        self._done = threading.Event()

    def run(self) -> None:
        seen: dict[int, int] = {}
        while not self._done.is_set() and (self.kills is None or len(self.killed) < self.kills):
            busy = []
            for pid in workers(self.root):
                state = cpu_state(pid)
                if state is None:
                    continue
                letter, ticks = state
                if letter in "RD" or ticks > seen.get(pid, ticks):
                    busy.append(pid)
                seen[pid] = ticks
            if busy and self.rng.random() < self.chance:
                victim = self.rng.choice(busy)
                try:
                    os.kill(victim, signal.SIGKILL)
                    self.killed.append(victim)
                except ProcessLookupError:
                    pass
            time.sleep(self.poll)

    def __enter__(self) -> WorkerKiller:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self.join()


def run_killing(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    seed: int,
    kills: int | None,
    chance: float = 0.05,
    timeout: float = 300,
) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Run a command while a :class:`WorkerKiller` works on it (``seed``, ``kills``,
    ``chance`` as there); returns the completed process (output captured as text) and the
    pids killed."""
    with (
        subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process,
        WorkerKiller(process.pid, seed=seed, kills=kills, chance=chance) as killer,
    ):
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err += f"\n[killed by the test after {timeout} s: the command hung]"
    return subprocess.CompletedProcess(args, process.returncode, out, err), killer.killed
