"""A loopback Copernicus Data Space for the tests: token service, OData catalogue, download.

Two threaded ``http.server`` instances on 127.0.0.1 (random ports) play the two hosts of
CDSE's OData API (https://documentation.dataspace.copernicus.eu/APIs/OData.html):

* the *catalogue* host: the Keycloak token endpoint (password and refresh grants, with
  lifetimes), ``GET /odata/v1/Products`` (the documented ``$filter`` subset, ``$orderby``,
  ``$top``, ``$skip``, ``$count``, ``$expand``; ``@odata.nextLink`` re-encoded with ``%24``
  and ``+`` as the real service does, and, like it since 2024-11-12, omitted when the next
  ``$skip`` would pass the paging cap (10,000 there; ``max_skip`` here), with a larger
  ``$skip`` refused by the documented 422 body; ``page_size`` makes pages smaller than
  ``$top`` asks, as OData lets a server do),
  ``Products(<Id>)`` and ``Products(<Id>)/$value``, which answers 301 to the other host;
* the *download* host: ``Products(<Id>)/$value`` with a Bearer token, ``Range`` (206 with
  ``Content-Range``, 416 past the end), at most ``max_streams`` bodies at a time (429
  ``DAT-ZIP-100``), the service's 401/403/404 bodies; and the Nodes API (same page):
  ``Products(<Id>)/Nodes`` and ``Nodes(<Name>.SEN3)/Nodes`` list the product folder and
  its files in the documented ``{"result": [{"Id", "Name", "ContentLength",
  "ChildrenNumber", "Nodes": {"uri"}}]}`` shape (no token needed), and
  ``Nodes(<Name>.SEN3)/Nodes(<file>)/$value`` streams one file with the same token check,
  ``Range`` and stream cap as the product's ``$value`` (with ``ignore_ranges`` set, every
  ``Range`` is answered 200 with the whole file: whether the real service honours it is
  unverified). The catalogue host answers Nodes paths with 301 to the download host too.

Faults on demand: :meth:`FakeCdse.fault` queues per-product answers (and
:meth:`FakeCdse.fault_file` per-file ones) (a status with or
without ``Retry-After``, a body dropped after N bytes, a ``Range`` ignored or answered with
the wrong range); :meth:`FakeCdse.expire_access_tokens`; ``refuse_tokens``/``forbid``;
:meth:`FakeCdse.down_after` (the service stops answering after N complete downloads).
Products are synthetic OLCI zips (:func:`products_from_specs`) served byte for byte, with
their MD5 listed unless told otherwise, or, for searches past the paging limit, light
catalogue records without bytes (:func:`bulk_products`: tens of thousands in a fraction of a
second; their OData items are built only for the page served). Every request is recorded
in :attr:`FakeCdse.requests`; :meth:`FakeCdse.searches` parses the search requests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import re
import secrets
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import shapely
import shapely.geometry

from eotrend.sentinel3.footprint import read_footprint
from eotrend.sentinel3.reader import open_product
from eotrend.synthetic.product import write_product

TOKEN_PATH = "/auth/realms/CDSE/protocol/openid-connect/token"
CLIENT_ID = "cdse-public"
CHUNK = 16384
VALUE = re.compile(r"^/odata/v1/Products\(([0-9a-f-]+)\)(/\$value)?$")
NODES = re.compile(
    r"^/odata/v1/Products\(([0-9a-f-]+)\)/Nodes"
    r"(?:\(([^)/]*)\)/Nodes(?:\(([^)/]*)\)(/\$value)?)?)?$"
)
ANY_TYPE = re.compile(
    r"^Attributes/OData\.CSC\.StringAttribute/any\(att:att/Name eq 'productType' and "
    r"att/OData\.CSC\.StringAttribute/Value eq '([A-Z0-9_]+)'\)$"
)
INTERSECTS = re.compile(r"^OData\.CSC\.Intersects\(area=geography'SRID=4326;(.+)'\)$")
START = re.compile(r"^ContentDate/Start (ge|gt|lt|le) (\S+)$")
COLLECTION = re.compile(r"^Collection/Name eq '([A-Z0-9-]+)'$")
MAX_SKIP = 10000  # the largest $skip the catalogue accepts (CDSE release notes, 2024-11-12)
MAX_TOP = 1000  # the largest $top (CDSE docs, APIs/OData)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class FakeProduct:
    """One product of the fake catalogue (not changed once made: its OData item is built
    once, as searches over tens of thousands of records serve each several times).

    ``md5``: the MD5 listed in the catalogue (None = that of ``data``; "" = none listed).
    ``content_length``: the listed size (None = ``len(data)``).
    """

    name: str  # with .SEN3
    data: bytes
    start: datetime
    stop: datetime
    footprint: shapely.Polygon | None
    online: bool = True
    md5: str | None = None
    content_length: int | None = None
    id: str = ""
    nodes: dict[str, bytes] | None = None  # the folder's files; None = those of the zip

    def files(self) -> dict[str, bytes]:
        """The product folder's files by name (what the Nodes API serves)."""
        if self.nodes is not None:
            return self.nodes
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            prefix = f"{self.name}/"
            return {
                i.filename.removeprefix(prefix): archive.read(i)
                for i in archive.infolist()
                if not i.is_dir() and i.filename.startswith(prefix)
            }

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", str(uuid.uuid5(uuid.NAMESPACE_URL, self.name)))

    @property
    def product_type(self) -> str:
        return self.name[4:15]

    def entity(self, expand: bool) -> dict:
        """The OData item (with its ``Attributes`` when ``expand``)."""
        if expand:
            return {**self._item, "Attributes": self._attributes}
        return self._item

    @functools.cached_property
    def _item(self) -> dict:
        md5 = hashlib.md5(self.data).hexdigest() if self.md5 is None else self.md5
        published = self.stop + timedelta(hours=3)
        item = {
            "@odata.mediaContentType": "application/octet-stream",
            "Id": self.id,
            "Name": self.name,
            "ContentType": "application/octet-stream",
            "ContentLength": len(self.data) if self.content_length is None else self.content_length,
            "OriginDate": _iso(published),
            "PublicationDate": _iso(published),
            "ModificationDate": _iso(published),
            "Online": self.online,
            "EvictionDate": "9999-12-31T23:59:59.999999Z",
            "S3Path": f"/eodata/Sentinel-3/OLCI/{self.product_type}/"
            f"{self.start:%Y/%m/%d}/{self.name}",
            "Checksum": [
                {"Value": md5, "Algorithm": "MD5", "ChecksumDate": _iso(published)},
            ]
            if md5
            else [],
            "ContentDate": {"Start": _iso(self.start), "End": _iso(self.stop)},
            "Footprint": None
            if self.footprint is None
            else f"geography'SRID=4326;{self.footprint.wkt}'",
            "GeoFootprint": None
            if self.footprint is None
            else shapely.geometry.mapping(self.footprint),
        }
        return item

    @functools.cached_property
    def _attributes(self) -> list[dict]:
        return [
            {
                "@odata.type": "#OData.CSC.StringAttribute",
                "Name": name,
                "Value": value,
                "ValueType": "String",
            }
            for name, value in (
                ("productType", self.product_type),
                ("timeliness", self.name[88:90]),
                ("platformSerialIdentifier", self.name[2]),
                ("baselineCollection", self.name[91:94]),
            )
        ]


def products_from_specs(folder: Path, specs, *, water=None, files=None) -> list[FakeProduct]:
    """Synthetic products (zipped as the real service serves them) for the fake catalogue."""
    products = []
    for spec in specs:
        zip_path = write_product(spec, folder, water=water, files=files, zip=True)
        product_folder = zip_path.with_suffix("")
        meta = open_product(product_folder)
        products.append(
            FakeProduct(
                name=product_folder.name,
                data=zip_path.read_bytes(),
                start=meta.sensing_start,
                stop=meta.sensing_stop,
                footprint=shapely.Polygon(read_footprint(product_folder)),
            )
        )
    return products


def bulk_products(
    count: int, begin: datetime, end: datetime, footprint: shapely.Polygon
) -> list[FakeProduct]:
    """``count`` catalogue records sensed evenly over [begin, end), each starting on its
    own second, all sharing one footprint; S3A WFR NT names, no bytes (for searches only)."""
    step = (end - begin) / count
    if step < timedelta(seconds=1):
        raise ValueError(f"{count} products do not fit {begin}..{end} one second apart")
    products = []
    for i in range(count):
        start = (begin + i * step).replace(microsecond=0)
        stop = start + timedelta(minutes=3)
        name = (
            f"S3A_OL_2_WFR____{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
            f"{stop + timedelta(hours=2):%Y%m%dT%H%M%S}_0179_051_124_3060_MAR_O_NT_003.SEN3"
        )
        products.append(FakeProduct(name, b"", start, stop, footprint))
    return products


@dataclass
class Search:
    """One search request the fake answered: its Intersects area, its sensing-start
    bounds (``ge`` and ``lt``), its ``$skip``, the HTTP status of the answer and its
    ``$top``."""

    area: shapely.Geometry
    ge: datetime
    lt: datetime
    skip: int
    status: int
    top: int = 20


@dataclass
class Fault:
    """One answer the download host gives instead of the normal one.

    status: answer this HTTP status (with the service's error body);
    retry_after: its Retry-After header (or a function giving it when the server answers);
    drop_after: send only this many body bytes, then close the connection;
    ignore_range: answer 200 with the whole body despite Range;
    wrong_range: answer 206 from byte 0 whatever Range asked; expire_tokens: every access
    token issued so far expires just before this request is checked; corrupt: flip one
    byte in the middle of the body (same size, other bytes).
    """

    status: int | None = None
    retry_after: str | Callable[[], str] | None = None
    drop_after: int | None = None
    ignore_range: bool = False
    wrong_range: bool = False
    expire_tokens: bool = False
    corrupt: bool = False


@dataclass
class Request:
    """One request the fake saw."""

    host: str  # catalogue | download
    method: str
    path: str
    query: str
    range: str | None
    authorized: bool
    status: int = 0
    sent: int = 0  # body bytes sent
    time: float = field(default_factory=time.monotonic)


class FakeCdse:
    """The fake service. Use as a context manager (starts and stops both hosts).

    Args:
        username, password: the one account.
        access_lifetime, refresh_lifetime: token lifetimes, seconds.
        max_streams: bodies served at once; more get 429 DAT-ZIP-100.
        max_skip: the paging cap: the largest ``$skip`` accepted (larger: 422) and that a
            next link may carry (none is given past it, however many products remain).
            The real service's is 10,000 since 2024-11-12 (CDSE API release notes,
            https://documentation.dataspace.copernicus.eu/APIs/Others/ReleaseNotes.html).
        page_size: the most products a page holds whatever ``$top`` asks (the next link
            then continues after those served); None: ``$top`` of them, as CDSE serves.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        access_lifetime: float = 600,
        refresh_lifetime: float = 3600,
        max_streams: int = 4,
        max_skip: int = MAX_SKIP,
        page_size: int | None = None,
    ) -> None:
        self.username, self.password = username, password
        self.access_lifetime, self.refresh_lifetime = access_lifetime, refresh_lifetime
        self.max_streams = max_streams
        self.max_skip, self.page_size = max_skip, page_size
        self.products: dict[str, FakeProduct] = {}
        self.requests: list[Request] = []
        self.issued: list[str] = []  # every token handed out (for the secret greps)
        self.logins = self.refreshes = 0
        self.refuse_tokens = False
        self.forbid = False
        self.ignore_ranges = False  # Nodes $value answers every Range with the whole file
        self.peak_streams = 0
        # Stream requests refused (429) before any is served, as if another client of the
        # account held every stream until then (counted, not timed: deterministic).
        self.streams_taken = 0
        self._access: dict[str, float] = {}  # token -> expiry (monotonic)
        self._refresh: dict[str, float] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._search_faults: list[Fault] = []
        self._streams = 0
        self._completed = 0
        self._down = False
        self._down_after: int | None = None
        self._down_partial: int | None = None
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._last_search: tuple[tuple, list] | None = None
        self._added = 0  # bumped by add(): a cached search result holds for one value of it

    # --- set-up ---

    def __enter__(self) -> FakeCdse:
        for role in ("catalogue", "download"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.fake, server.role = self, role
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self._servers.append(server)
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _root(self, role: str) -> str:
        server = self._servers[0 if role == "catalogue" else 1]
        return f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def catalogue_url(self) -> str:
        return f"{self._root('catalogue')}/odata/v1"

    @property
    def download_url(self) -> str:
        """The download host itself (no redirect)."""
        return f"{self._root('download')}/odata/v1"

    @property
    def token_url(self) -> str:
        return f"{self._root('catalogue')}{TOKEN_PATH}"

    def settings(self, **overrides) -> dict:
        """A ``source.cdse`` config block for this server: downloads go through the
        catalogue host's redirect; fast retries."""
        block = {
            "catalogue_url": self.catalogue_url,
            "download_url": self.catalogue_url,
            "token_url": self.token_url,
            "retries": 3,
            "backoff_s": 0.05,
            "max_wait_s": 5,
            "timeout_s": 10,
        }
        return {**block, **overrides}

    def add(self, *products: FakeProduct) -> None:
        for product in products:
            self.products[product.id] = product
        self._added += 1

    def by_name(self, name: str) -> FakeProduct:
        """A product by name (with or without .SEN3)."""
        name = name if name.endswith(".SEN3") else f"{name}.SEN3"
        return next(p for p in self.products.values() if p.name == name)

    def fault(self, name: str, *faults: Fault) -> None:
        """Queue answers for the next download requests of product ``name``."""
        self._faults.setdefault(self.by_name(name).id, []).extend(faults)

    def fault_file(self, name: str, file: str, *faults: Fault) -> None:
        """Queue answers for the next Nodes ``$value`` requests of one file of a product."""
        self._faults.setdefault(f"{self.by_name(name).id}/{file}", []).extend(faults)

    def fault_search(self, *faults: Fault) -> None:
        """Queue answers (statuses) for the next search requests."""
        self._search_faults.extend(faults)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (refresh tokens live)."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0

    def down_after(self, completed: int, partial: int | None = None) -> None:
        """After ``completed`` complete downloads the service stops answering (connections
        are closed at once); with ``partial``, the next body first sends that many bytes."""
        self._down_after, self._down_partial = completed, partial

    def restore(self) -> None:
        self._down, self._down_after, self._down_partial = False, None, None

    def searches(self) -> list[Search]:
        """The search requests seen so far, parsed (first pages and next links alike)."""
        found = []
        for request in self.requests:
            if request.host != "catalogue" or request.path != "/odata/v1/Products":
                continue
            query = {k: v[0] for k, v in parse_qs(request.query).items()}
            clauses = _clauses(query["$filter"])
            area = next(shapely.from_wkt(m[1]) for c in clauses if (m := INTERSECTS.match(c)))
            bounds = {m[1]: _moment(m[2]) for c in clauses if (m := START.match(c))}
            skip, top = int(query.get("$skip", 0)), int(query.get("$top", 20))
            found.append(Search(area, bounds["ge"], bounds["lt"], skip, request.status, top))
        return found

    def downloads(self, name: str) -> list[Request]:
        """The download host's requests for product ``name``."""
        path = f"/odata/v1/Products({self.by_name(name).id})/$value"
        return [r for r in self.requests if r.host == "download" and r.path == path]

    def file_downloads(self, name: str, file: str | None = None) -> list[Request]:
        """The download host's Nodes ``$value`` requests of product ``name`` (of one file)."""
        product = self.by_name(name)
        prefix = f"/odata/v1/Products({product.id})/Nodes({product.name})/Nodes("
        return [
            r
            for r in self.requests
            if r.host == "download"
            and r.path.startswith(prefix)
            and r.path.endswith(")/$value")
            and (file is None or r.path == f"{prefix}{file})/$value")
        ]

    def node_listing(self, product: FakeProduct, folder: str | None, root: str) -> dict:
        """A Nodes listing: the product folder, or the files in it."""
        base = f"{root}/odata/v1/Products({product.id})/Nodes"
        if folder is None:
            files = product.files()
            nodes = [(product.name, 0, len(files), f"{base}({product.name})/Nodes")]
        else:
            nodes = [
                (name, len(data), 0, f"{base}({product.name})/Nodes({name})/Nodes")
                for name, data in sorted(product.files().items())
            ]
        return {
            "result": [
                {
                    "Id": name,
                    "Name": name,
                    "ContentLength": size,
                    "ChildrenNumber": children,
                    "Nodes": {"uri": uri},
                }
                for name, size, children, uri in nodes
            ]
        }

    # --- answers (called by the handler threads) ---

    def grant(self, form: dict[str, str]) -> tuple[int, dict]:
        """The token endpoint."""
        if form.get("client_id") != CLIENT_ID:
            return 400, {"error": "unauthorized_client", "error_description": "Invalid client"}
        now = time.monotonic()
        with self._lock:
            if form.get("grant_type") == "password":
                if (form.get("username"), form.get("password")) != (self.username, self.password):
                    return 401, {
                        "error": "invalid_grant",
                        "error_description": "Invalid user credentials",
                    }
                self.logins += 1
                session_end = now + self.refresh_lifetime
            elif form.get("grant_type") == "refresh_token":
                session_end = self._refresh.get(form.get("refresh_token", ""), 0.0)
                if session_end <= now:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token is not active",
                    }
                self.refreshes += 1
            else:
                return 400, {"error": "unsupported_grant_type"}
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
            self.issued += [access, refresh]
            self._access[access] = now + self.access_lifetime
            self._refresh[refresh] = session_end
        return 200, {
            "access_token": access,
            "expires_in": self.access_lifetime,
            "refresh_expires_in": round(session_end - now),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": str(uuid.uuid4()),
            "scope": "AUDIENCE_PUBLIC openid email profile user-context",
        }

    def search(self, query: dict[str, str], url_root: str) -> tuple[int, dict]:
        """``GET /odata/v1/Products``."""
        try:
            keep = _filter(query.get("$filter", ""))
        except ValueError as error:
            return 400, {"detail": f"Invalid filter: {error}"}
        top = int(query.get("$top", 20))
        skip = int(query.get("$skip", 0))
        if top > MAX_TOP:
            return 400, {"detail": f"Top value must be less than or equal to {MAX_TOP}"}
        if skip > self.max_skip:
            return 422, {
                "detail": [
                    {
                        "type": "less_than_equal",
                        "loc": ["query", "$skip"],
                        "msg": f"Input should be less than or equal to {self.max_skip}",
                        "input": str(skip),
                        "ctx": {"le": self.max_skip},
                    }
                ]
            }
        order = query.get("$orderby", "")
        if order not in ("", "ContentDate/Start asc", "ContentDate/Start desc"):
            return 400, {"detail": f"Unsupported $orderby {order!r}"}
        found = self._found(query.get("$filter", ""), order, keep)
        expand = "Attributes" in query.get("$expand", "")
        body: dict = {
            "@odata.context": "$metadata#Products(Attributes())" if expand else "$metadata#Products"
        }
        if query.get("$count", "").lower() in ("true", "1"):
            body["@odata.count"] = len(found)
        served = top if self.page_size is None else min(top, self.page_size)
        body["value"] = [p.entity(expand) for p in found[skip : skip + served]]
        # The next link's $skip may not pass the cap: past it, no link (more or not).
        if skip + served < len(found) and skip + served <= self.max_skip:
            following = {k: v for k, v in query.items() if k != "$skip"}
            following["$skip"] = str(skip + served)
            encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in following.items())
            body["@odata.nextLink"] = f"{url_root}/odata/v1/Products?{encoded}"
        return 200, body

    def _found(self, text: str, order: str, keep: Callable[[FakeProduct], bool]) -> list:
        """The products a ``$filter`` keeps, in the ``$orderby`` order (by start, else
        by id descending: "unordered"). Kept for the next pages of the same search: it is
        the same until products are added."""
        key = (text, order, self._added)
        with self._lock:
            if self._last_search and self._last_search[0] == key:
                return self._last_search[1]
        found = [p for p in self.products.values() if keep(p)]
        if order:
            found.sort(key=lambda p: (p.start, p.id), reverse=order.endswith("desc"))
        else:
            found.sort(key=lambda p: p.id, reverse=True)
        with self._lock:
            self._last_search = (key, found)
        return found

    def authorize(self, header: str | None) -> tuple[int, dict] | None:
        """The download host's token check: None when accepted, else (status, body)."""
        token = (header or "").removeprefix("Bearer ").strip()
        if not header or not token:
            return 401, {"code": "DAT-ZIP-604", "message": "Token not found"}
        expiry = self._access.get(token)
        if expiry is None:
            return 401, {"detail": "Unauthorized"}
        if expiry <= time.monotonic():
            return 401, {"code": "DAT-ZIP-109", "message": "Expired signature!"}
        if self.refuse_tokens:
            return 401, {"code": "DAT-ZIP-609", "message": "Token audience not allowed"}
        if self.forbid:
            return 403, {"detail": "Forbidden"}
        return None

    def next_fault(self, product: FakeProduct | None, file: str | None = None) -> Fault | None:
        """The next queued fault of a product's downloads, or of one of its files (None:
        of the search)."""
        key = None if product is None else product.id if file is None else f"{product.id}/{file}"
        with self._lock:
            queue = self._search_faults if key is None else self._faults.get(key)
            return queue.pop(0) if queue else None

    def requeue(self, product: FakeProduct, fault: Fault, file: str | None = None) -> None:
        """Put a fault back at the head of a product's (or file's) queue."""
        key = product.id if file is None else f"{product.id}/{file}"
        with self._lock:
            self._faults.setdefault(key, []).insert(0, fault)

    def going_down(self) -> tuple[bool, int | None]:
        """(drop this request, bytes to send first)."""
        with self._lock:
            if self._down:
                return True, None
            if self._down_after is not None and self._completed >= self._down_after:
                self._down = True
                return True, self._down_partial
            return False, None

    def open_stream(self) -> bool:
        with self._lock:
            if self.streams_taken > 0:  # the account's streams held by another client
                self.streams_taken -= 1
                return False
            if self._streams >= self.max_streams:
                return False
            self._streams += 1
            self.peak_streams = max(self.peak_streams, self._streams)
            return True

    def close_stream(self, complete: bool) -> None:
        with self._lock:
            self._streams -= 1
            self._completed += complete


def _clauses(text: str) -> list[str]:
    """Split a $filter at its top-level `` and `` (outside quotes and parentheses)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(" and ", i):
            parts.append(text[start:i])
            start = i = i + 5
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _filter(text: str):
    """A predicate for the documented $filter subset; ValueError for anything else."""
    tests = []
    for clause in _clauses(text):
        if m := COLLECTION.match(clause):
            tests.append(lambda p, name=m[1]: name == "SENTINEL-3")
        elif m := ANY_TYPE.match(clause):
            tests.append(lambda p, kind=m[1]: p.product_type == kind)
        elif m := INTERSECTS.match(clause):
            try:
                area = shapely.from_wkt(m[1])
            except shapely.errors.GEOSException as error:
                raise ValueError(f"bad geometry ({error})") from None
            if not area.is_valid:
                raise ValueError("invalid geometry")
            tests.append(_intersecting(area))
        elif m := START.match(clause):
            op, moment = m[1], _moment(m[2])
            compare = {
                "ge": lambda a, b: a >= b,
                "gt": lambda a, b: a > b,
                "lt": lambda a, b: a < b,
                "le": lambda a, b: a <= b,
            }[op]
            tests.append(lambda p, c=compare, t=moment: c(p.start, t))
        else:
            raise ValueError(f"unsupported clause {clause!r}")
    return lambda p: all(t(p) for t in tests)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _intersecting(area: shapely.Geometry):
    """A predicate: does a product's footprint intersect ``area``? Computed once per
    footprint object (bulk products share theirs), so a search over tens of thousands of
    records stays fast."""
    shapely.prepare(area)
    seen: dict[int, bool] = {}

    def test(product: FakeProduct) -> bool:
        footprint = product.footprint
        if footprint is None:
            return False
        key = id(footprint)
        if key not in seen:
            seen[key] = bool(area.intersects(footprint))
        return seen[key]

    return test


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeCDSE/1.0"

    def log_message(self, format, *args) -> None:  # quiet: the tests read fake.requests
        pass

    @property
    def fake(self) -> FakeCdse:
        return self.server.fake

    def _record(self) -> Request:
        parts = urlsplit(self.path)
        request = Request(
            host=self.server.role,
            method=self.command,
            path=parts.path,
            query=parts.query,
            range=self.headers.get("Range"),
            authorized=bool(self.headers.get("Authorization")),
        )
        with self.fake._lock:
            self.fake.requests.append(request)
        return request

    def _json(self, request: Request, status: int, body: dict, headers=()) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        request.status = status

    def _fail(self, request: Request, fault: Fault) -> None:
        """Answer a fault's status with the service's error body."""
        retry_after = fault.retry_after() if callable(fault.retry_after) else fault.retry_after
        headers = [("Retry-After", retry_after)] if retry_after else []
        body = (
            {"code": "DAT-ZIP-100", "message": "Max session number exceeded"}
            if fault.status == 429
            else {"detail": "Internal Server Error"}
        )
        self._json(request, fault.status, body, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_POST(self) -> None:
        request = self._record()
        if self.fake._down:
            return self._drop()
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.server.role != "catalogue" or urlsplit(self.path).path != TOKEN_PATH:
            return self._json(request, 404, {"detail": "Not Found"})
        self._json(request, *self.fake.grant(form))

    def do_GET(self) -> None:
        request = self._record()
        parts = urlsplit(self.path)
        if self.fake._down:
            return self._drop()
        root = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.server.role == "catalogue" and parts.path == "/odata/v1/Products":
            fault = self.fake.next_fault(None)
            if fault and fault.status:
                return self._fail(request, fault)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            return self._json(request, *self.fake.search(query, root))
        nodes = NODES.match(parts.path)
        if nodes:
            return self._nodes(request, parts.path, nodes, root)
        match = VALUE.match(parts.path)
        product = self.fake.products.get(match[1]) if match else None
        if product is None:
            return self._json(request, 404, {"detail": "Product not found in catalogue"})
        if not match[2]:
            body = product.entity(expand=True)
            return self._json(
                request, 200, {"@odata.context": "$metadata#Products/$entity", **body}
            )
        if self.server.role == "catalogue":
            self.send_response(301)
            self.send_header("Location", f"{self.fake._root('download')}{parts.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            request.status = 301
            return None
        return self._download(request, product)

    def _nodes(self, request: Request, path: str, match: re.Match, root: str) -> None:
        """The Nodes API: listings (no token) and one file's ``$value``."""
        product = self.fake.products.get(match[1])
        if product is None:
            return self._json(request, 404, {"detail": "Product not found in catalogue"})
        folder, file, value = match[2], match[3], match[4]
        if any("'" in (n or "") for n in (folder, file)):
            body = {"code": "DAT-ZIP-104", "message": "Malformed OData request path"}
            return self._json(request, 400, body)
        if self.server.role == "catalogue":
            self.send_response(301)
            self.send_header("Location", f"{self.fake._root('download')}{path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            request.status = 301
            return None
        if folder is not None and folder != product.name:
            return self._json(request, 404, {"detail": "Not Found"})
        if file is None:
            return self._json(request, 200, self.fake.node_listing(product, folder, root))
        data = product.files().get(file)
        if data is None:
            return self._json(request, 404, {"detail": "Not Found"})
        if not value:
            return self._json(request, 200, {"result": []})
        return self._download(request, product, data, file)

    def _download(
        self,
        request: Request,
        product: FakeProduct,
        data: bytes | None = None,
        file: str | None = None,
    ) -> None:
        drop, partial = self.fake.going_down()
        if drop and partial is None:
            return self._drop()
        queued = None if drop else self.fake.next_fault(product, file)
        fault = Fault(drop_after=partial) if drop else queued or Fault()
        if fault.expire_tokens:
            self.fake.expire_access_tokens()
        refusal = self.fake.authorize(self.headers.get("Authorization"))
        if refusal:
            # The token is checked first: a refused request never reaches what a queued
            # fault stands for, which then awaits the next request.
            if queued is not None and not queued.expire_tokens:
                self.fake.requeue(product, queued, file)
            return self._json(request, *refusal)
        if fault.status:
            return self._fail(request, fault)
        if not self.fake.open_stream():
            return self._json(
                request, 429, {"code": "DAT-ZIP-100", "message": "Max session number exceeded"}
            )
        if file is not None and self.fake.ignore_ranges:
            fault = dataclasses.replace(fault, ignore_range=True)
        complete = False
        try:
            body = product.data if data is None else data
            filename = f"{product.name}.zip" if file is None else file
            complete = self._send_body(request, body, filename, fault)
        finally:
            self.fake.close_stream(complete)
        return None

    def _send_body(self, request: Request, data: bytes, filename: str, fault: Fault) -> bool:
        """Send ``data`` (or its requested range); True when the body was complete."""
        first = 0
        if fault.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        asked = re.match(r"^bytes=(\d+)-$", self.headers.get("Range") or "")
        if asked and not fault.ignore_range:
            first = 0 if fault.wrong_range else int(asked[1])
            if first >= len(data):
                refusal = {"detail": "Range Not Satisfiable"}
                self._json(request, 416, refusal, [("Content-Range", f"bytes */{len(data)}")])
                return False
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
            request.status = 206
        else:
            self.send_response(200)
            request.status = 200
        body = data[first:]
        kind = "application/zip" if filename.endswith(".zip") else "application/octet-stream"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = len(body) if fault.drop_after is None else min(fault.drop_after, len(body))
        try:
            for offset in range(0, limit, CHUNK):
                self.wfile.write(body[offset : min(offset + CHUNK, limit)])
                request.sent += min(CHUNK, limit - offset)
            self.wfile.flush()
        except OSError:
            return False
        if limit < len(body):
            self._drop()
            return False
        return True
