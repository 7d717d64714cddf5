"""Copernicus Data Space Ecosystem (CDSE) client: catalogue search, tokens, downloads.

Facts from reference/cdse-api.md (cited as §N). Standard library only (``http.client``),
so redirects and the ``Authorization`` header are handled here, not by a library.

Search (§2, §3): OData ``Products`` with the collection, product type, AOI intersection and
sensing-start clauses, ``$orderby=ContentDate/Start asc`` (the server then orders ties by
Id, so pages neither lose nor repeat products), ``$top`` <= 1000, one query per calendar
year, ``@odata.nextLink`` followed verbatim, duplicates by Id dropped. The service pages no
deeper than ``$skip`` 10,000 (§2): a window that reaches that limit is searched again
month by month, then day by day, and a day still over it is an error (never a silent
cut). An AOI split at the antimeridian is searched one side at a time. :func:`select`
keeps one product per sensing period (§4).

Tokens (§5, §8): one :class:`TokenManager` per run logs in once (password grant), refreshes
before the access token expires and logs in again only when the refresh token has expired
or is refused. Downloads run in worker processes (the shared engine); they ask the parent's
manager for the current token through :class:`TokenService`, a local socket with a random
key, so N downloads cost one login, and credentials never leave the parent process.

Downloads (§6, §7): ``<download_url>/Products(<Id>)/$value`` with ``Authorization: Bearer``,
redirects followed by hand (the header kept only for the configured services' hosts and
their sibling hosts), streamed to ``<cache>/.partial/<name>.zip.part``, resumed with
``Range`` (appended only to a 206 whose ``Content-Range`` starts where the file ends;
restarted on 200), retried with backoff on 429/5xx and dropped connections (``Retry-After``
honoured), checked against the catalogue's size and MD5 when listed, unzipped refusing any
member outside the product folder, checked against the product's own manifest (sizes and
MD5s) and renamed into ``<cache>/<name>.SEN3`` in one step. A product folder under its final
name is therefore always complete and verified; everything partial lives in ``.partial``.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import random
import secrets
import shutil
import stat
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from eotrend.credentials import TOTP_VARIABLE, Credentials, CredentialsError
from eotrend.errors import EotrendError
from eotrend.limits import plan_workers
from eotrend.olci import PRODUCT_NAME, REQUIRED_FILES
from eotrend.parallel import Task, iter_tasks

log = logging.getLogger(__name__)

CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
PARTIAL = ".partial"  # folder of the cache holding unfinished downloads and locks
MAX_PAGE = 1000  # the service's largest $top (§2)
MAX_SKIP = 10_000  # the largest $skip the catalogue accepts since 2024-11-12 (§2)
MAX_WKT_CHARS = 2000  # longer AOI polygons are simplified (the filter travels in the URL)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK = 1 << 20  # bytes read and written at a time
TASK_MEM_MB = 150  # a download worker: the interpreter plus one chunk
TIMELINESS_RANK = {"NT": 0, "ST": 1, "NR": 2}  # §4: prefer the final product
USER_AGENT = "eotrend (python http.client)"

T = TypeVar("T")


class CdseError(EotrendError):
    """The catalogue, token or download service failed in a way retrying did not fix."""


class ProductError(EotrendError):
    """A product zip or folder that cannot be used.

    Args:
        message: what is wrong (names the product).
        corrupt: True when a new download may fix it (damaged bytes), False when it will
            not (an unsafe or misshapen zip).
    """

    def __init__(self, message: str, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt

    def __reduce__(self):
        return (type(self), (str(self), self.corrupt))


# --- settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The ``source.cdse`` config block (see schemas/config.schema.yaml). No secrets.

    URLs without a trailing slash; times in seconds.
    """

    catalogue_url: str = CATALOGUE_URL
    download_url: str = DOWNLOAD_URL
    token_url: str = TOKEN_URL
    client_id: str = "cdse-public"
    product_type: str = "OL_2_WFR___"
    max_concurrent: int = 4
    page_size: int = MAX_PAGE
    retries: int = 5
    backoff_s: float = 10.0
    max_wait_s: float = 300.0
    timeout_s: float = 60.0

    @classmethod
    def from_config(cls, block: dict) -> Settings:
        """Settings from a validated config block (unknown keys ignored)."""
        values = {f.name: block[f.name] for f in fields(cls) if f.name in block}
        for key in ("catalogue_url", "download_url"):
            if key in values:
                values[key] = values[key].rstrip("/")
        return cls(**values)

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Host names of the configured services (the token may be sent there)."""
        urls = (self.catalogue_url, self.download_url, self.token_url)
        return frozenset(urlsplit(u).hostname or "" for u in urls)


# --- HTTP ------------------------------------------------------------------------------


class _TransientError(Exception):
    """A failure that a later attempt may not have (429, 5xx, dropped connection)."""

    def __init__(self, reason: str, retry_after: float | None = None, progressed: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.progressed = progressed  # bytes arrived before it: the next attempt resumes


class _RefusedError(Exception):
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
def _open(
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
    raise _TransientError(f"more than {MAX_REDIRECTS} redirects")


def _describe(response: http.client.HTTPResponse) -> str:
    """``HTTP <status> <reason>`` plus the error body's code and message (§6)."""
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


def _retry_after(response: http.client.HTTPResponse) -> float | None:
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


def _delay(attempt: int, retry_after: float | None, settings: Settings) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if given, else
    exponential backoff with jitter; at most ``max_wait_s``."""
    if retry_after is not None:
        return min(retry_after, settings.max_wait_s)
    backoff = settings.backoff_s * 2 ** (attempt - 1) * random.uniform(1.0, 1.5)
    return min(backoff, settings.max_wait_s)


def _with_retries(call: Callable[[], T], settings: Settings, what: str) -> T:
    """``call()``, retried on :class:`_TransientError` and connection errors; CdseError after
    ``settings.retries`` retries."""
    attempt = 0
    while True:
        try:
            return call()
        except _TransientError as problem:
            reason, retry_after = problem.reason, problem.retry_after
        except (OSError, http.client.HTTPException) as error:
            reason, retry_after = f"{type(error).__name__}: {error}", None
        attempt += 1
        if attempt > settings.retries:
            raise CdseError(f"{what} failed after {attempt} attempts: {reason}")
        wait = _delay(attempt, retry_after, settings)
        log.warning("%s: %s; retry %d in %.1f s", what, reason, attempt, wait)
        time.sleep(wait)


# --- tokens ----------------------------------------------------------------------------


def _margin(lifetime: float) -> float:
    """Seconds before expiry at which a token counts as expired (§8: >= 60 s when it can)."""
    return min(60.0, lifetime / 4)


class TokenManager:
    """The run's tokens for one account: log in once, refresh before expiry, log in again
    only when the refresh token expired or was refused. Thread-safe.

    Attributes:
        logins, refreshes: password and refresh grants made so far.
        source: where the credentials came from (for messages).
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._access = ""
        self._access_until = 0.0
        self._refresh = ""
        self._refresh_until = 0.0
        self.logins = 0
        self.refreshes = 0
        self.source = credentials.source
        self._refused = ""  # a refused login is not tried again: accounts get locked

    def token(self) -> str:
        """A current access token (logging in or refreshing only when needed).

        Raises:
            CredentialsError: the login was refused (now or earlier in this run).
        """
        with self._lock:
            if self._refused:
                raise CredentialsError(self._refused)
            now = self._clock()
            if self._access and now < self._access_until:
                return self._access
            if self._refresh and now < self._refresh_until and self._grant(refresh=True):
                return self._access
            try:
                self._grant(refresh=False)
            except CredentialsError as error:
                self._refused = str(error)
                raise
            return self._access

    def renew(self, stale: str) -> str:
        """A new access token after the service refused ``stale`` (unless already renewed)."""
        with self._lock:
            if stale == self._access:
                self._access_until = 0.0
        return self.token()

    def _grant(self, *, refresh: bool) -> bool:
        """Ask for tokens; True on success. A refused refresh returns False; a refused
        login raises CredentialsError."""
        settings = self._settings
        if refresh:
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh}
        else:
            form = {
                "grant_type": "password",
                "username": self._credentials.username,
                "password": self._credentials.password,
            }
            if self._credentials.totp:
                form["totp"] = self._credentials.totp
        form["client_id"] = settings.client_id
        body = urlencode(form).encode()
        asked = self._clock()

        def post() -> dict | None:
            with _open(
                "POST",
                settings.token_url,
                timeout=settings.timeout_s,
                trusted=settings.trusted_hosts,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=body,
            ) as response:
                if response.status == 200:
                    return json.loads(response.read())
                problem = _describe(response)
                if response.status in RETRY_STATUSES:
                    raise _TransientError(problem, _retry_after(response))
                if refresh and response.status in (400, 401):
                    log.info("CDSE refresh token not accepted (%s); logging in again", problem)
                    return None
                raise CredentialsError(self._refusal(problem, response.status))

        answer = _with_retries(post, settings, f"CDSE token request to {settings.token_url}")
        if answer is None:
            self._refresh = ""
            return False
        try:
            access, lifetime = answer["access_token"], float(answer["expires_in"])
            refresh_token = answer.get("refresh_token", "")
            refresh_lifetime = float(answer.get("refresh_expires_in", 0))
        except (KeyError, TypeError, ValueError):
            raise CdseError(
                f"the token service at {settings.token_url} answered without an access token "
                "and its lifetime: is token_url right?"
            ) from None
        self._access, self._access_until = access, asked + lifetime - _margin(lifetime)
        self._refresh = refresh_token
        self._refresh_until = asked + refresh_lifetime - _margin(refresh_lifetime)
        if refresh:
            self.refreshes += 1
        else:
            self.logins += 1
        log.info(
            "CDSE token %s (access valid %.0f s, refresh %.0f s)",
            "refreshed" if refresh else "obtained by login",
            lifetime,
            refresh_lifetime,
        )
        return True

    def _refusal(self, problem: str, status: int) -> str:
        """The message of a refused login: which credentials, from where, what to check."""
        url = self._settings.token_url
        if status == 401:
            return (
                f"the CDSE token service at {url} refused the username or password from "
                f"{self.source} ({problem}); check both (accounts with two-factor "
                f"authentication also need {TOTP_VARIABLE})"
            )
        return (
            f"the CDSE token service at {url} refused the login with the credentials from "
            f"{self.source} ({problem}); check client_id {self._settings.client_id!r}, and "
            f"{TOTP_VARIABLE} for accounts with two-factor authentication"
        )


@dataclass(frozen=True)
class TokenClient:
    """How a worker process asks the parent's :class:`TokenService` for tokens (picklable).

    Attributes:
        address: the service's local socket.
        authkey: the service's random key (proves the caller is one of this run's workers).
        source: where the credentials came from (for messages; not a secret).
    """

    address: str
    authkey: bytes = field(repr=False)
    source: str

    def token(self) -> str:
        """The current access token."""
        return self._ask("token", "")

    def renew(self, stale: str) -> str:
        """A new access token after ``stale`` was refused."""
        return self._ask("renew", stale)

    def _ask(self, request: str, stale: str) -> str:
        with Client(self.address, authkey=self.authkey) as connection:
            connection.send((request, stale))
            kind, value = connection.recv()
        if kind == "token":
            return value
        raise (CredentialsError if kind == "credentials" else CdseError)(value)


class TokenService:
    """Serves one :class:`TokenManager` to this run's worker processes over a local socket.

    Use as a context manager; :attr:`client` is what tasks carry.
    """

    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener(authkey=self._authkey)  # a socket in a private temp folder
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="cdse-tokens", daemon=True)
        self._thread.start()

    @property
    def client(self) -> TokenClient:
        return TokenClient(str(self._listener.address), self._authkey, self._manager.source)

    def _serve(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError, AuthenticationError) as error:
                if self._closing:
                    return
                log.warning("token service: refused a connection (%s)", type(error).__name__)
                continue
            if self._closing:
                connection.close()
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection) -> None:
        with connection:
            try:
                request, stale = connection.recv()
            except (EOFError, OSError):
                return
            try:
                if request == "renew":
                    answer = ("token", self._manager.renew(stale))
                else:
                    answer = ("token", self._manager.token())
            except CredentialsError as error:
                answer = ("credentials", str(error))
            except EotrendError as error:
                answer = ("service", str(error))
            with contextlib.suppress(OSError):
                connection.send(answer)

    def close(self) -> None:
        """Stop serving (wakes the accepting thread with one last connection)."""
        self._closing = True
        with contextlib.suppress(OSError, EOFError):
            Client(self._listener.address, authkey=self._authkey).close()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TokenService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """One catalogue product (§3).

    Attributes:
        id: the catalogue's UUID. name: the product name without ``.SEN3``.
        start, stop: sensing period (UTC). online: downloadable now (False = deferred).
        size: zip size in bytes, 0 when unknown. md5: lower-case hex, "" when unknown.
        footprint: the catalogue's footprint (lon/lat), None when it lists none.
    """

    id: str
    name: str
    start: datetime
    stop: datetime
    online: bool = True
    size: int = 0
    md5: str = ""
    footprint: BaseGeometry | None = None

    @classmethod
    def from_odata(cls, item: dict) -> Product:
        """From one OData ``value`` item. Raises KeyError/ValueError on a malformed one."""
        md5 = next(
            (
                str(c.get("Value", "")).lower()
                for c in item.get("Checksum") or []
                if str(c.get("Algorithm", "")).upper() == "MD5"
            ),
            "",
        )
        return cls(
            id=str(item["Id"]),
            name=str(item["Name"]).removesuffix(".SEN3"),
            start=_utc(item["ContentDate"]["Start"]),
            stop=_utc(item["ContentDate"]["End"]),
            online=bool(item.get("Online", True)),
            size=int(item.get("ContentLength") or 0),
            md5=md5,
            footprint=_footprint(item.get("GeoFootprint")),
        )


def _footprint(geojson: dict | None) -> BaseGeometry | None:
    """A GeoJSON footprint as a valid shapely geometry; None when absent or unreadable."""
    if not geojson:
        return None
    try:
        return shapely.make_valid(shapely.geometry.shape(geojson))
    except (KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        return None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _iso(moment: datetime) -> str:
    """OData datetime literal, UTC with ``Z`` (no ``+``, which would need escaping, §2)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def aoi_polygon(geometries: list, max_chars: int = MAX_WKT_CHARS) -> shapely.Polygon:
    """One polygon covering every AOI geometry, for the search's Intersects clause.

    The union's outer ring (its convex hull when the parts are separate), counter-clockwise,
    coordinates rounded to 1e-5 deg (about a metre) in the query. While its WKT is longer
    than ``max_chars`` (or invalid once rounded) it is grown by a tolerance and simplified by
    the same tolerance (the Douglas-Peucker deviation is at most the tolerance, so the
    result still covers the AOI), the tolerance doubling each time. For an AOI split at the
    antimeridian use :func:`search_polygons` (the hull of both sides is a band around the
    globe).
    """
    union = shapely.union_all(geometries)
    shape = union if isinstance(union, shapely.Polygon) else union.convex_hull
    polygon = orient(shapely.Polygon(shape.exterior), 1.0)
    tolerance = 1e-4
    # The service validates the geometry: rounding must not leave it self-intersecting.
    while len(_wkt(polygon)) > max_chars or not shapely.from_wkt(_wkt(polygon)).is_valid:
        polygon = orient(shapely.Polygon(polygon.buffer(tolerance).simplify(tolerance).exterior))
        tolerance *= 2
    return polygon


def _wkt(polygon: shapely.Polygon) -> str:
    return shapely.to_wkt(polygon, rounding_precision=5, trim=True)


def search_polygons(geometries: list, max_chars: int = MAX_WKT_CHARS) -> list[shapely.Polygon]:
    """The polygons to search the catalogue with: one covering the whole AOI
    (:func:`aoi_polygon`), or one per side for an AOI split at the antimeridian.

    In lon/lat an area across 180° can only be drawn as parts on either side of it (a
    MultiPolygon split at ±180°). The convex hull of such parts spans the globe the wrong
    way round: a band of every longitude, holding every product at those latitudes (soon
    past the catalogue's paging limit). So when the AOI's parts span more than 180° of
    longitude, the parts whose centroid lies west of 0° and those east of it are searched
    as two polygons (each covering its parts); the results are merged by product Id.
    """
    parts = list(shapely.get_parts(geometries))
    west, _, east, _ = shapely.total_bounds(parts)
    if east - west <= 180.0:
        return [aoi_polygon(geometries, max_chars)]
    sides = (
        [p for p in parts if p.centroid.x < 0.0],
        [p for p in parts if p.centroid.x >= 0.0],
    )
    polygons = [aoi_polygon(side, max_chars) for side in sides if side]
    log.info(
        "the AOI spans lon %.2f..%.2f (split at the antimeridian?): searched as %d polygons, "
        "one per side of 0 degrees",
        west,
        east,
        len(polygons),
    )
    return polygons


def year_windows(start: date, end: date) -> list[tuple[datetime, datetime]]:
    """The days ``start..end`` (inclusive) as half-open UTC intervals, split at each
    1 January (long searches go year by year, §2)."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    windows = []
    while first < stop:
        boundary = min(stop, datetime(first.year + 1, 1, 1, tzinfo=UTC))
        windows.append((first, boundary))
        first = boundary
    return windows


def search_url(settings: Settings, polygon: shapely.Polygon, begin: datetime, end: datetime) -> str:
    """The first-page URL of the products of one interval [begin, end) over ``polygon``."""
    clauses = [
        "Collection/Name eq 'SENTINEL-3'",
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        f"att/OData.CSC.StringAttribute/Value eq '{settings.product_type}')",
        f"OData.CSC.Intersects(area=geography'SRID=4326;{_wkt(polygon)}')",
        f"ContentDate/Start ge {_iso(begin)}",
        f"ContentDate/Start lt {_iso(end)}",
    ]
    query = {
        "$filter": " and ".join(clauses),
        "$orderby": "ContentDate/Start asc",
        "$top": str(min(settings.page_size, MAX_PAGE)),
        "$expand": "Attributes",
    }
    return f"{settings.catalogue_url}/Products?{urlencode(query, quote_via=quote)}"


def split_window(begin: datetime, stop: datetime) -> list[tuple[datetime, datetime]]:
    """The half-open window [begin, stop) split at each first of the month when it spans
    more than one month, else at each midnight (UTC) when it spans more than one day;
    [] for a single day (it cannot be split further)."""

    def next_month(moment: datetime) -> datetime:
        return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)

    def next_day(moment: datetime) -> datetime:
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)

    for boundary in (next_month, next_day):
        if boundary(begin) < stop:
            windows, first = [], begin
            while first < stop:
                windows.append((first, min(stop, boundary(first))))
                first = windows[-1][1]
            return windows
    return []


def _span(begin: datetime, stop: datetime) -> str:
    """A window [begin, stop) of whole days as ``first..last`` (inclusive dates)."""
    last = (stop - timedelta(days=1)).date()
    return str(begin.date()) if last == begin.date() else f"{begin.date()}..{last}"


def search(
    settings: Settings, polygons: list[shapely.Polygon], start: date, end: date
) -> list[Product]:
    """Every catalogue product of the configured type over any of ``polygons`` (see
    :func:`search_polygons`) sensed in ``start..end`` (inclusive days), in sensing order,
    each Id once.

    Each polygon is searched one calendar year at a time; a window the catalogue would
    cut at its paging limit (:func:`_search_window`) is searched again per month, then
    per day.

    Raises:
        CdseError: a page failed after the retries, the catalogue's answer is not an
            OData product list, or a single day still reaches the paging limit.
    """
    found: dict[str, Product] = {}
    for polygon in polygons:
        windows = year_windows(start, end)
        while windows:
            begin, stop = windows.pop(0)
            if _search_window(settings, polygon, begin, stop, found):
                continue
            smaller = split_window(begin, stop)
            if not smaller:
                west, south, east, north = polygon.bounds
                raise CdseError(
                    f"the catalogue search for {begin.date()} (UTC) alone reaches the "
                    f"catalogue's paging limit ({MAX_SKIP:,} results per query), so products "
                    "of that day would be lost. The search polygon spans lon "
                    f"{west:.2f}..{east:.2f}, lat {south:.2f}..{north:.2f}: make the AOI "
                    "smaller (is it meant to cover that much? An area across the antimeridian "
                    "must be drawn as parts split at +-180 degrees) and check "
                    "source.cdse.product_type"
                )
            log.info(
                "search %s reached the catalogue's paging limit (%s results per query): "
                "searching it again in %d parts",
                _span(begin, stop),
                f"{MAX_SKIP:,}",
                len(smaller),
            )
            windows[:0] = smaller
    return sorted(found.values(), key=lambda p: (p.start, p.id))


def _search_window(
    settings: Settings,
    polygon: shapely.Polygon,
    begin: datetime,
    stop: datetime,
    found: dict[str, Product],
) -> bool:
    """Add the products of one window [begin, stop) to ``found`` (by Id); False when the
    catalogue stopped paging at its limit, i.e. the window may be incomplete.

    The service omits ``@odata.nextLink`` when the next ``$skip`` would pass 10,000 (§2,
    release notes 2024-11-12), whether or not more products exist. So a window whose last
    page is full and whose next page would start past that (more than 10,000 received) may
    have been cut. When exactly that many products exist it is complete: searching it
    again in parts then costs a few queries and loses nothing.
    """
    url: str | None = search_url(settings, polygon, begin, stop)
    pages = received = first_page = last_page = 0
    while url:
        page = _get_json(url, settings)
        try:
            items = page["value"]
            for item in items:
                product = Product.from_odata(item)
                found.setdefault(product.id, product)
        except (KeyError, TypeError, ValueError) as error:
            raise CdseError(
                f"the catalogue at {settings.catalogue_url} answered with something other "
                f"than an OData product list ({type(error).__name__}: {error}): is "
                "catalogue_url the OData root (.../odata/v1)?"
            ) from None
        pages += 1
        received += len(items)
        last_page = len(items)
        first_page = first_page or last_page
        url = page.get("@odata.nextLink")
    log.info("search %s: %d products in %d pages", _span(begin, stop), received, pages)
    return not (received > MAX_SKIP and last_page == first_page)


def _get_json(url: str, settings: Settings) -> dict:
    """One catalogue page, retried on 429/5xx and connection problems."""

    def get() -> dict:
        with _open(
            "GET", url, timeout=settings.timeout_s, trusted=settings.trusted_hosts
        ) as response:
            if response.status == 200:
                try:
                    return json.loads(response.read())
                except ValueError as error:
                    raise _TransientError(f"unreadable JSON ({error})") from None
            problem = _describe(response)
            if response.status in RETRY_STATUSES:
                raise _TransientError(problem, _retry_after(response))
            raise CdseError(f"catalogue search refused: {problem} (query {url[:300]})")

    return _with_retries(get, settings, "catalogue search")


# --- one product per sensing period ----------------------------------------------------


def _preference(product: Product) -> tuple:
    """Sort key, best first: NT, ST, NR; then the newest baseline; then the newest
    processing (creation time in the name); then the name (deterministic)."""
    fields_ = PRODUCT_NAME.match(product.name)
    return (
        TIMELINESS_RANK.get(fields_["timeliness"], len(TIMELINESS_RANK)),
        -int(fields_["baseline"]),
        -int(fields_["created"].replace("T", "")),
        product.name,
    )


def _overlap(a: Product, b: Product) -> bool:
    """Same sensing period: the intervals overlap by at least half the shorter one."""
    shared = (min(a.stop, b.stop) - max(a.start, b.start)).total_seconds()
    shortest = max(1.0, min((a.stop - a.start).total_seconds(), (b.stop - b.start).total_seconds()))
    return shared >= 0.5 * shortest


def select(products: list[Product]) -> tuple[list[Product], dict[str, str]]:
    """Keep one product per sensing period and platform (the NR, ST and NT copies and the
    baselines of one acquisition, §4).

    Names must match :data:`eotrend.olci.PRODUCT_NAME`. Returns the kept products in
    sensing order and, by name, why each other one was dropped.
    """
    ordered = sorted(products, key=lambda p: (p.name[:3], p.start, p.name))
    groups: list[list[Product]] = []
    for product in ordered:
        group = groups[-1] if groups else None
        if group and group[0].name[:3] == product.name[:3] and _overlap(group[0], product):
            group.append(product)
        else:
            groups.append([product])
    kept, dropped = [], {}
    for group in groups:
        best, *others = sorted(group, key=_preference)
        kept.append(best)
        for other in others:
            dropped[other.name] = (
                f"duplicate of {best.name} (same sensing period; kept by preference NT over "
                "ST over NR, then the newest baseline, then the newest processing)"
            )
    return sorted(kept, key=lambda p: (p.start, p.name)), dropped


# --- the product cache -----------------------------------------------------------------


def product_path(cache: str | Path, name: str) -> Path:
    """Where product ``name`` (without ``.SEN3``) lives in the cache."""
    return Path(cache) / f"{name}.SEN3"


def check_product(
    folder: Path, *, md5: bool = False, complete: bool = True, require_md5: bool = False
) -> str | None:
    """What is wrong with a product folder, or None when it is complete.

    Checks the required files and every file its ``xfdumanifest.xml`` lists, with the
    listed size, and with ``md5`` also the listed MD5 (``checksum checksumName="MD5"``,
    olci-format.md §8; reads every byte). With ``require_md5`` (implies ``md5``) a listed
    file without an MD5 is a problem too: nothing listed goes unverified. With ``complete``
    false, listed files may be missing (users delete the bands they do not need), but
    those present must still have their listed size (a truncated copy fails).
    """
    if not folder.is_dir():
        return "not in the cache"
    missing = [n for n in REQUIRED_FILES if not (folder / n).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        root = ET.parse(folder / "xfdumanifest.xml").getroot()
    except ET.ParseError as error:
        return f"xfdumanifest.xml is not valid XML ({error})"
    for stream in (e for e in root.iter() if e.tag.rpartition("}")[2] == "byteStream"):
        location = next((e for e in stream if e.tag.rpartition("}")[2] == "fileLocation"), None)
        if location is None:
            continue
        href = Path(location.get("href", "")).as_posix()  # "./x.nc" -> "x.nc"
        path = folder / href
        if not path.is_file():
            if not complete:
                continue
            return f"missing {href} (listed in xfdumanifest.xml)"
        size = stream.get("size")
        if size is not None and path.stat().st_size != int(size):
            return f"{href} has {path.stat().st_size} bytes, xfdumanifest.xml says {size}"
        listed = next(
            (
                (e.text or "").strip().lower()
                for e in stream
                if e.tag.rpartition("}")[2] == "checksum"
                and e.get("checksumName", "MD5").upper() == "MD5"
            ),
            "",
        )
        if require_md5 and not listed:
            return f"{href} has no MD5 in xfdumanifest.xml"
        if (md5 or require_md5) and listed and _md5(path) != listed:
            return f"{href} does not match its MD5 in xfdumanifest.xml"
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def product_lock(cache: Path, name: str) -> Iterator[None]:
    """Hold the cache's lock on product ``name`` (other jobs wait for it)."""
    folder = cache / PARTIAL
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _member_problem(info: zipfile.ZipInfo, top: str) -> str | None:
    """Why a zip member may not be extracted, or None."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\\" in name:
        return f"unsafe member path {name!r}"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"symbolic link {name!r}"
    if parts[0] != top:
        return f"member {name!r} outside the product folder {top}/"
    return None


def install_zip(zip_path: Path, cache: Path, name: str, *, require_md5: bool = False) -> Path:
    """Unzip product ``name`` into the cache: checked member names, CRCs and the product's
    own manifest (sizes and MD5s; with ``require_md5`` every listed file must have an MD5,
    see :func:`check_product`), then renamed into ``<cache>/<name>.SEN3`` in one step.
    Returns that path.

    Raises:
        ProductError: an unsafe or misshapen zip (``corrupt=False``) or damaged bytes
            (``corrupt=True``). Nothing is left under the final name either way.
    """
    top = f"{name}.SEN3"
    final = product_path(cache, name)
    staging = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=cache / PARTIAL))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                members = archive.infolist()
                problems = [p for p in (_member_problem(i, top) for i in members) if p]
                if problems:
                    raise ProductError(f"{zip_path.name}: {problems[0]}; refused to unzip it")
                for info in members:
                    target = staging / info.filename
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    # Reading each member to its end checks its CRC-32 (BadZipFile otherwise).
                    with archive.open(info) as source, open(target, "wb") as sink:
                        shutil.copyfileobj(source, sink, CHUNK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
            raise ProductError(f"{zip_path.name} is not a valid zip ({error})", True) from None
        folder = staging / top
        problem = check_product(folder, md5=True, require_md5=require_md5)
        if problem:
            raise ProductError(f"{top} from {zip_path.name} is incomplete: {problem}", True)
        if final.exists():  # an unverified leftover: moved aside, then removed
            stale = staging / f".stale-{top}"
            os.replace(final, stale)
        os.replace(folder, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- download --------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchJob:
    """One product to download into ``cache`` (a folder path).

    size (bytes) and md5 are the catalogue's: 0 and "" when it lists none.
    """

    name: str
    product_id: str
    cache: str
    size: int = 0
    md5: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What became of a :class:`FetchJob`.

    Attributes:
        ok: the product is in the cache, verified.
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


def fetch(job: FetchJob, tokens: TokenClient, settings: Settings) -> FetchResult:
    """Download, verify and install one product (a worker task). Never raises for a
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
        attempt = 0
        refused = False  # this attempt's token was renewed after a 401
        rejected = ""  # MD5 of the last file that failed its own checks
        while True:
            # A token per attempt: one taken before a back-off of minutes may have expired
            # meanwhile (access tokens live 10 min, §5); the manager refreshes it.
            token = tokens.token()
            try:
                received += _transfer(job, part, token, settings, tokens.source)
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
                    digest = _md5(part)
                    part.unlink(missing_ok=True)
                    if digest == rejected:
                        raise ProductError(
                            f"{reason}; the service sent the same bytes twice (MD5 {digest}), "
                            "so downloading again will not help"
                        ) from None
                    rejected = digest
                    raise _TransientError(reason) from None
                warning = (
                    f"{disagreement}, but every zip member's CRC-32 and every MD5 in the "
                    "product's own xfdumanifest.xml verify: accepted"
                    if disagreement
                    else ""
                )
                part.unlink(missing_ok=True)
                seconds = time.monotonic() - began
                return FetchResult(job.name, True, "", received, resumed, seconds, warning)
            except _RefusedError as problem:
                if refused:
                    raise CredentialsError(
                        f"the download service refused a fresh access token for the account "
                        f"from {tokens.source} ({problem}); use a Copernicus Data Space "
                        "account's username and password (not a Sentinel Hub OAuth client)"
                    ) from None
                tokens.renew(token)
                refused = True
            except ProductError as error:
                part.unlink(missing_ok=True)
                seconds = time.monotonic() - began
                return FetchResult(job.name, False, str(error), received, resumed, seconds)
            except _TransientError as problem:
                refused = False  # a later 401 concerns a token that aged while waiting
                if problem.progressed:
                    attempt = 0
                attempt += 1
                if attempt > settings.retries:
                    reason = f"gave up after {attempt} attempts: {problem.reason}"
                    seconds = time.monotonic() - began
                    return FetchResult(job.name, False, reason, received, resumed, seconds)
                wait = _delay(attempt, problem.retry_after, settings)
                log.warning(
                    "download %s: %s; retry %d in %.1f s", job.name, problem.reason, attempt, wait
                )
                time.sleep(wait)


def _transfer(job: FetchJob, part: Path, token: str, settings: Settings, source: str) -> int:
    """One request for the rest of the product's bytes, appended to ``part``.

    ``source`` says where the credentials came from (for the 403 message).

    Returns the bytes received. Raises _TransientError (retry; ``progressed`` when bytes
    arrived), _RefusedError (401), CredentialsError (403) or ProductError (other refusals).
    """
    offset = part.stat().st_size if part.exists() else 0
    if job.size and offset >= job.size:
        if offset == job.size:
            return 0  # complete from an earlier attempt or run: verified next
        part.unlink()
        offset = 0
    headers = {"Authorization": f"Bearer {token}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    url = f"{settings.download_url}/Products({job.product_id})/$value"
    try:
        with _open(
            "GET", url, timeout=settings.timeout_s, trusted=settings.trusted_hosts, headers=headers
        ) as response:
            status = response.status
            if status == 401:
                raise _RefusedError(_describe(response))
            if status == 403:
                raise CredentialsError(
                    f"the download service refused product {job.name} to the account from "
                    f"{source} ({_describe(response)}); check that the account is active "
                    "and within its quota (general users: 12 TB per rolling 30 days)"
                )
            if status in RETRY_STATUSES:
                raise _TransientError(_describe(response), _retry_after(response))
            if status == 416:
                total = _content_range(response.getheader("Content-Range"))[1]  # "*/total"
                if offset and total == offset:
                    return 0  # the file was complete
                if offset:
                    part.unlink()
                    raise _TransientError(f"range {offset}- refused (HTTP 416); starting again")
            if status == 206:
                first, total = _content_range(response.getheader("Content-Range"))
                if first != offset:
                    part.unlink()
                    raise _TransientError(
                        f"asked for bytes {offset}-, got a range starting at {first}; "
                        "starting again"
                    )
                mode = "ab"
            elif status == 200:
                offset, mode = 0, "wb"  # the whole product: restart (never append it)
                length = response.getheader("Content-Length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise ProductError(f"download of {job.name} refused: {_describe(response)}")
            expected = None if total is None else total - offset
            received = _stream(response, part, mode, expected)
    except (OSError, http.client.HTTPException) as error:
        raise _TransientError(f"transfer failed ({type(error).__name__}: {error})") from None
    if expected is not None and received < expected:
        raise _TransientError(
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
        digest = _md5(part)
        if digest != job.md5:
            return f"MD5 mismatch (catalogue {job.md5}, downloaded {digest})"
    return ""


def fetch_all(
    jobs: list[FetchJob],
    settings: Settings,
    credentials: Credentials,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[FetchResult]:
    """Download ``jobs`` on the shared engine, at most ``settings.max_concurrent`` at a
    time (the service's quota, §6), with one login for all of them. Results in job order.

    Raises:
        CredentialsError: credentials refused (the run stops: every product would fail).
    """
    manager = TokenManager(credentials, settings)
    requested = (
        settings.max_concurrent if threads is None else min(threads, settings.max_concurrent)
    )
    results: list[FetchResult] = [FetchResult(j.name, False, "not attempted") for j in jobs]
    with TokenService(manager) as service:
        tasks = [Task(job.name, (job, service.client, settings)) for job in jobs]
        plan = plan_workers(len(tasks), threads=requested, mem_mb=mem_mb, task_mem_mb=TASK_MEM_MB)
        # One download needs no pool: it is network-bound and safe to run here.
        done = iter_tasks(fetch, tasks, plan, label="downloads", logger=log, inline_single=True)
        for index, result in done:
            results[index] = result
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
    log.info(
        "%d downloads (%d failed); %d login(s), %d token refresh(es)",
        len(jobs),
        sum(not r.ok for r in results),
        manager.logins,
        manager.refreshes,
    )
    return results
