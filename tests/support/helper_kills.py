"""A run of the engine whose helper processes a test kills from outside (issue 24).

``python -m support.helper_kills FOLDER --tasks N --workers W`` runs
:func:`support.fault_tasks.sum_after_go` for tasks 0..N-1 on the engine: every task waits
for ``FOLDER/go``, so that the test can kill multiprocessing's forkserver or resource
tracker (children of this process) while tasks run, and only then let them finish. It
prints ``{task index: result}`` as JSON; a user error ends it with one ``error:`` line,
as a stage command does.

``--runs R`` runs the same tasks R times (later runs start new pools after the kill);
``--no-restart`` makes a new forkserver impossible to start once the first one runs (its
Python executable is set to a missing file), as on a system where it cannot be restarted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing

from eotrend.core.logs import setup_logging, user_errors
from eotrend.engine.pool import Task, iter_tasks, run_tasks
from support import fault_tasks, pool_tasks

MISSING_PYTHON = "/nonexistent/python3"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-restart", action="store_true")
    args = parser.parse_args()
    setup_logging()
    with user_errors():
        if args.no_restart:
            # Starts the forkserver (with the first pool), then takes its executable away.
            run_tasks(pool_tasks.block_sum, [Task("warm-up", (0, 1))] * 2, 2)
            multiprocessing.set_executable(MISSING_PYTHON)
        tasks = [Task(f"task {i}", (args.folder, i)) for i in range(args.tasks)]
        for _ in range(args.runs):
            results = dict(iter_tasks(fault_tasks.sum_after_go, tasks, args.workers))
    print(json.dumps({str(i): results[i] for i in sorted(results)}))


if __name__ == "__main__":
    main()
