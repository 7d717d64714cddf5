"""The process-pool engine every stage uses.

Stages describe their work as small :class:`Task` objects (paths, windows, numbers; each
worker reads its own data) and hand them with a top-level function to :func:`run_tasks`
or :func:`iter_tasks`. The engine:

- runs them on a ``ProcessPoolExecutor`` with the forkserver start method (spawn off Linux),
  BLAS/OpenMP/GDAL thread variables set to 1, and the worker count of a
  :class:`~eotrend.engine.limits.WorkerPlan` (logged once);
- logs progress from the parent (:class:`~eotrend.engine.progress.Progress`);
- survives workers killed by the OOM killer or a crash in a C library: finished results are
  kept, unfinished tasks are retried on new pools with half the workers, down to one task at
  a time, and a task that kills its worker twice on its own raises :class:`WorkerCrashError`;
- survives the death of multiprocessing's helper processes, the forkserver that starts the
  workers and the resource tracker, in the same way: a dead one is replaced before the next
  pool (see :func:`_renew_helpers`), and when workers cannot be started even then the run
  stops with :class:`PoolError`;
- stops at the first ordinary exception in a task and raises :class:`TaskError` naming it
  (:class:`~eotrend.core.errors.EotrendError` subclasses pass through unchanged);
- never nests pools: a stage called from a task (one scene of a batch,
  :mod:`eotrend.stages.scenes`) runs its own tasks in that worker, one after the other;
- hands results larger than :data:`SPILL_BYTES` back through files in a temporary folder
  ($TMPDIR), so that the pool's result pipe only ever carries messages the kernel writes
  whole (see :func:`_spill`): a worker killed at any moment never leaves half a message in
  it, which would block the pool's reader thread, and so the job, forever.

Results do not depend on the number of workers: each task's result depends only on its
arguments, and :func:`run_tasks` returns them in task order.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker, synchronize, util
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from eotrend.core.errors import EotrendError, OutputError
from eotrend.engine.limits import WorkerPlan
from eotrend.engine.progress import Progress

_log = logging.getLogger(__name__)

# Thread pools of numerical and I/O libraries: one per worker, or the workers oversubscribe
# the job's CPUs (each worker already is one of the job's threads).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "GDAL_NUM_THREADS",
)


# Imported once in the forkserver (an import that fails there is skipped).
PRELOAD = ("__main__", "numpy", "netCDF4", "osgeo.gdal", "shapely")

# True in a pool's worker processes: a stage called from a task (e.g. one scene of a batch)
# runs its own tasks in that worker, one after the other, instead of starting a nested pool.
_IN_WORKER = False

# Results that pickle to more than this many bytes travel through a file (see _spill). Linux
# writes a pipe message of at most PIPE_BUF (4096) bytes whole or not at all.
SPILL_BYTES = 2048

# Deaths of the forkserver while tasks run one at a time that one run survives (they do not
# count against the task running; a forkserver killed again and again ends the run).
FORKSERVER_DEATHS = 3

# What submitting to a pool raises when it cannot start the pool's worker processes: the
# pool broke, a pipe or socket to the forkserver failed (OSError), or the forkserver died
# before it told the worker's pid (EOFError from multiprocessing.forkserver.read_signed).
_START_ERRORS = (BrokenProcessPool, OSError, EOFError)

# Linux's flag of a process that is exiting (PF_EXITING in include/linux/sched.h), in field
# 9 ("flags") of /proc/<pid>/stat (proc(5)). Set before the process closes its files.
_PF_EXITING = 0x4


@dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes:
        name: human-readable, used in progress and errors ("Oa08_reflectance.nc rows 0-511").
        args: positional arguments of the task function; small and picklable (paths,
            windows, numbers), never big arrays: workers read their own data.
    """

    name: str
    args: tuple = ()


class TaskError(EotrendError):
    """An ordinary exception inside a task; raised from it (its remote traceback attached)."""


class WorkerCrashError(EotrendError):
    """A task killed its worker process again when run alone (memory or a C library crash)."""


class PoolError(EotrendError):
    """The pool's worker processes cannot be started, or their forkserver keeps dying."""


def run_tasks(
    func: Callable[..., Any],
    tasks: Sequence[Task],
    plan: WorkerPlan | int,
    *,
    label: str = "tasks",
    logger: logging.Logger | None = None,
    inline_single: bool = False,
) -> list:
    """Run ``func(*task.args)`` for every task in worker processes; return results in task order.

    Args:
        func: a top-level (picklable) function.
        tasks: the work, one :class:`Task` per call.
        plan: the worker plan (see :func:`eotrend.engine.limits.plan_workers`) or a worker count.
        label: what is being done, for the log and error messages.
        logger: where the plan, progress and warnings go; None = this module's logger.
        inline_single: when there is exactly one task and one worker, run it in this
            process instead of starting a pool (which costs about 0.1-0.5 s); errors are
            reported as from a worker. Only for tasks that are safe to run here: no crash
            recovery, and the thread variables of workers are not applied.

    Raises:
        TaskError: a task raised an ordinary exception (the run stops at once).
        EotrendError: a task raised one (unchanged; e.g. an InputError naming its file).
        WorkerCrashError: a task killed its worker twice when run alone.
        PoolError: worker processes cannot be started (see :func:`_renew_helpers`).
    """
    results: list = [None] * len(tasks)
    for index, result in iter_tasks(
        func, tasks, plan, label=label, logger=logger, inline_single=inline_single
    ):
        results[index] = result
    return results


def iter_tasks(
    func: Callable[..., Any],
    tasks: Sequence[Task],
    plan: WorkerPlan | int,
    *,
    label: str = "tasks",
    logger: logging.Logger | None = None,
    inline_single: bool = False,
    inline: bool = False,
    crashes: str = "raise",
) -> Iterator[tuple[int, Any]]:
    """Like :func:`run_tasks`, but yield ``(task index, result)`` as tasks complete.

    Every index is yielded exactly once, in completion order, so a caller can write blocks
    as they arrive. Closing the iterator early ends the workers. ``crashes="yield"``: a
    task that kills its worker twice when run alone yields its :class:`WorkerCrashError`
    as its result and the other tasks go on (for independent tasks, e.g. the scenes of a
    batch); ``"raise"`` raises it. ``inline``: every task runs in this process, one after
    the other, as in a worker (for work that takes less than starting a pool; the same
    caveats as ``inline_single``).
    """
    log = _log if logger is None else logger
    tasks = list(tasks)
    if _IN_WORKER or inline:
        where = "this worker" if _IN_WORKER else "this process (less work than a pool's start)"
        log.info("%s: %d task(s) run in %s, one after the other", label, len(tasks), where)
        progress = Progress(len(tasks), label, log)
        for index, task in enumerate(tasks):
            result = _inline(func, task, label)
            progress.advance()
            yield index, result
        return
    workers = _announce(plan, label, log)
    if not tasks:
        return
    if inline_single and len(tasks) == 1 and workers == 1:
        log.info("%s: one task, run in this process (no worker pool)", label)
        progress = Progress(1, label, log)
        result = _inline(func, tasks[0], label)
        progress.advance()
        yield 0, result
        return
    _one_thread_per_worker()
    try:
        spill = tempfile.mkdtemp(prefix="eotrend-results-")
    except OSError as error:
        raise OutputError(
            tempfile.gettempdir(),
            f"cannot hold the workers' results ({error.strerror})",
            "Free space in the temporary folder, or point TMPDIR at a larger one.",
        ) from error
    run = _Run(
        func, tasks, _context(), Progress(len(tasks), label, log), label, log, spill, plan, crashes
    )
    try:
        yield from _rounds(run, workers)
    finally:
        shutil.rmtree(spill, ignore_errors=True)


@dataclass(frozen=True)
class _Run:
    """What every pool of one :func:`iter_tasks` call shares."""

    func: Callable[..., Any]
    tasks: list[Task]
    context: BaseContext
    progress: Progress
    label: str
    log: logging.Logger
    spill: str  # folder of results too large for the pipe (see _spill)
    plan: WorkerPlan | int
    crashes: str  # "raise" or "yield" (see iter_tasks)

    def submit(self, pool: ProcessPoolExecutor, i: int) -> Future:
        return pool.submit(_call, self.func, self.tasks[i].args, self.spill)


def _rounds(run: _Run, workers: int) -> Iterator[tuple[int, Any]]:
    """Crowded pools with fewer workers after each crash, then one task at a time."""
    unfinished = list(range(len(run.tasks)))
    while unfinished and workers > 1:
        unfinished = yield from _crowded(run, unfinished, workers)
        if unfinished:
            workers = max(1, workers // 2)
            how = "one task at a time" if workers == 1 else "in a new pool"
            run.log.warning(
                "%s: a worker process died (out of memory, or a crash in a C library?); "
                "%d finished tasks kept, retrying %d unfinished tasks with %d worker%s, %s",
                run.label,
                run.progress.done,
                len(unfinished),
                workers,
                "" if workers == 1 else "s",
                how,
            )
    if unfinished:
        yield from _isolated(run, unfinished)


def _context() -> BaseContext:
    """forkserver on Linux (GDAL and HDF5 are not fork-safe), spawn elsewhere.

    Workers fork from the forkserver: with the heavy libraries imported there once, every
    pool of this process starts in milliseconds instead of each worker importing them
    again (~0.2 s each). Only site-packages modules can be preloaded (Python 3.11's
    forkserver does not get the parent's sys.path); the preload list is read when the
    forkserver starts, with the first pool.
    """
    if sys.platform != "linux":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _announce(plan: WorkerPlan | int, label: str, log: logging.Logger) -> int:
    """Log the plan once; return the worker count."""
    if isinstance(plan, WorkerPlan):
        log.info("%s: %s", label, plan.describe())
        return plan.workers
    if plan < 1:
        raise ValueError(f"need at least 1 worker, got {plan}")
    log.info("%s: %d worker%s (given by the caller)", label, plan, "" if plan == 1 else "s")
    return plan


def _one_thread_per_worker() -> None:
    """Set the thread variables to 1 in this process's environment, before any pool starts.

    Workers (and the forkserver, started with the first pool) inherit the environment when
    they start; libraries read these variables when they load, and the forkserver preloads
    ``__main__`` (and so numpy), so a pool initializer would run too late.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def _crowded(run: _Run, indices: list[int], workers: int) -> Iterator[tuple[int, Any]]:
    """Run ``indices`` on one pool of ``workers``; yield results as they come.

    At most ``workers + 1`` tasks are in flight (one spare keeps every worker busy): a
    new task is submitted only after the caller took a result, so results never pile up
    in memory faster than the caller writes them, whatever the number of tasks.
    Returns (as the generator's value) the indices a dead worker left unfinished, in order.
    """
    unfinished = set(indices)
    waiting = deque(indices)
    with _pool(min(workers, len(indices)), run) as pool:
        in_flight: dict[Future, int] = {}
        broken = False
        while True:
            while not broken and waiting and len(in_flight) <= workers:
                try:
                    in_flight[run.submit(pool, waiting[0])] = waiting[0]
                    waiting.popleft()
                except BrokenProcessPool:  # a worker died: collect what finished before
                    broken = True
                except (OSError, EOFError):
                    # The first submit starts the workers: the forkserver died before or
                    # while it started one (EOFError, a refused connection), or could not
                    # be started. Or, submitted while the executor was still tearing down
                    # after a death, it pickled a connection it had just closed to start a
                    # replacement ("handle is closed"). Either way the pool is broken but
                    # may not say so for the tasks in flight: stop the workers it has and
                    # retry those tasks too (the next pool replaces a dead forkserver).
                    _kill_workers(pool)
                    broken, in_flight = True, {}
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            while done:
                # Dropped once seen: a future holds its result until released.
                future = done.pop()
                i = in_flight.pop(future)
                try:
                    result = _result(future, run.tasks[i], run.label)
                except BrokenProcessPool:
                    broken = True
                    continue
                unfinished.discard(i)
                run.progress.advance()
                del future
                yield i, result
    return sorted(unfinished)


def _isolated(run: _Run, indices: list[int]) -> Iterator[tuple[int, Any]]:
    """Run ``indices`` one at a time on a one-worker pool, so that a crash names its task.

    A task that kills its worker is retried once in a fresh pool; a second crash raises
    :class:`WorkerCrashError`. A death of the forkserver is not the task's doing: the same
    attempt runs again in a fresh pool, after up to :data:`FORKSERVER_DEATHS` deaths in all.
    """
    pool: ProcessPoolExecutor | None = None
    forkserver_deaths = 0
    try:
        for i in indices:
            task = run.tasks[i]
            attempt = 1
            while True:
                if pool is None:
                    pool = _one_worker(run)
                try:
                    future = run.submit(pool, i)
                except _START_ERRORS:
                    # The worker died after the previous task, before this one reached it,
                    # or could not be started (its forkserver died): not this task's doing,
                    # so a fresh pool and the same attempt.
                    _renew_helpers(run)  # before _stop removes the pool's semaphores
                    _stop(pool)
                    pool = _one_worker(run)
                    future = _submit_to_fresh_pool(run, pool, i)
                wait([future])
                try:
                    result = _result(future, task, run.label)
                    break
                except BrokenProcessPool as crash:
                    processes = _worker_processes(pool)
                    died = _renew_helpers(run)
                    pool.shutdown(wait=True)  # joins the dead worker: its exit code is final
                    pool = None
                    if died is not None:
                        forkserver_deaths += 1
                        if forkserver_deaths > FORKSERVER_DEATHS:
                            raise PoolError(
                                f"{run.label}: the pool's forkserver process died "
                                f"{forkserver_deaths} times while tasks ran (last: {died}). "
                                "Something kills it: the job's log and `dmesg` ('Killed "
                                "process') tell what."
                            ) from crash
                        continue
                    how = _how_it_died(processes)
                    if attempt == 2:
                        error = WorkerCrashError(_crash_message(run.label, task, how, run.plan))
                        if run.crashes == "raise":
                            raise error from crash
                        run.log.error("%s", error)
                        result = error
                        break
                    run.log.warning(
                        "%s: task %r killed its worker when run alone (%s); retrying it once "
                        "in a fresh worker",
                        run.label,
                        task.name,
                        how,
                    )
                    attempt = 2
            run.progress.advance()
            yield i, result
    except BaseException:
        if pool is not None:
            _stop(pool)
        raise
    if pool is not None:
        _renew_helpers(run)
        pool.shutdown(wait=True)


def _submit_to_fresh_pool(run: _Run, pool: ProcessPoolExecutor, i: int) -> Future:
    """Submit task ``i`` to a pool just made after another could not start its worker; a
    second failure raises :class:`PoolError` (the forkserver could not be replaced)."""
    try:
        return run.submit(pool, i)
    except _START_ERRORS as error:
        raise PoolError(
            f"{run.label}: cannot start a worker process ({type(error).__name__}: {error}), "
            "even after replacing multiprocessing's forkserver, which starts them. Check "
            "that the temporary folder ($TMPDIR) exists and has room, and that the job may "
            "start processes and open files (ulimit -u, ulimit -n); then run again."
        ) from error


@contextlib.contextmanager
def _pool(workers: int, run: _Run) -> Iterator[ProcessPoolExecutor]:
    """A pool shut down normally on success and stopped at once on any exception.

    Its workers all start with the first task. Python 3.11 otherwise starts them one by
    one as tasks are submitted (start methods other than fork), adding to the executor's
    table of processes from this thread while its manager thread may be reading it after
    a worker died: that fails there with "dictionary changed size during iteration", a
    traceback printed into the job's log (fixed in later Pythons).

    Dead helper processes are replaced before it starts and before it shuts down (its
    semaphores are removed then; see :func:`_renew_resource_tracker`).
    """
    _renew_helpers(run)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=run.context)
    if hasattr(pool, "_safe_to_dynamically_spawn_children"):
        pool._safe_to_dynamically_spawn_children = False
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    _renew_helpers(run)
    pool.shutdown(wait=True)


def _one_worker(run: _Run) -> ProcessPoolExecutor:
    """A pool of one worker process for :func:`_isolated`."""
    _renew_helpers(run)
    return ProcessPoolExecutor(max_workers=1, mp_context=run.context)


def _renew_helpers(run: _Run) -> str | None:
    """Replace the helper processes of multiprocessing that died; called before a pool
    starts and before it shuts down. Returns how the forkserver died, None if it did not.

    Every pool of this process shares two helpers that multiprocessing starts with the
    first pool (``Lib/multiprocessing/forkserver.py`` and ``resource_tracker.py`` of
    CPython): the forkserver, which forks every worker (forkserver start method only), and
    the resource tracker, which removes the pools' named semaphores if this process dies.
    Each warning logged here says which died.
    """
    died = _forkserver_death() if run.context.get_start_method() == "forkserver" else None
    if died is not None:
        run.log.warning(
            "%s: the pool's forkserver process died (%s); a new one starts the next workers",
            run.label,
            died,
        )
    if _renew_resource_tracker():
        run.log.warning(
            "%s: the resource tracker process of the pool died; a new one was started",
            run.label,
        )
    return died


def _forkserver_death() -> str | None:
    """How multiprocessing's forkserver died ("killed by SIGKILL"), once: it is then reaped
    and forgotten, so that the next pool starts a new one. None while it lives.

    Its death breaks the pool it serves: each worker's sentinel is a pipe whose other end
    only the forkserver holds (it writes the worker's exit status there), so every sentinel
    reads end-of-file and the executor declares the pool broken (its workers are stopped).
    ``ForkServer.ensure_running`` starts a new server only if ``waitpid`` finds the old one
    dead (CPython issue 75489, bpo-31308). A server that is still exiting, files closed
    but not yet a zombie, passes for alive: the next worker's start then fails with
    ``EOFError: unexpected EOF`` or a refused connection, a traceback. Here a server whose
    exit has begun (PF_EXITING) is waited for, so the next pool always gets a new one.
    """
    server = forkserver._forkserver  # the module's global ForkServer (private API)
    with server._lock:
        pid = server._forkserver_pid
        if pid is None:  # not started yet, or already forgotten
            return None
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                if not _exiting(pid):
                    return None
                done, status = os.waitpid(pid, 0)  # its exit has begun: soon a zombie
        except ChildProcessError:  # reaped elsewhere: ensure_running would fail the same
            return None
        _kill_forkserver_children(server._forkserver_alive_fd)
        # What ensure_running does itself when waitpid finds the server dead, plus removing
        # its socket file as ForkServer._stop does.
        with contextlib.suppress(OSError):
            os.close(server._forkserver_alive_fd)
        address = server._forkserver_address
        if address and not util.is_abstract_socket_namespace(address):
            with contextlib.suppress(OSError):
                os.unlink(address)
        server._forkserver_address = None
        server._forkserver_alive_fd = None
        server._forkserver_pid = None
    return _exit_text(os.waitstatus_to_exitcode(status))


def _kill_forkserver_children(alive_fd: int) -> None:
    """SIGKILL the processes a dead forkserver had forked that still live.

    The executor stops the workers it knows, but a server killed after it forked a worker
    and before it sent the worker's pid leaves one this process never heard of: it would
    start, fail on the pool's semaphores once they are removed (a traceback), or wait for
    tasks forever. Every child of the server holds a copy of the write end of its "alive"
    pipe, as this process does (``alive_fd``); they carry the server's command line.
    """
    try:
        link = f"pipe:[{os.fstat(alive_fd).st_ino}]"
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"multiprocessing.forkserver" not in handle.read():
                    continue
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == link for fd in fds):
                os.kill(pid, signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            continue


def _exiting(pid: int) -> bool:
    """Process ``pid`` has begun to exit (Linux; False where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, ..., flags (7th)
    return fields[0] in "ZX" or bool(int(fields[6]) & _PF_EXITING)


def _renew_resource_tracker() -> bool:
    """Start a new resource tracker if multiprocessing's died; True if it had.

    The tracker's death breaks no pool: workers never talk to it. But the next semaphore
    this process creates or removes would start a new one with a warning, and the new
    tracker, told to forget semaphores it never heard of, prints a ``KeyError`` traceback
    for each. Here the new one is started quietly and told the names of this process's
    semaphores that still exist (they keep the protection the tracker gives: removal if
    this process dies).
    """
    tracker = resource_tracker._resource_tracker  # the module's global (private API)
    probe = getattr(tracker, "_check_alive", None)
    if probe is None or tracker._fd is None or tracker._pid is None or probe():
        return False  # another Python, not started, not ours (inherited), or alive
    try:
        tracker._stop()  # closes our end and reaps it (it is dead: its pipe is closed)
        tracker.ensure_running()
    except OSError:
        return False  # multiprocessing relaunches it itself, with its warning
    for name in _semaphore_names():
        resource_tracker.register(name, "semaphore")
    return True


def _semaphore_names() -> list[str]:
    """The named semaphores this process made and has not removed yet: each has the
    finalizer ``SemLock._cleanup(name)`` (``Lib/multiprocessing/synchronize.py``)."""
    cleanup = synchronize.SemLock._cleanup
    for _ in range(3):  # a finalizer run by the garbage collector may change the registry
        try:
            finalizers = list(util._finalizer_registry.values())
            break
        except RuntimeError:
            continue
    else:
        return []
    return [f._args[0] for f in finalizers if f._callback is cleanup and f._args]


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel queued tasks and kill running ones, without waiting for them."""
    # Without the kill, shutdown() (and interpreter exit, which joins the pool) would wait
    # for every running task. The manager thread then sees the dead workers and exits.
    _kill_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker process of ``pool``."""
    for process in _worker_processes(pool):
        process.kill()


def _worker_processes(pool: ProcessPoolExecutor) -> list[BaseProcess]:
    """The pool's worker processes (private API: Python < 3.14 has no public one)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _result(future: Future, task: Task, label: str) -> Any:
    """The finished ``future``'s result, or its exception as the caller should see it.

    ``BrokenProcessPool`` passes through (the caller retries); an EotrendError is raised
    unchanged; any other exception becomes a :class:`TaskError` naming the task.
    """
    try:
        result = future.result()
        return result.load() if isinstance(result, _Spilled) else result
    except BrokenProcessPool:
        raise
    except BaseException as exc:  # SystemExit in a task is a task failure, not ours
        original = exc.rebuild() if isinstance(exc, _PortableError) else exc
        if isinstance(original, EotrendError):
            raise original from original.__cause__  # already names its file and what to do
        raise TaskError(
            f"{label}: task {task.name!r} failed: {type(original).__name__}: {original}"
        ) from original


def _inline(func: Callable[..., Any], task: Task, label: str) -> Any:
    """Run ``task`` in this process; its exception as :func:`_result` would report it."""
    try:
        return func(*task.args)
    except EotrendError:
        raise
    except (Exception, SystemExit) as exc:  # SystemExit in a task is a task failure
        raise TaskError(f"{label}: task {task.name!r} failed: {type(exc).__name__}: {exc}") from exc


def _call(func: Callable[..., Any], args: tuple, spill: str) -> Any:
    """Run one task in a worker; make its result and exception survive the trip back.

    A large result goes through a file in ``spill`` (see :func:`_spill`). Pickle rebuilds
    an exception as ``cls(*exc.args)``, which fails for (third-party) classes whose
    ``__init__`` takes other arguments; the parent would then see a broken pool instead of
    the error. Those travel as a :class:`_PortableError`.
    """
    global _IN_WORKER
    _IN_WORKER = True
    try:
        result = func(*args)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise _PortableError(type(exc), exc.args, vars(exc)) from exc
        raise
    return _spill(result, spill)


def _spill(result: Any, folder: str) -> Any:
    """``result`` itself when it pickles small, else a :class:`_Spilled` file holding it.

    The executor sends a result to the parent as one message on a pipe that every worker
    shares. A worker killed (OOM killer, SIGKILL) half-way through writing a long message
    leaves a partial one, and CPython's reader thread then waits for its missing bytes
    forever: the pool neither finishes nor breaks. Messages of at most PIPE_BUF bytes are
    written whole or not at all, so bigger results travel as files; a file left by a
    killed worker is removed with the folder.
    """
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) <= SPILL_BYTES:
        return result
    try:
        fd, path = tempfile.mkstemp(suffix=".pickle", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise OutputError(
            folder,
            f"has no room for a task's result of {len(data) / 2**20:.0f} MB ({error.strerror})",
            "Free space in the temporary folder, or point TMPDIR at a larger one.",
        ) from error
    return _Spilled(path)


@dataclass(frozen=True)
class _Spilled:
    """A task's result, pickled into the file ``path`` (read once, then removed)."""

    path: str

    def load(self) -> Any:
        with open(self.path, "rb") as handle:
            data = handle.read()
        os.unlink(self.path)
        return pickle.loads(data)


class _PortableError(Exception):
    """Carries ``(exception class, args, attributes)`` of a task's exception to the parent."""

    def rebuild(self) -> BaseException:
        """The original exception, its ``__cause__`` the worker's traceback."""
        cls, args, state = self.args
        exc = cls.__new__(cls)
        exc.args = args
        exc.__dict__.update(state)
        exc.__cause__ = self.__cause__  # concurrent.futures attaches the remote traceback here
        return exc


def _how_it_died(processes: list[BaseProcess]) -> str:
    """The exit of the (single) worker, e.g. "killed by SIGKILL"."""
    codes = [p.exitcode for p in processes if p.exitcode]
    return _exit_text(codes[0]) if codes else "the worker died"


def _exit_text(code: int) -> str:
    """A process's exit code as words: "exit status 1", "killed by SIGKILL"."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _crash_message(label: str, task: Task, how: str, plan: WorkerPlan | int) -> str:
    estimate = ""
    if isinstance(plan, WorkerPlan):
        budget = plan.memory_budget_mb
        estimate = (
            f" Each task was estimated to need {plan.limits['task_mem_mb']} MB"
            + ("" if budget is None else f", within a budget of {budget} MB for the job")
            + "."
        )
    return (
        f"{label}: task {task.name!r} killed its worker process twice when run alone ({how})."
        f"{estimate} Likely cause: memory (the OOM killer sends SIGKILL to the biggest process "
        "when the job exceeds its memory limit), or a crash in a C library (GDAL, HDF5: "
        "SIGSEGV, SIGABRT; SIGBUS: a memory-mapped file on a full disk, e.g. in $TMPDIR). "
        "Raise the rule's mem_mb, lower threads, or process smaller blocks; the job's log and "
        "`dmesg` ('Killed process') tell which."
    )
