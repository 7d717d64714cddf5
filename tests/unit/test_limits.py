"""Worker planning from host limits, on fake cgroup/proc files (expected values by hand)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eotrend.core.errors import InputError
from eotrend.engine.limits import Host, cpu_limits, memory_limits_mb, plan_workers

GIB = 2**30
BIG_MEMINFO = "MemTotal: 67108864 kB\nMemAvailable: 33554432 kB\n"  # 32768 MB available


def make_host(
    tmp_path: Path,
    *,
    cgroup: str = "0::/\n",
    files: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    meminfo: str | None = BIG_MEMINFO,
    affinity: int = 8,
) -> Host:
    """A Host reading fake files: ``files`` maps paths under the cgroup mount to contents."""
    root = tmp_path / "cgroup"
    root.mkdir(exist_ok=True)
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(cgroup)
    info = tmp_path / "meminfo"
    if meminfo is not None:
        info.write_text(meminfo)
    return Host(
        environ=environ or {},
        cgroup_root=root,
        proc_self_cgroup=proc,
        meminfo=info,
        affinity=affinity,
    )


# (case, host arguments, plan_workers arguments, expected workers, expected limited_by)
BINDING = [
    ("threads", {}, {"threads": 3}, 3, "threads"),
    ("affinity", {"affinity": 2}, {"threads": 8}, 2, "affinity"),
    ("no threads request", {"affinity": 5}, {"threads": None}, 5, "affinity"),
    (
        "cgroup v2 cpu.max 1.5 CPUs",
        {"cgroup": "0::/job\n", "files": {"job/cpu.max": "150000 100000\n"}},
        {"threads": 8},
        2,
        "cgroup_quota",
    ),
    (
        "cgroup v2 parent tighter than the leaf",
        {
            "cgroup": "0::/a/b\n",
            "files": {
                "cpu.max": "800000 100000\n",
                "a/cpu.max": "300000 100000\n",
                "a/b/cpu.max": "max 100000\n",
            },
        },
        {"threads": 8},
        3,
        "cgroup_quota",
    ),
    (
        "cgroup v2 path absent under the mount (container): the mount's root",
        {"cgroup": "0::/system.slice/docker-1.scope\n", "files": {"cpu.max": "200000 100000\n"}},
        {"threads": 8},
        2,
        "cgroup_quota",
    ),
    (
        "cgroup v1 cfs quota",
        {
            "cgroup": "5:memory:/\n4:cpu,cpuacct:/slurm/job1\n",
            "files": {
                "cpu,cpuacct/slurm/job1/cpu.cfs_quota_us": "250000\n",
                "cpu,cpuacct/slurm/job1/cpu.cfs_period_us": "100000\n",
                "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            },
        },
        {"threads": 8},
        3,
        "cgroup_quota",
    ),
    (
        "cgroup v1 mounted as cpu/",
        {
            "cgroup": "4:cpu,cpuacct:/job\n",
            "files": {
                "cpu/job/cpu.cfs_quota_us": "100000\n",
                "cpu/job/cpu.cfs_period_us": "50000\n",
            },
        },
        {"threads": 8},
        2,
        "cgroup_quota",
    ),
    (
        "SLURM_CPUS_PER_TASK",
        {"environ": {"SLURM_CPUS_PER_TASK": "3"}},
        {"threads": 8},
        3,
        "slurm_cpus_per_task",
    ),
    ("tasks", {}, {"threads": 8, "n_tasks": 2}, 2, "tasks"),
    ("rule mem_mb", {}, {"threads": 8, "mem_mb": 1000, "task_mem_mb": 300}, 3, "memory"),
    (
        "cgroup v2 memory.max",
        {"cgroup": "0::/job\n", "files": {"job/memory.max": f"{2 * GIB}\n"}},
        {"threads": 8, "task_mem_mb": 1024},
        2,
        "memory",
    ),
    (
        "cgroup v1 memory.limit_in_bytes",
        {"cgroup": "5:memory:/job\n", "files": {"memory/job/memory.limit_in_bytes": f"{3 * GIB}"}},
        {"threads": 8, "task_mem_mb": 1024},
        3,
        "memory",
    ),
    (
        "MemAvailable",
        {"meminfo": "MemTotal: 8000000 kB\nMemAvailable: 3072000 kB\n"},
        {"threads": 8, "task_mem_mb": 1000},
        3,
        "memory",
    ),
    ("tiny memory still gives one worker", {}, {"threads": 8, "mem_mb": 10}, 1, "memory"),
    ("tie: the first factor in order is named", {"affinity": 4}, {"threads": 4}, 4, "threads"),
    (
        "network-bound tasks ignore the CPU limits",
        {"affinity": 2, "environ": {"SLURM_CPUS_PER_TASK": "1"}},
        {"threads": 4, "network_bound": True},
        4,
        "threads",
    ),
]


@pytest.mark.parametrize(
    ("host_args", "plan_args", "workers", "limited_by"),
    [case[1:] for case in BINDING],
    ids=[case[0] for case in BINDING],
)
def test_each_limit_binds(tmp_path, host_args, plan_args, workers, limited_by):
    plan_args = {"n_tasks": 100, **plan_args}
    plan = plan_workers(
        plan_args.pop("n_tasks"), host=make_host(tmp_path, **host_args), **plan_args
    )
    assert plan.workers == workers
    assert plan.limited_by == limited_by
    assert f"limited by {limited_by}" in plan.describe()


@pytest.mark.parametrize(
    ("cgroup", "files"),
    [
        ("0::/job\n", {"job/cpu.max": "max 100000\n", "job/memory.max": "max\n"}),
        (
            "4:cpu,cpuacct:/\n5:memory:/\n",
            {
                "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
                "memory/memory.limit_in_bytes": "9223372036854771712\n",
            },
        ),
        ("0::/job\n", {}),  # no files at all
        ("", {}),  # empty /proc/self/cgroup
    ],
    ids=["v2 max", "v1 -1 and 2**63", "missing files", "no cgroup lines"],
)
def test_unlimited_and_missing_mean_no_limit(tmp_path, cgroup, files):
    host = make_host(tmp_path, cgroup=cgroup, files=files, meminfo=None)
    assert cpu_limits(host) == {"affinity": 8, "cgroup_quota": None, "slurm_cpus_per_task": None}
    assert memory_limits_mb(host, None) == {
        "rule_mem_mb": None,
        "cgroup_memory": None,
        "available": None,
    }
    plan = plan_workers(100, threads=None, host=host)
    assert (plan.workers, plan.limited_by, plan.memory_budget_mb) == (8, "affinity", None)
    assert "no memory limit known" in plan.describe()


def test_memory_limits_in_mib(tmp_path):
    host = make_host(
        tmp_path,
        cgroup="0::/a/b\n",
        files={"a/memory.max": f"{5 * GIB + 123}\n", "a/b/memory.max": f"{7 * GIB}\n"},
        meminfo="MemFree: 1 kB\nMemAvailable: 10240 kB\n",
    )
    assert memory_limits_mb(host, 1500.7) == {
        "rule_mem_mb": 1500,
        "cgroup_memory": 5 * 1024,
        "available": 10,
    }


def test_budget_is_the_smallest_memory_limit(tmp_path):
    host = make_host(tmp_path, cgroup="0::/\n", files={"memory.max": f"{GIB}\n"})
    plan = plan_workers(100, threads=16, mem_mb=4000, task_mem_mb=100, host=host)
    assert plan.memory_budget_mb == 1024
    assert (plan.workers, plan.limited_by) == (8, "affinity")
    assert "budget 1024 MB from cgroup_memory / 100 MB per task" in plan.describe()


def test_slurm_variable_that_is_not_a_count_is_ignored(tmp_path):
    host = make_host(tmp_path, environ={"SLURM_CPUS_PER_TASK": "2(x3)"})
    assert cpu_limits(host)["slurm_cpus_per_task"] is None


def test_describe_lists_every_factor(tmp_path):
    plan = plan_workers(
        10, threads=4, mem_mb=2000, task_mem_mb=300, host=make_host(tmp_path, affinity=2)
    )
    assert plan.describe() == (
        "2 workers (limited by affinity): threads=4 affinity=2 cgroup_quota=- "
        "slurm_cpus_per_task=- tasks=10 memory=6 "
        "(budget 2000 MB from rule_mem_mb / 300 MB per task)"
    )


@pytest.mark.parametrize(("threads", "mem_mb"), [(0, None), (2, 0)])
def test_bad_settings_are_input_errors(tmp_path, threads, mem_mb):
    with pytest.raises(InputError):
        plan_workers(10, threads=threads, mem_mb=mem_mb, host=make_host(tmp_path))


def test_this_host():
    """The real host: affinity is the scheduler's mask, never os.cpu_count()."""
    assert cpu_limits(Host())["affinity"] == len(os.sched_getaffinity(0))
    plan = plan_workers(1000, threads=None)
    assert 1 <= plan.workers <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("features", [1, 300, 5000, 50_000])
@pytest.mark.parametrize("threads", [1, 2, 8])
def test_a_batch_given_the_rules_memory_runs_a_worker_per_thread(tmp_path, threads, features):
    """The rule scenes asks eotrend.sentinel3.memory's batch_mem_mb; its pool, planning by
    the same model's scene_task_mb, must not then cut its workers below its threads; the
    ask grows with the AOI's features."""
    from eotrend.sentinel3.memory import batch_mem_mb, scene_task_mb

    ask = batch_mem_mb(threads, features)
    plan = plan_workers(
        2 * threads, threads=threads, mem_mb=ask, task_mem_mb=scene_task_mb(features),
        host=make_host(tmp_path),
    )  # fmt: skip
    assert plan.workers == threads, plan.describe()
    assert batch_mem_mb(threads, 1) <= batch_mem_mb(threads, max(1, features // 2)) <= ask
    assert batch_mem_mb(threads, 5000) > batch_mem_mb(threads, 1)
