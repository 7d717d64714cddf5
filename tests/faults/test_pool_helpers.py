"""The pool's helper processes killed from outside while tasks run (issue 24).

Besides its workers, a pool of the engine uses two processes that multiprocessing starts
once per process: the forkserver, which forks every worker, and the resource tracker,
which removes the pools' semaphores if the process dies. Each test kills one of them
with SIGKILL while tasks of a real run wait for a file, waits until it is dead, then lets
the tasks finish (:mod:`support.helper_kills`): the run must end with the results a
direct computation gives, without a traceback. A forkserver that cannot be started again
ends the run with one ``error:`` line. The trend stage, where the forkserver's death was
first seen, is run with its forkserver killed as soon as it forked a worker, and must
write the clean run's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eotrend.synthetic.series import write_yearly_series
from support.commands import REPO, command_env
from support.compare import assert_same_raster
from support.pool_tasks import block_sum
from support.stages import error_line, stage, stage_args
from support.worker_killer import children, helper, kill_and_wait

pytestmark = pytest.mark.timeout(120, method="thread")

TASKS = 6


def start(folder: Path, *options: object) -> subprocess.Popen:
    """:mod:`support.helper_kills` on ``folder``, output captured."""
    env = command_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "tests")])
    return subprocess.Popen(
        [sys.executable, "-m", "support.helper_kills", str(folder), *map(str, options)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, patience: float = 60.0) -> None:
    end = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < end, f"waited {patience} s for {what}"
        time.sleep(0.005)


def kill_while_tasks_run(folder: Path, process: subprocess.Popen, module: str, workers: int):
    """Once ``workers`` tasks run, kill the run's ``multiprocessing.<module>`` process and
    wait for its death; then let the tasks finish. Returns (stdout, stderr)."""
    wait_for(lambda: len(list(folder.glob("started-*"))) >= workers, "the tasks to start")
    pid = helper(process.pid, module)
    assert pid is not None, f"no {module} process under the run"
    kill_and_wait(pid)
    (folder / "go").touch()
    return process.communicate(timeout=90)


def expected() -> dict[str, float]:
    return {str(i): block_sum(i, 100) for i in range(TASKS)}


@pytest.mark.parametrize("workers", [1, 2])
def test_forkserver_killed_while_tasks_run(tmp_path, workers):
    """1 worker: tasks run one at a time (the death is not counted against the task);
    2: the crowded pool breaks and its tasks are retried."""
    process = start(tmp_path, "--tasks", TASKS, "--workers", workers)
    out, err = kill_while_tasks_run(tmp_path, process, "forkserver", workers)
    assert process.returncode == 0, err[-5000:]
    assert "Traceback" not in err, err[-5000:]
    assert "the pool's forkserver process died (killed by SIGKILL)" in err, err[-5000:]
    assert json.loads(out) == expected()


def test_resource_tracker_killed_while_tasks_run(tmp_path):
    """The tracker's death breaks nothing: the run, and a second run on new pools, give the
    same results; the new tracker prints no traceback for semaphores it was not told of."""
    process = start(tmp_path, "--tasks", TASKS, "--workers", 2, "--runs", 2)
    out, err = kill_while_tasks_run(tmp_path, process, "resource_tracker", 2)
    assert process.returncode == 0, err[-5000:]
    assert "Traceback" not in err, err[-5000:]
    assert "UserWarning" not in err, err[-5000:]  # multiprocessing's own relaunch warning
    assert "resource tracker process of the pool died" in err, err[-5000:]
    assert json.loads(out) == expected()


def test_forkserver_that_cannot_be_restarted_ends_the_run_with_one_line(tmp_path):
    process = start(tmp_path, "--tasks", TASKS, "--workers", 2, "--no-restart")
    out, err = kill_while_tasks_run(tmp_path, process, "forkserver", 2)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    error_line(result, "cannot start a worker process", "forkserver")


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stack")
    series = write_yearly_series(root / "series", years=range(2001, 2013), width=400, height=600)
    stacked = stage("stack", *series, "-o", root / "stack.tif", cwd=root)
    assert stacked.returncode == 0, stacked.stderr
    return root / "stack.tif"


@pytest.mark.slow  # a stage command twice, as in test_worker_kills
def test_trend_stage_with_its_forkserver_killed_writes_the_clean_output(small_stack, tmp_path):
    """The forkserver dies as soon as it forked the first worker: while the stage starts its
    pool (the start of the next worker failed with ``EOFError: unexpected EOF`` before) or
    while the workers run; either way the output is the clean run's."""
    args = [small_stack, "--chunk-rows", 32, "--workers", 2]  # 19 windows
    clean = stage("trend", *args, "-o", tmp_path / "clean.tif", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    err_path = tmp_path / "killed.err"
    with open(err_path, "w") as err:
        process = subprocess.Popen(
            stage_args("trend", *args, "-o", tmp_path / "killed.tif"),
            cwd=tmp_path,
            env=command_env(),
            stderr=err,
        )
        killed = None
        while killed is None and process.poll() is None:
            server = helper(process.pid, "forkserver")
            if server is not None and children(server):
                kill_and_wait(server)
                killed = server
        process.wait(timeout=90)
    stderr = err_path.read_text()
    assert process.returncode == 0, stderr[-5000:]
    assert "Traceback" not in stderr, stderr[-5000:]
    assert killed is not None, "the stage ended before its forkserver forked a worker"
    assert_same_raster(tmp_path / "clean.tif", tmp_path / "killed.tif")
