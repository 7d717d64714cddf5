"""The OData catalogue search and the choice of one product per sensing period.

Sources: CDSE's OData page, https://documentation.dataspace.copernicus.eu/APIs/OData.html, and its
release notes, https://documentation.dataspace.copernicus.eu/APIs/Others/ReleaseNotes.html.

Search: ``Products`` with the collection, product type, AOI intersection and
sensing-start clauses, ``$orderby=ContentDate/Start asc`` (the server then orders ties by
Id, so pages neither lose nor repeat products), ``$top`` <= 1000, one query per calendar
year, ``@odata.nextLink`` followed verbatim, duplicates by Id (and by Name) dropped. The
service pages only so deep (``$skip`` at most 10,000 since 2024-11-12) and then simply
omits the next link, so a window whose last page came back full without one may have been
cut, whatever the limit is today: one small query past its last product tells, and a cut
window is searched again month by month, then day by day; a day still cut is an error
(never a silent cut). An AOI split at the antimeridian is searched one side at a time.
:func:`select` keeps one product per sensing period.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode

import numpy as np
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from eotrend.core.errors import InputError
from eotrend.sentinel3.layout import PRODUCT_NAME
from eotrend.sources.cdse.http import (
    RETRY_STATUSES,
    TransientError,
    describe,
    request,
    retry_after_s,
    with_retries,
)
from eotrend.sources.cdse.settings import MAX_PAGE, CdseError, Settings

log = logging.getLogger(__name__)

MAX_WKT_CHARS = 2000  # longer AOI polygons are simplified (the filter travels in the URL)
TIMELINESS_RANK = {"NT": 0, "ST": 1, "NR": 2}  # prefer the final (non-time-critical) product


@dataclass(frozen=True)
class Product:
    """One catalogue product.

    Attributes:
        id: the catalogue's UUID. name: the product name without ``.SEN3``.
        start, stop: sensing period (UTC). online: downloadable now (False = deferred).
        size: zip size in bytes, 0 when unknown. md5: lower-case hex, "" when unknown.
        footprint: the catalogue's footprint (lon/lat), None when it lists none.
        s3_path: where the object store holds the product folder (``S3Path``,
            ``/eodata/Sentinel-3/OLCI/<type>/<yyyy>/<mm>/<dd>/<name>.SEN3``), "" if unlisted.
    """

    id: str
    name: str
    start: datetime
    stop: datetime
    online: bool = True
    size: int = 0
    md5: str = ""
    footprint: BaseGeometry | None = None
    s3_path: str = ""

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
            s3_path=str(item.get("S3Path") or ""),
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
    """OData datetime literal, UTC with ``Z`` (no ``+``, which would need escaping)."""
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


MAX_SPAN_DEG = 12.0
"""The widest group of AOI parts searched as one polygon (degrees of longitude or
latitude): about one OLCI frame (a 1,270 km swath, ~3 minutes or ~1,200 km along the
track; ESA, Sentinel-3 OLCI User Guide, "Coverage"). Within that a hull returns about
the products each part would; a wider group is split so that the gaps between distant
lakes are not searched."""
MAX_SEARCH_POLYGONS = 16
"""At most this many polygons per search (each costs its own queries per time window)."""


def search_polygons(
    geometries: list, max_chars: int = MAX_WKT_CHARS, max_span: float = MAX_SPAN_DEG
) -> list[shapely.Polygon]:
    """The polygons to search the catalogue with, each covering a group of AOI parts
    (:func:`aoi_polygon`); together they cover the AOI, and products found by several
    are merged by Id.

    Parts are grouped by :func:`group_parts`: an AOI within ``max_span`` degrees is one
    polygon; thousands of lakes over a continent become a few polygons around the
    clusters, so that the search neither returns every product over the gaps nor sends
    thousands of vertices (the Intersects filter travels in the URL).

    In lon/lat an area across 180° can only be drawn as parts on either side of it (a
    MultiPolygon split at ±180°). The convex hull of such parts spans the globe the wrong
    way round: a band of every longitude, holding every product at those latitudes. So
    when the AOI's parts span more than 180° of longitude, the parts west of 0° and those
    east of it are grouped separately.
    """
    parts = list(shapely.get_parts(geometries))
    west, _, east, _ = shapely.total_bounds(parts)
    if east - west <= 180.0:
        sides = [parts]
    else:
        sides = [
            [p for p in parts if p.centroid.x < 0.0],
            [p for p in parts if p.centroid.x >= 0.0],
        ]
        log.info(
            "the AOI spans lon %.2f..%.2f (split at the antimeridian?): its parts west and "
            "east of 0 degrees are searched apart",
            west,
            east,
        )
    groups = [g for side in sides if side for g in group_parts(side, max_span)]
    polygons = [aoi_polygon(group, max_chars) for group in groups]
    if len(polygons) > 1:
        log.info("%d AOI parts searched as %d polygons", len(parts), len(polygons))
    return polygons


def group_parts(
    parts: list, max_span: float = MAX_SPAN_DEG, max_groups: int = MAX_SEARCH_POLYGONS
) -> list[list]:
    """``parts`` (shapely geometries, lon/lat) in groups whose bounding box spans at most
    ``max_span`` degrees: the widest group is cut across its longer side where its parts'
    centres are furthest apart (:func:`_widest_gap`), until every group fits or there
    are ``max_groups`` groups. Deterministic: the same parts give the same groups."""
    groups = [list(parts)]
    while len(groups) < max_groups:
        spans = [_span_deg(group) for group in groups]
        widest = max(range(len(groups)), key=lambda k: spans[k])
        if spans[widest] <= max_span or len(groups[widest]) < 2:
            break
        group = groups.pop(widest)
        west, south, east, north = shapely.total_bounds(group)
        axis = 0 if east - west >= north - south else 1
        centres = shapely.get_coordinates(shapely.centroid(group))[:, axis]
        order = np.argsort(centres, kind="stable")
        cut = _widest_gap(centres[order])
        groups += [[group[i] for i in order[:cut]], [group[i] for i in order[cut:]]]
    return groups


def _widest_gap(values: np.ndarray) -> int:
    """Where to cut sorted ``values`` (1-D, ascending, 2 or more) in two: after the widest
    gap between neighbours among the middle 80 % of them, so that separate clusters part
    where they are apart and no cut leaves a sliver; of gaps within 5 % of the widest
    (evenly spread values), the one nearest the middle."""
    low = max(1, len(values) // 10)
    high = max(low + 1, len(values) - len(values) // 10)
    gaps = np.diff(values)[low - 1 : high - 1]
    near = np.flatnonzero(gaps >= 0.95 * gaps.max()) + low
    return int(near[np.argmin(np.abs(near - len(values) / 2))])


def _span_deg(parts: list) -> float:
    """The larger side (degrees) of the bounding box of ``parts``."""
    west, south, east, north = shapely.total_bounds(parts)
    return max(east - west, north - south)


def year_windows(start: date, end: date) -> list[tuple[datetime, datetime]]:
    """The days ``start..end`` (inclusive) as half-open UTC intervals, split at each
    1 January (long searches go year by year)."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    windows = []
    while first < stop:
        boundary = min(stop, datetime(first.year + 1, 1, 1, tzinfo=UTC))
        windows.append((first, boundary))
        first = boundary
    return windows


def page_top(settings: Settings) -> int:
    """The ``$top`` a search asks for: the configured page size, at most the service's 1000."""
    return min(settings.page_size, MAX_PAGE)


def search_url(
    settings: Settings,
    polygon: shapely.Polygon,
    begin: datetime,
    end: datetime,
    top: int | None = None,
) -> str:
    """The first-page URL of the products of one interval [begin, end) over ``polygon``
    (``top`` products per page; default :func:`page_top`). ``begin`` and ``end`` are
    written to the second."""
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
        "$top": str(top or page_top(settings)),
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
    settings: Settings,
    polygons: list[shapely.Polygon],
    start: date,
    end: date,
    *,
    aoi: str | None = None,
) -> list[Product]:
    """Every catalogue product of the configured type over any of ``polygons`` (see
    :func:`search_polygons`) sensed in ``start..end`` (inclusive days), in sensing order,
    each Id (and each Name) once.

    Each polygon is searched one calendar year at a time; a window the catalogue cut at
    its paging limit (:func:`_search_window`) is searched again per month, then per day.
    ``aoi`` (the AOI file) is named in the error about a day that is still cut.

    Raises:
        CdseError: a page failed after the retries, or the catalogue's answer is not an
            OData product list.
        InputError: the catalogue cuts even a single day's search (the AOI is too large
            for it to page through).
    """
    found = _Found()
    for polygon in polygons:
        windows = year_windows(start, end)
        while windows:
            begin, stop = windows.pop(0)
            complete, received = _search_window(settings, polygon, begin, stop, found)
            if complete:
                continue
            smaller = split_window(begin, stop)
            if not smaller:
                raise _cut_day(settings, polygon, begin, received, aoi)
            log.info(
                "search %s was cut by the catalogue's paging limit after %d products (last "
                "page full, no next link, more products follow): searching it again in %d parts",
                _span(begin, stop),
                received,
                len(smaller),
            )
            windows[:0] = smaller
    return sorted(found.by_id.values(), key=lambda p: (p.start, p.id))


def _cut_day(
    settings: Settings, polygon: shapely.Polygon, day: datetime, received: int, aoi: str | None
) -> InputError:
    """The error about a single day whose search the catalogue still cuts."""
    west, south, east, north = polygon.bounds
    hint = (
        "Make the AOI smaller or split it into several datasets (is it meant to cover that "
        "much? An area across the antimeridian must be drawn as parts split at +-180 "
        "degrees) and check source.cdse.product_type"
    )
    if page_top(settings) < MAX_PAGE:
        hint += (
            f"; source.cdse.page_size is {settings.page_size}: the catalogue pages to a "
            "fixed $skip, so larger pages (up to 1000) reach further"
        )
    return InputError(
        aoi,
        f"the catalogue search for {day.date()} (UTC) alone is cut by the catalogue's paging "
        f"limit: it stopped after {received} products without a next link while that day "
        "holds more, so products of that day would be lost (search polygon lon "
        f"{west:.2f}..{east:.2f}, lat {south:.2f}..{north:.2f})",
        hint + ".",
    )


def _products(page: dict, settings: Settings) -> list[Product]:
    """The products of one OData page. Raises CdseError when it is not a product list."""
    try:
        return [Product.from_odata(item) for item in page["value"]]
    except (KeyError, TypeError, ValueError) as error:
        raise CdseError(
            f"the catalogue at {settings.catalogue_url} answered with something other "
            f"than an OData product list ({type(error).__name__}: {error}): is "
            "catalogue_url the OData root (.../odata/v1)?"
        ) from None


class _Found:
    """The products found so far, each Id and each Name once: windows and polygons meet at
    their edges, and a product listed under a second Id would be fetched twice (the first
    record found is kept)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Product] = {}
        self.names: set[str] = set()

    def add(self, product: Product) -> None:
        if product.id in self.by_id:
            return
        if product.name in self.names:
            log.debug("%s is listed under a second Id (%s): ignored", product.name, product.id)
            return
        self.by_id[product.id] = product
        self.names.add(product.name)


def _search_window(
    settings: Settings,
    polygon: shapely.Polygon,
    begin: datetime,
    stop: datetime,
    found: _Found,
) -> tuple[bool, int]:
    """Add the products of one window [begin, stop) to ``found``; return
    (False when the catalogue cut the window, the number of products received).

    The service pages only so deep and then leaves ``@odata.nextLink`` out, just as it
    does on the last page of a complete list (since 2024-11-12: no next link once its
    ``$skip`` would pass 10,000, CDSE release notes); it never says that a list was cut,
    and the limit is the service's to change (it had none before). So, whatever the limit
    is, a window whose last page came back full (as many products as ``$top`` asked, or
    as the first page held, should the server page smaller) without a next link is
    suspect, and one query past its last product (:func:`_more_after`) tells whether it
    was cut. That costs one query, only when the window's count is an exact multiple of
    the page size; a window ending on a short page is complete.
    """
    top = page_top(settings)
    url: str | None = search_url(settings, polygon, begin, stop)
    received: list[Product] = []
    pages = first_page = last_page = 0
    while url:
        page = _get_json(url, settings)
        products = _products(page, settings)
        for product in products:
            found.add(product)
        received += products
        pages += 1
        last_page = len(products)
        first_page = last_page if pages == 1 else first_page
        url = page.get("@odata.nextLink")
    log.info("search %s: %d products in %d pages", _span(begin, stop), len(received), pages)
    full = last_page > 0 and (last_page >= top or (pages > 1 and last_page >= first_page))
    if not full:
        return True, len(received)
    return not _more_after(settings, polygon, received, stop), len(received)


def _more_after(
    settings: Settings, polygon: shapely.Polygon, received: list[Product], stop: datetime
) -> bool:
    """Whether the catalogue holds products of the window ending at ``stop`` beyond those
    ``received`` (which ended on a full page without a next link).

    One query from the last received product's sensing start (to the second, as the filter
    writes it) to ``stop``, asking for one product more than were received from that
    instant on: any Id not received means the window was cut. Products sharing the last
    start (the NR and NT copies of one acquisition may) are counted, not skipped: ``ge``,
    not ``gt``. Its next links are followed only while it shows nothing new (a server
    paging smaller than asked).
    """
    since = max(p.start for p in received).replace(microsecond=0)
    seen = {p.id for p in received if p.start >= since}
    if len(seen) >= MAX_PAGE:  # cannot ask for one more in one page: assume the worst
        return True
    url: str | None = search_url(settings, polygon, since, stop, top=len(seen) + 1)
    more: list[Product] = []
    while url and not more:
        page = _get_json(url, settings)
        more = [p for p in _products(page, settings) if p.id not in seen]
        url = page.get("@odata.nextLink")
    log.info(
        "search up to %s ended on a full page without a next link; from %s on: %s",
        stop.isoformat(),
        since.isoformat(),
        "more products follow (cut)" if more else "nothing more (complete)",
    )
    return bool(more)


def product_by_id(settings: Settings, product_id: str) -> Product:
    """One catalogue record by its Id (``Products(<Id>)``, the bare entity).

    Raises:
        CdseError: refused (e.g. an Id the catalogue no longer has) or malformed.
    """
    page = _get_json(f"{settings.catalogue_url}/Products({product_id})", settings)
    try:
        return Product.from_odata(page)
    except (KeyError, TypeError, ValueError) as error:
        raise CdseError(
            f"the catalogue's record of product {product_id} is malformed "
            f"({type(error).__name__}: {error})"
        ) from None


def _get_json(url: str, settings: Settings) -> dict:
    """One catalogue page, retried on 429/5xx and connection problems."""

    def get() -> dict:
        with request(
            "GET", url, timeout=settings.timeout_s, trusted=settings.trusted_hosts
        ) as response:
            if response.status == 200:
                try:
                    return json.loads(response.read())
                except ValueError as error:
                    raise TransientError(f"unreadable JSON ({error})") from None
            problem = describe(response)
            if response.status in RETRY_STATUSES:
                raise TransientError(problem, retry_after_s(response))
            raise CdseError(f"catalogue search refused: {problem} (query {url[:300]})")

    return with_retries(get, settings, "catalogue search")


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
    baselines of one acquisition).

    Names must match :data:`eotrend.sentinel3.layout.PRODUCT_NAME`. Returns the kept products in
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
