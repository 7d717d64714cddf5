"""The engine never hangs when a worker dies while its result is on the way to the parent.

CPython's ProcessPoolExecutor reads results from one pipe; a worker killed half-way
through writing a long message leaves a partial one, and the reader thread then waits for
the rest forever. The engine therefore sends large results through files (see
``eotrend.engine.pool._spill``). Both ways a worker dies with a result in transit are
provoked here: killed by a signal (the OOM killer), and killed by the engine itself when
another task fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from eotrend.engine.pool import Task, TaskError, run_tasks
from support import fault_tasks

# A hang must fail the run, not stall it: the thread method ends the whole process.
pytestmark = pytest.mark.timeout(120, method="thread")

SIZE = 2**22  # 32 MB results: many pipe buffers long


def test_worker_killed_while_sending_its_result(tmp_path):
    tasks = [Task(f"block {i}", (str(tmp_path), i, SIZE)) for i in range(4)]
    results = run_tasks(fault_tasks.big_result_once_killed, tasks, 2)
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full(SIZE, i, dtype=np.float64))


@pytest.mark.parametrize("attempt", range(8))
def test_failing_task_while_others_send_results(attempt):
    """The engine kills the other workers when a task fails; some are sending results."""
    tasks = [Task(f"block {i}", (i, SIZE // 2)) for i in range(6)]
    with pytest.raises(TaskError, match="'block 0' failed: ValueError: task 0 fails"):
        run_tasks(fault_tasks.big_result_or_fail, tasks, 2)
