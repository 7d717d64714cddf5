"""Transfers over OData (reference/cdse-api.md §6, §7): one resumable GET, the retry loop
that takes a fresh token before every attempt, whole-product zips, and the run's downloads
on the shared engine (dispatching each product to its fetch mode).

A GET streams to ``<cache>/.partial/...part``, resumed with ``Range`` (appended only to a
206 whose ``Content-Range`` starts where the file ends; restarted on 200), retried with
backoff on 429/5xx and dropped connections (``Retry-After`` honoured). A zip is checked
against the catalogue's size and MD5 when listed, unzipped and checked against the
product's own manifest (:mod:`eotrend.download.cache`). Per-file downloads are
:mod:`eotrend.download.nodes` (OData Nodes) and :mod:`eotrend.download.s3` (object store).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from eotrend.credentials import Credentials, CredentialsError
from eotrend.download.cache import (
    CHUNK,
    PARTIAL,
    ProductError,
    check_product,
    install_zip,
    md5_of,
    product_lock,
    product_path,
)
from eotrend.download.http import (
    RETRY_STATUSES,
    RefusedError,
    TransientError,
    backoff,
    describe,
    request,
    retry_after_s,
)
from eotrend.download.settings import FETCH_MODES, Settings
from eotrend.download.tokens import TokenClient, TokenManager, TokenService
from eotrend.errors import EotrendError
from eotrend.limits import plan_workers
from eotrend.parallel import Task, iter_tasks

log = logging.getLogger(__name__)

TASK_MEM_MB = 150  # a download worker: the interpreter plus one chunk
T = TypeVar("T")


class GaveUpError(EotrendError):
    """A transfer still failed after the configured retries (its partial bytes are kept)."""


@dataclass(frozen=True)
class FetchJob:
    """One product to put into ``cache`` (a folder path).

    size (bytes) and md5 are the catalogue's (of the zip): 0 and "" when it lists none.
    ``fetch`` is the mode (:data:`eotrend.download.settings.FETCH_MODES`); ``variables``
    the dataset's variables (the per-file modes fetch only their files); ``s3_path`` the
    catalogue's ``S3Path`` (the S3 modes).
    """

    name: str
    product_id: str
    cache: str
    size: int = 0
    md5: str = ""
    fetch: str = "zip"
    variables: tuple[str, ...] = ()
    s3_path: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What became of a :class:`FetchJob`.

    Attributes:
        ok: the product (or the files the dataset needs) is in the cache, verified.
        reason: why not (when not ok), or a note ("already in the cache").
        received: bytes received in this run (0 when it was already in the cache).
        resumed: bytes an earlier run had left in ``.partial`` that this one resumed from.
        seconds: time spent, s.
        warning: why an installed product deserves a look ("" when none), e.g. a zip
            accepted on its own checks although the catalogue's MD5 disagrees.
    """

    name: str
    ok: bool
    reason: str = ""
    received: int = 0
    resumed: int = 0
    seconds: float = 0.0
    warning: str = ""


def with_token(call: Callable[[str], T], tokens: TokenClient, settings: Settings, what: str) -> T:
    """``call(token)``, retried: a current token is taken before every attempt (one taken
    before a back-off of minutes may have expired meanwhile: access tokens live 10 min,
    §5); a 401 (:class:`RefusedError`) renews it once; :class:`TransientError` backs off
    (an attempt that made progress does not use up a retry).

    Raises:
        CredentialsError: a renewed token was refused too (or 403, from ``call``).
        GaveUpError: still failing after ``settings.retries`` retries.
    """
    attempt = 0
    refused = False  # this attempt's token was renewed after a 401
    while True:
        token = tokens.token()
        try:
            return call(token)
        except RefusedError as problem:
            if refused:
                raise CredentialsError(
                    f"the download service refused a fresh access token for the account "
                    f"from {tokens.source} ({problem}); use a Copernicus Data Space "
                    "account's username and password (not a Sentinel Hub OAuth client)"
                ) from None
            tokens.renew(token)
            refused = True
        except TransientError as problem:
            refused = False  # a later 401 concerns a token that aged while waiting
            if problem.progressed:
                attempt = 0
            attempt += 1
            if attempt > settings.retries:
                raise GaveUpError(f"gave up after {attempt} attempts: {problem.reason}") from None
            wait = backoff(attempt, problem.retry_after, settings)
            log.warning("download %s: %s; retry %d in %.1f s", what, problem.reason, attempt, wait)
            time.sleep(wait)


def fetch(job: FetchJob, tokens: TokenClient, settings: Settings) -> FetchResult:
    """Download, verify and install one product's zip (a worker task). Never raises for a
    product's own failure: it is returned with its reason.

    A file that disagrees with the catalogue's size or MD5 is not thrown away at once: if
    every zip member's CRC-32 and every MD5 its own ``xfdumanifest.xml`` lists verify, it
    is installed and the disagreement returned as a warning. Whether the catalogue's MD5
    describes the zip the service builds for a ``.SEN3`` product (stored unzipped) is
    unverified (cdse-api.md §7, §13): if it does not, rejecting the zip would download the
    same bytes again and again. A file that fails its own checks is downloaded again,
    unless the service sent exactly the same bytes last time (retrying will not help).

    Raises:
        CredentialsError: the download service refused a fresh token, or answered 403.
    """
    began = time.monotonic()
    cache = Path(job.cache)
    with product_lock(cache, job.name):
        if check_product(product_path(cache, job.name)) is None:
            return FetchResult(job.name, True, "already in the cache")
        part = cache / PARTIAL / f"{job.name}.zip.part"
        resumed = part.stat().st_size if part.exists() else 0
        received = 0
        rejected = ""  # MD5 of the last file that failed its own checks
        url = f"{settings.download_url}/Products({job.product_id})/$value"

        def attempt(token: str) -> str:
            nonlocal received, rejected
            received += get_rest(url, part, job.size, token, settings, tokens.source, job.name)
            disagreement = _catalogue_disagreement(job, part)
            try:
                install_zip(part, cache, job.name, require_md5=bool(disagreement))
            except ProductError as error:
                # Damaged bytes the catalogue's MD5 vouches for are the service's own
                # product, and an unsafe zip stays unsafe: both final. Otherwise the
                # transfer may have damaged it.
                if not error.corrupt or (job.md5 and not disagreement):
                    raise
                reason = f"{disagreement}; {error}" if disagreement else str(error)
                digest = md5_of(part)
                part.unlink(missing_ok=True)
                if digest == rejected:
                    raise ProductError(
                        f"{reason}; the service sent the same bytes twice (MD5 {digest}), "
                        "so downloading again will not help"
                    ) from None
                rejected = digest
                raise TransientError(reason) from None
            return (
                f"{disagreement}, but every zip member's CRC-32 and every MD5 in the "
                "product's own xfdumanifest.xml verify: accepted"
                if disagreement
                else ""
            )

        try:
            warning = with_token(attempt, tokens, settings, job.name)
        except ProductError as error:
            part.unlink(missing_ok=True)
            seconds = time.monotonic() - began
            return FetchResult(job.name, False, str(error), received, resumed, seconds)
        except GaveUpError as error:
            seconds = time.monotonic() - began
            return FetchResult(job.name, False, str(error), received, resumed, seconds)
        part.unlink(missing_ok=True)
        seconds = time.monotonic() - began
        return FetchResult(job.name, True, "", received, resumed, seconds, warning)


def get_rest(
    url: str, part: Path, size: int, token: str, settings: Settings, source: str, what: str
) -> int:
    """One GET for the rest of a file's bytes (``url``), appended to ``part``.

    ``size`` is the file's expected size in bytes (0 = unknown); ``source`` says where
    the credentials came from (for the 403 message); ``what`` names the file in messages.

    Returns the bytes received. Raises TransientError (retry; ``progressed`` when bytes
    arrived), RefusedError (401), CredentialsError (403) or ProductError (other refusals).
    """
    offset = part.stat().st_size if part.exists() else 0
    if size and offset >= size:
        if offset == size:
            return 0  # complete from an earlier attempt or run: verified next
        part.unlink()
        offset = 0
    part.parent.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {token}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with request(
            "GET", url, timeout=settings.timeout_s, trusted=settings.trusted_hosts, headers=headers
        ) as response:
            status = response.status
            if status == 401:
                raise RefusedError(describe(response))
            if status == 403:
                raise CredentialsError(
                    f"the download service refused {what} to the account from "
                    f"{source} ({describe(response)}); check that the account is active "
                    "and within its quota (general users: 12 TB per rolling 30 days)"
                )
            if status in RETRY_STATUSES:
                raise TransientError(describe(response), retry_after_s(response))
            if status == 416:
                total = _content_range(response.getheader("Content-Range"))[1]  # "*/total"
                if offset and total == offset:
                    return 0  # the file was complete
                if offset:
                    part.unlink()
                    raise TransientError(f"range {offset}- refused (HTTP 416); starting again")
            if status == 206:
                first, total = _content_range(response.getheader("Content-Range"))
                if first != offset:
                    part.unlink()
                    raise TransientError(
                        f"asked for bytes {offset}-, got a range starting at {first}; "
                        "starting again"
                    )
                mode = "ab"
            elif status == 200:
                offset, mode = 0, "wb"  # the whole file: restart (never append it)
                length = response.getheader("Content-Length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise ProductError(f"download of {what} refused: {describe(response)}")
            expected = None if total is None else total - offset
            received = _stream(response, part, mode, expected)
    except (OSError, http.client.HTTPException) as error:
        raise TransientError(f"transfer failed ({type(error).__name__}: {error})") from None
    if expected is not None and received < expected:
        raise TransientError(
            f"connection dropped after {offset + received} of {total} bytes",
            progressed=received > 0,
        )
    return received


def _stream(response, part: Path, mode: str, expected: int | None) -> int:
    """Copy the body to ``part`` until ``expected`` bytes or the end; bytes written.

    A connection error after some bytes is reported as a short read (the caller resumes).
    """
    received = 0
    with open(part, mode) as sink:
        try:
            while expected is None or received < expected:
                block = response.read(
                    CHUNK if expected is None else min(CHUNK, expected - received)
                )
                if not block:
                    break
                sink.write(block)
                received += len(block)
        except (OSError, http.client.HTTPException):
            if not received:
                raise
    return received


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of ``Content-Range: bytes a-b/total``; None where absent."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.partition("-")[0]
    return (
        int(first) if first.isdigit() else None,
        int(total) if total.isdigit() else None,
    )


def _catalogue_disagreement(job: FetchJob, part: Path) -> str:
    """How the finished file disagrees with the catalogue's size or MD5 (those it lists),
    or "" when it agrees."""
    size = part.stat().st_size
    if job.size and size != job.size:
        return f"got {size} bytes, the catalogue lists {job.size}"
    if job.md5:
        digest = md5_of(part)
        if digest != job.md5:
            return f"MD5 mismatch (catalogue {job.md5}, downloaded {digest})"
    return ""


def _task(job: FetchJob, tokens: TokenClient | None, settings: Settings) -> FetchResult:
    """Worker task: one OData job by its fetch mode."""
    if job.fetch == "zip":
        return fetch(job, tokens, settings)
    from eotrend.download.nodes import fetch_files

    return fetch_files(job, tokens, settings)


def fetch_all(
    jobs: list[FetchJob],
    settings: Settings,
    credentials: Credentials | None,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[FetchResult]:
    """Fetch ``jobs``, at most ``settings.max_concurrent`` at a time (the service's quota,
    §6): the OData modes (``zip``, ``files``) on the shared engine with one login for all
    of them (``credentials``; None when every job reads the object store), the object-
    store modes on threads of this process. Results in job order.

    Raises:
        CredentialsError: credentials refused (the run stops: every product would fail).
    """
    unknown = sorted({j.fetch for j in jobs} - set(FETCH_MODES))
    if unknown:
        raise ValueError(f"unknown fetch mode(s) {unknown}")
    manager = TokenManager(credentials, settings) if credentials is not None else None
    requested = (
        settings.max_concurrent if threads is None else min(threads, settings.max_concurrent)
    )
    results: list[FetchResult] = [FetchResult(j.name, False, "not attempted") for j in jobs]
    odata = [i for i, job in enumerate(jobs) if job.fetch in ("zip", "files")]
    store = [i for i, job in enumerate(jobs) if i not in set(odata)]
    if odata:
        with TokenService(manager) if manager else contextlib.nullcontext() as service:
            client = service.client if service else None
            tasks = [Task(jobs[i].name, (jobs[i], client, settings)) for i in odata]
            plan = plan_workers(
                len(tasks), threads=requested, mem_mb=mem_mb, task_mem_mb=TASK_MEM_MB
            )
            # One download needs no pool: it is network-bound and safe to run here.
            done = iter_tasks(_task, tasks, plan, label="downloads", logger=log, inline_single=True)
            for index, result in done:
                results[odata[index]] = _logged(result)
    if store:
        # Object-store fetches run on threads of this process: they are network-bound, and
        # the S3 keys this process read never reach another process.
        from eotrend.download.s3 import fetch_from_store

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
