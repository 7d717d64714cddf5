"""What this process may use: CPUs and memory, read from the host, and the worker count they allow.

Limits come from the CPU affinity mask, the cgroup CPU quota (v2 ``cpu.max`` or v1
``cpu.cfs_quota_us``), ``$SLURM_CPUS_PER_TASK``, the cgroup memory limit and ``MemAvailable``.
``os.cpu_count()`` is never used: it counts the machine's CPUs, not the ones this job may use.
Memory is in MB, meaning MiB (2**20 bytes), as Snakemake's ``mem_mb``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eotrend.core.errors import InputError

_MIB = 2**20
# cgroup v1 reports "no memory limit" as a huge page-rounded number (about 2**63), not -1.
_V1_UNLIMITED_BYTES = 2**60
# Factors that bound the worker count, in the order used to break ties in ``limited_by``.
_WORKER_FACTORS = ("threads", "affinity", "cgroup_quota", "slurm_cpus_per_task", "tasks", "memory")
_MEMORY_FACTORS = ("rule_mem_mb", "cgroup_memory", "available")


@dataclass(frozen=True)
class Host:
    """Where limits are read from. Tests build one pointing at fake files; production uses Host().

    Attributes:
        environ: environment variables (``SLURM_CPUS_PER_TASK``).
        cgroup_root: where the cgroup file system is mounted.
        proc_self_cgroup: this process's cgroup membership (``/proc/self/cgroup``).
        meminfo: the kernel's memory summary (``/proc/meminfo``).
        affinity: number of CPUs this process may run on; None reads the affinity mask.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    cgroup_root: Path = Path("/sys/fs/cgroup")
    proc_self_cgroup: Path = Path("/proc/self/cgroup")
    meminfo: Path = Path("/proc/meminfo")
    affinity: int | None = None


def cpu_limits(host: Host) -> dict[str, int | None]:
    """CPU counts this process may use, each None when that limit is absent.

    Returns ``{"affinity": n, "cgroup_quota": n, "slurm_cpus_per_task": n}``: the size of
    the affinity mask (None only where the platform has none), the cgroup CPU quota rounded
    up to whole CPUs (the tightest of the process's cgroup and its parents, v2 or v1), and
    ``$SLURM_CPUS_PER_TASK``.
    """
    affinity = host.affinity
    if affinity is None and hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
    quotas = [_v2_cpu_quota(d) for d in _v2_dirs(host)]
    quotas += [_v1_cpu_quota(d) for d in _v1_dirs(host, "cpu")]
    quotas = [q for q in quotas if q is not None]
    return {
        "affinity": affinity,
        "cgroup_quota": math.ceil(min(quotas)) if quotas else None,
        "slurm_cpus_per_task": _positive_int(host.environ.get("SLURM_CPUS_PER_TASK")),
    }


def memory_limits_mb(host: Host, rule_mem_mb: float | None) -> dict[str, int | None]:
    """Memory limits of this process in MB (MiB), each None when absent or unreadable.

    Returns ``{"rule_mem_mb": ..., "cgroup_memory": ..., "available": ...}``: the rule's
    ``mem_mb`` (rounded down), the cgroup memory limit (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``; the tightest of the cgroup and its parents) and
    ``MemAvailable`` from ``/proc/meminfo``.
    """
    limits = [_v2_memory_bytes(d) for d in _v2_dirs(host)]
    limits += [_v1_memory_bytes(d) for d in _v1_dirs(host, "memory")]
    limits = [b for b in limits if b is not None]
    return {
        "rule_mem_mb": None if rule_mem_mb is None else int(rule_mem_mb),
        "cgroup_memory": min(limits) // _MIB if limits else None,
        "available": _mem_available_mb(host.meminfo),
    }


@dataclass(frozen=True)
class WorkerPlan:
    """How many worker processes a pool uses, and why.

    Attributes:
        workers: number of worker processes (at least 1).
        limited_by: the factor that set ``workers`` ("threads", "affinity", "cgroup_quota",
            "slurm_cpus_per_task", "tasks" or "memory").
        memory_budget_mb: what the whole pool may use, MB (MiB): the smallest memory limit;
            None when no limit could be read.
        limits: every factor considered (the six above, the memory limits "rule_mem_mb",
            "cgroup_memory", "available" and "task_mem_mb"); None where absent.
    """

    workers: int
    limited_by: str
    memory_budget_mb: int | None
    limits: dict[str, int | None]

    def describe(self) -> str:
        """One log line: the worker count, the limiting factor and every factor considered."""
        noun = "worker" if self.workers == 1 else "workers"
        factors = " ".join(f"{k}={_dash(self.limits.get(k))}" for k in _WORKER_FACTORS)
        if self.memory_budget_mb is None:
            budget = "no memory limit known"
        else:
            source = next(k for k in _MEMORY_FACTORS if self.limits[k] == self.memory_budget_mb)
            budget = (
                f"budget {self.memory_budget_mb} MB from {source} / "
                f"{self.limits['task_mem_mb']} MB per task"
            )
        return f"{self.workers} {noun} (limited by {self.limited_by}): {factors} ({budget})"

    def bytes_per_worker(self, unknown_budget_mb: int = 2048) -> int:
        """The memory one worker may use for its data, in bytes: half of its share of the
        budget (the other half covers the interpreter, libraries and result copies)."""
        budget_mb = self.memory_budget_mb or unknown_budget_mb
        return budget_mb * 2**20 // (2 * self.workers)


def plan_workers(
    n_tasks: int,
    *,
    threads: int | None,
    mem_mb: float | None = None,
    task_mem_mb: float = 256,
    host: Host | None = None,
    network_bound: bool = False,
) -> WorkerPlan:
    """Choose the number of worker processes for ``n_tasks`` tasks.

    ``workers = min(threads, affinity, cgroup quota, SLURM_CPUS_PER_TASK, n_tasks,
    budget // task_mem_mb)``, at least 1, where the budget is the smallest of ``mem_mb``
    (the rule's memory for the whole job, all workers), the cgroup memory limit and the
    available memory. Absent limits are ignored.

    Args:
        n_tasks: number of tasks to run.
        threads: CPUs requested (the rule's ``threads`` or ``--workers``); None = no request.
        mem_mb: the rule's memory for the whole job, MB (MiB); None = not given.
        task_mem_mb: estimated peak memory of one task in a worker, MB (MiB).
        host: where limits are read from; None = this machine.
        network_bound: the tasks wait on the network, not the CPU (downloads): the CPU
            limits (affinity, cgroup quota, SLURM_CPUS_PER_TASK) do not bound them.

    Raises:
        InputError: ``threads`` below 1 or ``mem_mb`` not positive.
    """
    if threads is not None and threads < 1:
        raise InputError("threads", f"must be at least 1, got {threads}", "Set threads >= 1.")
    if mem_mb is not None and mem_mb <= 0:
        raise InputError("mem_mb", f"must be positive, got {mem_mb}", "Set mem_mb > 0.")
    if n_tasks < 0 or task_mem_mb <= 0:
        raise ValueError(f"need n_tasks >= 0 and task_mem_mb > 0, got {n_tasks}, {task_mem_mb}")
    host = Host() if host is None else host
    memory = memory_limits_mb(host, mem_mb)
    known = [v for v in memory.values() if v is not None]
    budget = min(known) if known else None
    per_task = math.ceil(task_mem_mb)
    limits: dict[str, int | None] = {
        "threads": threads,
        **({} if network_bound else cpu_limits(host)),
        "tasks": n_tasks,
        "memory": None if budget is None else budget // per_task,
        **memory,
        "task_mem_mb": per_task,
    }
    bounds = [(limits[k], k) for k in _WORKER_FACTORS if limits.get(k) is not None]
    smallest = min(v for v, _ in bounds)
    limited_by = next(k for v, k in bounds if v == smallest)
    return WorkerPlan(max(1, smallest), limited_by, budget, limits)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def _cgroup_lines(host: Host) -> list[tuple[str, list[str], str]]:
    """``(hierarchy id, controllers, path)`` for each line of /proc/self/cgroup."""
    lines = []
    for line in (_read(host.proc_self_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            lines.append((parts[0], parts[1].split(",") if parts[1] else [], parts[2]))
    return lines


def _chain(mount: Path, path: str) -> list[Path]:
    """``mount/path`` and each parent up to ``mount``, innermost first.

    In a container the cgroup path is often the host's, absent under the container's mount,
    whose root is then the container's own cgroup: fall back to ``mount`` alone.
    """
    leaf = mount / path.lstrip("/")
    if not leaf.is_dir():
        return [mount]
    chain = [leaf]
    while chain[-1] != mount:
        chain.append(chain[-1].parent)
    return chain


def _v2_dirs(host: Host) -> list[Path]:
    """Directories of the unified (v2) cgroup of this process and its parents."""
    dirs = []
    for hierarchy, controllers, path in _cgroup_lines(host):
        if hierarchy == "0" and not controllers:
            dirs += _chain(host.cgroup_root, path)
    return dirs


def _v1_dirs(host: Host, controller: str) -> list[Path]:
    """Directories of the v1 ``controller`` cgroup of this process and its parents."""
    for _, controllers, path in _cgroup_lines(host):
        if controller in controllers:
            # Mounted under the joined name ("cpu,cpuacct"), with a "cpu" symlink on most systems.
            for name in (",".join(controllers), controller):
                if (host.cgroup_root / name).is_dir():
                    return _chain(host.cgroup_root / name, path)
    return []


def _v2_cpu_quota(directory: Path) -> float | None:
    """CPUs allowed by ``cpu.max`` ("max 100000" = unlimited, "150000 100000" = 1.5)."""
    fields = (_read(directory / "cpu.max") or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    quota, period = _positive_int(fields[0]), _positive_int(fields[1])
    return quota / period if quota and period else None


def _v1_cpu_quota(directory: Path) -> float | None:
    """CPUs allowed by ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1 = unlimited)."""
    quota = _positive_int(_read(directory / "cpu.cfs_quota_us"))
    period = _positive_int(_read(directory / "cpu.cfs_period_us"))
    return quota / period if quota and period else None


def _v2_memory_bytes(directory: Path) -> int | None:
    """``memory.max`` in bytes ("max" = unlimited)."""
    return _positive_int(_read(directory / "memory.max"))


def _v1_memory_bytes(directory: Path) -> int | None:
    """``memory.limit_in_bytes`` in bytes (about 2**63 = unlimited)."""
    limit = _positive_int(_read(directory / "memory.limit_in_bytes"))
    return limit if limit is not None and limit < _V1_UNLIMITED_BYTES else None


def _mem_available_mb(meminfo: Path) -> int | None:
    """``MemAvailable`` from /proc/meminfo, in MB (MiB)."""
    for line in (_read(meminfo) or "").splitlines():
        name, _, rest = line.partition(":")
        if name == "MemAvailable":
            fields = rest.split()
            kib = _positive_int(fields[0]) if fields else None
            return None if kib is None else kib // 1024
    return None
