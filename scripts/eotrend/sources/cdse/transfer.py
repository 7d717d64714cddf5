"""The run's downloads on the shared engine, each product dispatched to its fetch mode:
whole zips (:mod:`eotrend.sources.cdse.zips`), per-file over OData Nodes
(:mod:`eotrend.sources.cdse.nodes`) or from the object store
(:mod:`eotrend.sources.cdse.s3`).
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed

from eotrend.core.credentials import Credentials
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, iter_tasks
from eotrend.sources.cdse.jobs import FetchJob, FetchResult
from eotrend.sources.cdse.nodes import fetch_files
from eotrend.sources.cdse.s3 import fetch_from_store
from eotrend.sources.cdse.settings import FETCH_MODES, Settings
from eotrend.sources.cdse.tokens import TokenClient, TokenManager, TokenService
from eotrend.sources.cdse.zips import fetch

log = logging.getLogger(__name__)

TASK_MEM_MB = 150  # a download worker: the interpreter plus one chunk


def _task(job: FetchJob, tokens: TokenClient | None, settings: Settings) -> FetchResult:
    """Worker task: one OData job by its fetch mode."""
    if job.fetch == "zip":
        return fetch(job, tokens, settings)

    return fetch_files(job, tokens, settings)


def fetch_all(
    jobs: list[FetchJob],
    settings: Settings,
    credentials: Credentials | None,
    *,
    mem_mb: float | None = None,
) -> list[FetchResult]:
    """Fetch ``jobs``, at most ``settings.max_concurrent`` at a time (the service's quota,
    CDSE's Quotas page; the job's CPUs do not lower it, its memory ``mem_mb`` can): the
    OData modes (``zip``, ``files``) on the shared engine with one
    login for all of them (``credentials``; None when every job reads the object store),
    the object-store modes on threads of this process. Results in job order.

    Raises:
        CredentialsError: credentials refused (the run stops: every product would fail).
    """
    unknown = sorted({j.fetch for j in jobs} - set(FETCH_MODES))
    if unknown:
        raise ValueError(f"unknown fetch mode(s) {unknown}")
    manager = TokenManager(credentials, settings) if credentials is not None else None
    # Transfers wait on the network: the service's quota (max_concurrent), not the job's
    # CPUs, bounds them (memory still does).
    requested = settings.max_concurrent
    results: list[FetchResult] = [FetchResult(j.name, False, "not attempted") for j in jobs]
    odata = [i for i, job in enumerate(jobs) if job.fetch in ("zip", "files")]
    store = [i for i, job in enumerate(jobs) if i not in set(odata)]
    if odata:
        with TokenService(manager) if manager else contextlib.nullcontext() as service:
            client = service.client if service else None
            tasks = [Task(jobs[i].name, (jobs[i], client, settings)) for i in odata]
            plan = plan_workers(
                len(tasks),
                threads=requested,
                mem_mb=mem_mb,
                task_mem_mb=TASK_MEM_MB,
                network_bound=True,
            )
            # One download needs no pool: it is network-bound and safe to run here.
            done = iter_tasks(_task, tasks, plan, label="downloads", logger=log, inline_single=True)
            for index, result in done:
                results[odata[index]] = _logged(result)
    if store:
        # Object-store fetches run on threads of this process: they are network-bound, and
        # the S3 keys this process read never reach another process.

        with ThreadPoolExecutor(max_workers=requested, thread_name_prefix="s3") as pool:
            futures = {pool.submit(fetch_from_store, jobs[i], settings): i for i in store}
            for future in as_completed(futures):
                results[futures[future]] = _logged(future.result())
    log.info(
        "%d downloads (%d failed)%s",
        len(jobs),
        sum(not r.ok for r in results),
        f"; {manager.logins} login(s), {manager.refreshes} token refresh(es)" if manager else "",
    )
    return results


def _logged(result: FetchResult) -> FetchResult:
    """Log what became of one product; returns it."""
    if result.warning:
        log.warning("%s: %s", result.name, result.warning)
    if result.ok and result.reason:
        log.info("%s: %s", result.name, result.reason)
    elif result.ok:
        log.info(
            "downloaded %s: %.1f MB in %.1f s%s",
            result.name,
            result.received / 1e6,
            result.seconds,
            f" (resumed after {result.resumed / 1e6:.1f} MB)" if result.resumed else "",
        )
    return result
