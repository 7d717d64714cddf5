"""The process-pool engine: results against a serial run, crash recovery, errors, progress.

Task functions live in ``tests/support/pool_tasks.py`` (workers import them by name). Crashes are
real: workers call ``os._exit`` or SIGKILL themselves; marker files in ``tmp_path`` make a
task crash on its first call only and count its calls.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
import weakref

import numpy as np
import pytest

from eotrend.core.errors import InputError
from eotrend.engine.limits import Host, plan_workers
from eotrend.engine.pool import Task, TaskError, WorkerCrashError, iter_tasks, run_tasks
from eotrend.engine.progress import Progress
from support import pool_tasks

pytestmark = pytest.mark.timeout(120)


def block_tasks(n: int) -> list[Task]:
    return [Task(f"block {i}", (i, 1000 + 37 * i)) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_equal_a_serial_run(workers):
    tasks = block_tasks(9)
    expected = [pool_tasks.block_sum(*t.args) for t in tasks]
    assert run_tasks(pool_tasks.block_sum, tasks, workers) == expected


def test_plan_is_logged_once(caplog):
    tasks = block_tasks(4)
    plan = plan_workers(len(tasks), threads=2, host=Host(affinity=2))
    with caplog.at_level(logging.INFO, logger="eotrend"):
        results = run_tasks(pool_tasks.block_sum, tasks, plan, label="sums")
    assert results == [pool_tasks.block_sum(*t.args) for t in tasks]
    assert [r.getMessage() for r in caplog.records].count(f"sums: {plan.describe()}") == 1
    assert "sums: 4/4 done in" in caplog.text


def test_workers_are_forkserver_children_with_one_thread_each():
    facts = run_tasks(pool_tasks.worker_facts, [Task(f"t{i}") for i in range(4)], 2)
    for fact in facts:
        # forkserver: workers are children of the fork server, not of this process (fork and
        # spawn would make this process their parent).
        assert fact["pid"] != os.getpid()
        assert fact["ppid"] != os.getpid()
        assert set(fact["env"].values()) == {"1"}


def test_empty_task_list():
    assert run_tasks(pool_tasks.block_sum, [], 2) == []


def crash_tasks(folder, n: int, crashers: dict[int, str], delay: float = 0.0) -> list[Task]:
    return [Task(f"block {i}", (str(folder), i, crashers.get(i, "none"), delay)) for i in range(n)]


def test_worker_exit_on_first_attempt_is_recovered(tmp_path, caplog):
    tasks = crash_tasks(tmp_path, 6, {2: "exit"})
    with caplog.at_level(logging.WARNING, logger="eotrend"):
        results = run_tasks(pool_tasks.crash_once, tasks, 2)
    assert results == [pool_tasks.block_sum(i, 100) for i in range(6)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings
    assert "retrying" in warnings[0].getMessage()


def test_sigkilled_workers_keep_finished_results(tmp_path, caplog):
    # Blocks 0-3 finish at once; 4, 5 and 8 crash their worker 0.5 s into their first
    # call, by when every task submitted before them has finished.
    crashers = {4: "sigkill", 5: "sigkill", 8: "sigkill"}
    tasks = crash_tasks(tmp_path, 10, crashers, delay=0.5)
    with caplog.at_level(logging.WARNING, logger="eotrend"):
        results = run_tasks(pool_tasks.crash_once, tasks, 3)
    assert results == [pool_tasks.block_sum(i, 100) for i in range(10)]
    for i in range(10):
        if i in crashers:
            # crowded round (crash or killed with the pool), then alone: at most 3 calls
            assert 1 <= pool_tasks.calls(tmp_path, i) <= 3
        else:
            assert pool_tasks.calls(tmp_path, i) == 1, f"block {i} was recomputed"
    assert "retrying" in caplog.text


@pytest.mark.parametrize("workers", [1, 2])
def test_task_that_always_kills_its_worker(workers):
    tasks = [Task(f"block {i}", (i,)) for i in (0, 1, -1, 2)]
    with pytest.raises(WorkerCrashError, match="'block -1'") as err:
        run_tasks(pool_tasks.crash_always, tasks, workers)
    assert "SIGKILL" in str(err.value)
    assert "mem_mb" in str(err.value)


def test_ordinary_exception_stops_at_once():
    tasks = [Task("slow block", ("sleep", 30)), Task("bad block", ("fail", 7))]
    start = time.monotonic()
    with pytest.raises(TaskError, match=r"'bad block'.*ValueError: bad value in block 7") as err:
        run_tasks(pool_tasks.sleep_or_fail, tasks, 2)
    assert time.monotonic() - start < 10  # the 30-s task was not waited for
    assert isinstance(err.value.__cause__, ValueError)


def test_input_error_comes_out_unchanged():
    path = "S3A_OL_2_WFR____20200101.SEN3/chl_nn.nc"
    with pytest.raises(InputError) as err:
        run_tasks(pool_tasks.fail_with_input_error, [Task("chl", (path,))], 2)
    assert type(err.value) is InputError
    assert err.value.path == path
    assert str(err.value) == f"{path}: has no variable 'chl_nn'. Check the product type."


def test_inline_single_runs_one_task_in_this_process(caplog):
    with caplog.at_level(logging.INFO, logger="eotrend"):
        facts = run_tasks(pool_tasks.worker_facts, [Task("only")], 1, inline_single=True)
    assert facts[0]["pid"] == os.getpid()
    assert "one task, run in this process" in caplog.text
    assert "tasks: 1/1 done in" in caplog.text
    # errors are reported as from a worker
    with pytest.raises(TaskError, match=r"'bad block'.*ValueError: bad value in block 7") as err:
        run_tasks(
            pool_tasks.fail_with_value_error, [Task("bad block", (7,))], 1, inline_single=True
        )
    assert isinstance(err.value.__cause__, ValueError)
    with pytest.raises(InputError) as err:
        run_tasks(pool_tasks.fail_with_input_error, [Task("chl", ("x.nc",))], 1, inline_single=True)
    assert type(err.value) is InputError


@pytest.mark.parametrize(("n_tasks", "workers"), [(2, 1), (1, 2)])
def test_inline_single_still_uses_a_pool_otherwise(n_tasks, workers):
    tasks = [Task(f"t{i}") for i in range(n_tasks)]
    facts = run_tasks(pool_tasks.worker_facts, tasks, workers, inline_single=True)
    assert all(fact["pid"] != os.getpid() for fact in facts)


def test_inline_runs_every_task_in_this_process_in_order(caplog):
    """Work too small for a pool (extract's reads of a few lakes): every task here, each
    index once, the results those of the pool; errors as from a worker."""
    tasks = [Task(f"t{i}", (i,)) for i in range(3)]
    with caplog.at_level(logging.INFO, logger="eotrend"):
        here = list(iter_tasks(np.arange, tasks, 2, inline=True))
    assert [index for index, _ in here] == [0, 1, 2]
    pooled = dict(iter_tasks(np.arange, tasks, 2))
    for index, result in here:
        np.testing.assert_array_equal(result, pooled[index])
    assert "3 task(s) run in this process" in caplog.text
    facts = dict(iter_tasks(pool_tasks.worker_facts, [Task("a"), Task("b")], 2, inline=True))
    assert {fact["pid"] for fact in facts.values()} == {os.getpid()}
    with pytest.raises(TaskError, match=r"'bad block'.*ValueError: bad value in block 7"):
        list(
            iter_tasks(pool_tasks.fail_with_value_error, [Task("bad block", (7,))], 2, inline=True)
        )


def test_iter_tasks_keeps_no_result_it_has_yielded():
    """A caller writing blocks as they arrive holds one block at a time, not all of them."""
    tasks = [Task(f"t{i}", (200_000,)) for i in range(8)]
    refs = []
    with contextlib.closing(iter_tasks(np.zeros, tasks, 2)) as results:
        for _, result in results:
            refs.append(weakref.ref(result))
            del result
            gc.collect()
            assert all(ref() is None for ref in refs[:-1])  # the engine still holds the last


def test_iter_tasks_yields_every_index_once():
    # later tasks are quicker, so completion order differs from task order
    tasks = [Task(f"t{i}", (0.05 * (6 - i), i)) for i in range(6)]
    pairs = list(iter_tasks(pool_tasks.sleep_then, tasks, 3))
    assert sorted(i for i, _ in pairs) == list(range(6))
    assert all(result == i for i, result in pairs)


def test_closing_iter_tasks_early_ends_the_workers():
    tasks = [Task("quick", (0.0, 0)), Task("slow", (30, 1)), Task("slow too", (30, 2))]
    start = time.monotonic()
    pairs = iter_tasks(pool_tasks.sleep_then, tasks, 2)
    assert next(pairs) == (0, 0)
    pairs.close()
    assert time.monotonic() - start < 10


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress_lines(caplog, total, steps, seconds_per_step, n=1, **kwargs) -> list[str]:
    clock = FakeClock()
    logger = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress = Progress(total, "blocks", logger, clock=clock, **kwargs)
        for _ in range(steps):
            clock.now += seconds_per_step
            progress.advance(n)
    return [r.getMessage() for r in caplog.records if r.name == "test.progress"]


def test_progress_every_ten_percent(caplog):
    lines = progress_lines(caplog, 100, 100, 0.5, every_percent=10, min_seconds=0)
    # after k tasks at 0.5 s each: rate 2/s, ETA (100 - k) / 2 s
    expected = [
        f"blocks: {k}/100 ({k}%), 2.0/s, ETA {(100 - k) / 2:.1f}s" for k in range(10, 100, 10)
    ]
    assert lines == [*expected, "blocks: 100/100 done in 50.0s (2.0/s)"]


def test_progress_is_throttled_in_time(caplog):
    lines = progress_lines(caplog, 100, 100, 1.0, every_percent=1, min_seconds=10)
    assert lines == [
        "blocks: 10/100 (10%), 1.0/s, ETA 1m30s",
        "blocks: 20/100 (20%), 1.0/s, ETA 1m20s",
        "blocks: 30/100 (30%), 1.0/s, ETA 1m10s",
        "blocks: 40/100 (40%), 1.0/s, ETA 1m00s",
        "blocks: 50/100 (50%), 1.0/s, ETA 50.0s",
        "blocks: 60/100 (60%), 1.0/s, ETA 40.0s",
        "blocks: 70/100 (70%), 1.0/s, ETA 30.0s",
        "blocks: 80/100 (80%), 1.0/s, ETA 20.0s",
        "blocks: 90/100 (90%), 1.0/s, ETA 10.0s",
        "blocks: 100/100 done in 1m40s (1.0/s)",
    ]


def test_progress_big_steps_log_once_per_step(caplog):
    lines = progress_lines(caplog, 12, 4, 2.0, n=3, every_percent=5, min_seconds=0)
    assert lines == [
        "blocks: 3/12 (25%), 1.5/s, ETA 6.0s",
        "blocks: 6/12 (50%), 1.5/s, ETA 4.0s",
        "blocks: 9/12 (75%), 1.5/s, ETA 2.0s",
        "blocks: 12/12 done in 8.0s (1.5/s)",
    ]


def test_progress_long_eta(caplog):
    lines = progress_lines(caplog, 10000, 500, 1.0, every_percent=5, min_seconds=0)
    assert lines == ["blocks: 500/10000 (5%), 1.0/s, ETA 2h38m"]
