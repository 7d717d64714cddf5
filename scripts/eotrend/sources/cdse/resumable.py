"""One resumable GET over OData and the retry loop that takes a fresh token before every
attempt.

A GET streams to ``<cache>/.partial/...part``, resumed with ``Range`` (appended only to a
206 whose ``Content-Range`` starts where the file ends; restarted on 200), retried with
backoff on 429/5xx and dropped connections (``Retry-After`` honoured). See the CDSE
documentation, "OData: Product Download"
(https://documentation.dataspace.copernicus.eu/APIs/OData.html#product-download).
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from eotrend.core.credentials import CredentialsError
from eotrend.sources.cdse.cache import (
    CHUNK,
    ProductError,
)
from eotrend.sources.cdse.http import (
    RETRY_STATUSES,
    RefusedError,
    TransientError,
    backoff,
    describe,
    request,
    retry_after_s,
)
from eotrend.sources.cdse.jobs import GaveUpError
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.cdse.tokens import TokenClient

log = logging.getLogger(__name__)
T = TypeVar("T")


def with_token(call: Callable[[str], T], tokens: TokenClient, settings: Settings, what: str) -> T:
    """``call(token)``, retried: a current token is taken before every attempt (one taken
    before a back-off of minutes may have expired meanwhile: access tokens live 10 min,
    CDSE's Quotas page); a 401 (:class:`RefusedError`) renews it once;
    :class:`TransientError` backs off (an attempt that made progress does not use up a
    retry).

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
