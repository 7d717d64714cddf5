"""One HTTP request to the CDSE services, and retrying.

The services: CDSE's OData page, https://documentation.dataspace.copernicus.eu/APIs/OData.html.

Redirects are followed by hand: ``http.client`` follows none, and a library that does
drops or leaks the ``Authorization`` header (the catalogue's ``$value`` redirects to the
download host; github.com/allenai/rslearn/issues/143). The token goes only to the
configured services' hosts and their sibling hosts. 429/5xx and dropped connections are
retried with back-off, ``Retry-After`` honoured.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from eotrend.sources.cdse.settings import CdseError, Settings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
USER_AGENT = "eotrend (python http.client)"

T = TypeVar("T")


class TransientError(Exception):
    """A failure that a later attempt may not have (429, 5xx, dropped connection)."""

    def __init__(self, reason: str, retry_after: float | None = None, progressed: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.progressed = progressed  # bytes arrived before it: the next attempt resumes


class RefusedError(Exception):
    """HTTP 401 from the download service: the access token was not accepted."""


def keeps_authorization(origin: str, target: str, trusted: frozenset[str]) -> bool:
    """Whether a redirect from ``origin`` to ``target`` may carry the bearer token.

    Only to a configured service host or a sibling of one (same parent domain, e.g.
    catalogue. -> download.dataspace.copernicus.eu), and never from https to http.
    """
    source, dest = urlsplit(origin), urlsplit(target)
    if source.scheme == "https" and dest.scheme != "https":
        return False
    host = dest.hostname or ""
    return any(host == t or _siblings(host, t) for t in trusted)


def _siblings(a: str, b: str) -> bool:
    """Host names under the same parent domain of at least two labels (never IPs)."""
    for name in (a, b):
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(name)
            return False
    parent_a, parent_b = a.partition(".")[2], b.partition(".")[2]
    return parent_a == parent_b and parent_a.count(".") >= 1


@contextlib.contextmanager
def request(
    method: str,
    url: str,
    *,
    timeout: float,
    trusted: frozenset[str],
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Iterator[http.client.HTTPResponse]:
    """Send a request, following redirects by hand; yield the final response (closed after).

    Raises OSError or http.client.HTTPException on connection problems.
    """
    headers = {"User-Agent": USER_AGENT, **(headers or {})}
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname, parts.port, timeout=timeout)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                yield response
                return
            response.read(65536)
        finally:
            connection.close()
        following = urljoin(url, location)
        if not keeps_authorization(url, following, trusted):
            headers.pop("Authorization", None)
        if response.status == 303:
            method, body = "GET", None
        url = following
    raise TransientError(f"more than {MAX_REDIRECTS} redirects")


def describe(response: http.client.HTTPResponse) -> str:
    """``HTTP <status> <reason>`` plus the error body's code and message."""
    head = f"HTTP {response.status} {response.reason}".strip()
    text = response.read(4096)
    try:
        body = json.loads(text)
    except ValueError:
        detail = text.decode("utf-8", "replace").strip()[:200]
    else:
        keys = ("code", "error", "message", "error_description", "detail")
        items = [str(body[k]) for k in keys if body.get(k)] if isinstance(body, dict) else []
        detail = " ".join(items)[:300]
    return f"{head}: {detail}" if detail else head


def retry_after_s(response: http.client.HTTPResponse) -> float | None:
    """The ``Retry-After`` header in seconds (delta or HTTP date), or None."""
    value = (response.getheader("Retry-After") or "").strip()
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int, retry_after: float | None, settings: Settings) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if given, else
    exponential backoff with jitter; at most ``max_wait_s``."""
    if retry_after is not None:
        return min(retry_after, settings.max_wait_s)
    backoff = settings.backoff_s * 2 ** (attempt - 1) * random.uniform(1.0, 1.5)
    return min(backoff, settings.max_wait_s)


def with_retries(call: Callable[[], T], settings: Settings, what: str) -> T:
    """``call()``, retried on :class:`TransientError` and connection errors; CdseError after
    ``settings.retries`` retries."""
    attempt = 0
    while True:
        try:
            return call()
        except TransientError as problem:
            reason, retry_after = problem.reason, problem.retry_after
        except (OSError, http.client.HTTPException) as error:
            reason, retry_after = f"{type(error).__name__}: {error}", None
        attempt += 1
        if attempt > settings.retries:
            raise CdseError(f"{what} failed after {attempt} attempts: {reason}")
        wait = backoff(attempt, retry_after, settings)
        log.warning("%s: %s; retry %d in %.1f s", what, reason, attempt, wait)
        time.sleep(wait)
