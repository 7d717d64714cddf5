"""Catalogue searches past the service's paging limit, against the loopback service.

The fact (CDSE's API release notes, 2024-11-12,
https://documentation.dataspace.copernicus.eu/APIs/Others/ReleaseNotes.html): ``$skip`` may
not pass 10,000 (``$skip=10001`` is a 422) and ``@odata.nextLink`` is omitted when the next
``$skip`` would pass 10,000, so one query yields at most 10,000 + one page of products and
then ends as if complete. The limit was introduced then and may move again: the client
must not depend on its value, so most tests here give the loopback service a paging cap
of 4 and pages of 2 (at most 6 products per query). tests/support/fake_cdse.py pages
exactly so; its product lists (records without bytes) are the oracle.
"""

from __future__ import annotations

import json
import urllib.error
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.request import urlopen

import numpy as np
import pytest
import shapely
import yaml

from eotrend.core.config import load_dataset
from eotrend.core.errors import InputError
from eotrend.sources.cdse import catalogue
from eotrend.sources.cdse.catalogue import aoi_polygon, search, search_polygons, search_url
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.scenelist import read_entries
from eotrend.stages.download import run as download
from support.configs import base_dataset
from support.fake_cdse import FakeCdse, FakeProduct, bulk_products

LAKE = shapely.box(-61.0, -3.5, -60.8, -3.3)
OVER_LAKE = shapely.box(-63.0, -6.0, -58.0, -1.0)  # a footprint reaching the lake
ELSEWHERE = shapely.box(20.0, 40.0, 25.0, 45.0)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def record(name: str, start: datetime, footprint: shapely.Geometry, **fields) -> FakeProduct:
    """A catalogue record without bytes, sensed for 3 minutes from ``start``."""
    return FakeProduct(name, b"", start, start + timedelta(minutes=3), footprint, **fields)


@pytest.fixture
def fake():
    with FakeCdse("nobody", "unused") as server:
        yield server


def settings(fake: FakeCdse) -> Settings:
    """The client's settings for ``fake``, with the default page size (1000)."""
    return Settings.from_config(fake.settings())


def first_pages(fake: FakeCdse) -> list[tuple[date, date]]:
    """The windows searched (their first pages), as inclusive (first, last) days. Windows
    start at midnight; the queries past a window's full last page (:func:`probes`) start
    at a product's sensing start, never at midnight in these tests."""
    return [
        (s.ge.date(), (s.lt - timedelta(days=1)).date())
        for s in fake.searches()
        if s.skip == 0 and s.ge == s.ge.replace(hour=0, minute=0, second=0, microsecond=0)
    ]


def probes(fake: FakeCdse) -> list[datetime]:
    """The starts of the queries past a window's full last page (see :func:`first_pages`)."""
    return [
        s.ge
        for s in fake.searches()
        if s.skip == 0 and s.ge != s.ge.replace(hour=0, minute=0, second=0, microsecond=0)
    ]


def test_fake_pages_like_the_service(fake):
    """The fake's protocol itself: nextLinks up to $skip 10,000 and no further (the last
    full page ends without one), $skip 10,001 refused with the documented 422 body."""
    fake.add(*bulk_products(11_500, utc(2020, 6, 1), utc(2020, 7, 1), OVER_LAKE))
    url = search_url(settings(fake), LAKE, utc(2020, 1, 1), utc(2021, 1, 1))
    first = url
    served = 0
    while url:
        with urlopen(url) as response:
            page = json.load(response)
        served += len(page["value"])
        url = page.get("@odata.nextLink")
    assert [s.skip for s in fake.searches()] == list(range(0, 10_001, 1000))
    assert served == 11_000  # of 11,500, then silence
    with pytest.raises(urllib.error.HTTPError) as refused:
        urlopen(first + "&%24skip=10001")
    assert refused.value.code == 422
    assert json.load(refused.value)["detail"][0]["msg"] == (
        "Input should be less than or equal to 10000"
    )


@pytest.mark.slow  # about 6 s: not in make test-quick
def test_year_over_the_limit_is_split_and_complete(fake):
    """A year with 11,515 products over the AOI (more than one query can page through) is
    searched again by month, and its June (11,500) by day: every product exactly once,
    including those on the window boundaries; no request past $skip 10,000. Both cut
    windows ended on a full page without a next link (the service's only sign) and one
    query past their last product found more; the months and days ended on short pages
    and cost no such query."""
    june = bulk_products(11_500, utc(2020, 6, 1), utc(2020, 7, 1), OVER_LAKE)
    monthly = [
        record(f"S3B_OL_2_WFR____month{m}.SEN3", utc(2020, m, 15), OVER_LAKE)
        for m in range(1, 13)
        if m != 6
    ]
    edges = [  # at the instants where windows meet: each in exactly one window
        record(f"S3B_OL_2_WFR____edge{i}.SEN3", t, OVER_LAKE)
        for i, t in enumerate(
            [utc(2020, 1, 1), utc(2020, 7, 1), utc(2020, 6, 30, 23, 59, 59), utc(2020, 12, 31, 23)]
        )
    ]
    outside = [
        record("S3B_OL_2_WFR____far.SEN3", utc(2020, 6, 3), ELSEWHERE),
        record("S3B_OL_2_WFR____2021.SEN3", utc(2021, 1, 1), OVER_LAKE),
    ]
    fake.add(*june, *monthly, *edges, *outside)
    found = search(settings(fake), [LAKE], date(2020, 1, 1), date(2020, 12, 31))
    expected = sorted(p.id for p in [*june, *monthly, *edges])
    assert len(expected) == 11_515
    assert sorted(p.id for p in found) == expected
    assert len({p.id for p in found}) == len(found)
    searches = fake.searches()
    assert max(s.skip for s in searches) == 10_000 and all(s.status == 200 for s in searches)
    assert [t.date() for t in probes(fake)] == [date(2020, 6, 29), date(2020, 6, 29)]
    windows = first_pages(fake)
    months = [(date(2020, m, 1), date(2020, m + 1, 1) - timedelta(days=1)) for m in range(1, 12)]
    days = [(date(2020, 6, d), date(2020, 6, d)) for d in range(1, 31)]
    assert windows == [
        (date(2020, 1, 1), date(2020, 12, 31)),
        *months[:5],
        (date(2020, 6, 1), date(2020, 6, 30)),
        *days,
        *months[6:],
        (date(2020, 12, 1), date(2020, 12, 31)),
    ]


def test_a_day_over_the_limit_is_an_error_naming_it(fake):
    """11,001 products on one day, past the real limit (at most 11,000 per query): even a
    one-day query is cut, so the search stops with an error naming that day and the AOI
    instead of returning 11,000 of them."""
    fake.add(*bulk_products(11_001, utc(2020, 6, 15), utc(2020, 6, 16), OVER_LAKE))
    with pytest.raises(InputError) as failure:
        search(settings(fake), [LAKE], date(2020, 6, 14), date(2020, 6, 16), aoi="lake.gpkg")
    message = str(failure.value)
    assert message.startswith("lake.gpkg: the catalogue search for 2020-06-15 (UTC) alone")
    assert "stopped after 11000 products without a next link" in message
    assert "Make the AOI smaller" in message and "source.cdse.product_type" in message
    assert "page_size" not in message  # already the largest
    assert first_pages(fake) == [
        (date(2020, 6, 14), date(2020, 6, 16)),
        (date(2020, 6, 14), date(2020, 6, 14)),
        (date(2020, 6, 15), date(2020, 6, 15)),
    ]


@pytest.mark.parametrize(("count", "extra"), [(10_000, 1), (10_500, 0), (11_000, 1)])
def test_windows_within_the_limit_are_not_split(fake, count, extra):
    """The real limit: 10,500 products (an 11th, short page) are complete in one query.
    10,000 (no next link after the 10th, full page) and 11,000 (the 11th page full, the
    most one query reaches) end as a cut would: one query past the last product finds
    nothing more, so the window is not searched again."""
    fake.add(*bulk_products(count, utc(2020, 6, 1), utc(2020, 7, 1), OVER_LAKE))
    found = search(settings(fake), [LAKE], date(2020, 6, 1), date(2020, 6, 30))
    assert sorted(p.id for p in found) == sorted(fake.products)
    assert len(first_pages(fake)) == 1
    assert len(probes(fake)) == extra


# --- a catalogue that stops paging early (cap 4, pages of 2) ------------------------------

CAP = 4  # the largest $skip: with pages of 2 one query reaches 6 products


def june(counts: dict[int, int]) -> list[FakeProduct]:
    """``counts[day]`` records on each June 2020 day over the lake (10:00, 12:00, ...)."""
    return [
        record(f"S3A_OL_2_WFR____d{day:02d}n{i}.SEN3", utc(2020, 6, day, 10 + 2 * i), OVER_LAKE)
        for day, count in counts.items()
        for i in range(count)
    ]


def small_settings(fake: FakeCdse, page_size: int = 2) -> Settings:
    return Settings.from_config(fake.settings(page_size=page_size))


def assert_within_cap(fake: FakeCdse) -> None:
    """No request past the cap: every search answered 200."""
    searches = fake.searches()
    assert max(s.skip for s in searches) <= CAP and all(s.status == 200 for s in searches)


@pytest.mark.parametrize("server_pages", [None, 2], ids=["top=2", "server pages of 2"])
def test_fake_stops_paging_at_a_small_cap_like_the_service(server_pages):
    """Both documented behaviours at the paging limit (release notes, 2024-11-12), with a
    cap of 4: next links up to $skip 4 and none past it, though products remain (6 of 8
    served, the last page full); a $skip past the cap asked directly is refused with the
    documented 422 body (its bound being the cap); $skip 4 itself is served."""
    with FakeCdse("nobody", "unused", max_skip=CAP, page_size=server_pages) as fake:
        fake.add(*june({1: 2, 2: 2, 3: 2, 4: 2}))
        top = 2 if server_pages is None else 1000
        url = first = search_url(small_settings(fake, top), LAKE, utc(2020, 6, 1), utc(2020, 7, 1))
        pages = []
        while url:
            with urlopen(url) as response:
                page = json.load(response)
            pages.append(len(page["value"]))
            url = page.get("@odata.nextLink")
        assert [s.skip for s in fake.searches()] == [0, 2, 4] and pages == [2, 2, 2]
        with urlopen(first + "&%24skip=4") as response:
            assert len(json.load(response)["value"]) == 2
        with pytest.raises(urllib.error.HTTPError) as refused:
            urlopen(first + "&%24skip=5")
    assert refused.value.code == 422
    (detail,) = json.load(refused.value)["detail"]
    assert detail["loc"] == ["query", "$skip"] and detail["ctx"] == {"le": CAP}


@pytest.mark.parametrize("server_pages", [None, 2], ids=["top=2", "server pages of 2"])
def test_every_product_found_once_whatever_the_cap(server_pages):
    """The service ends a cut list exactly as a complete one: its last page without a
    next link (release notes, 2024-11-12), at a limit it has moved before. Against a cap
    of 4 with pages of 2 the first query sees 6 of 8 products and stops on a full page;
    the client asks past the last one, finds more, searches day by day and returns all 8,
    each once, never asking for a $skip past the cap. Pages of 2 either as asked ($top=2)
    or imposed by the server while $top asks 1000 (OData lets a server page smaller than
    asked: the first page's size then tells a full page)."""
    records = june({1: 2, 2: 2, 3: 2, 4: 2})
    top = 2 if server_pages is None else 1000
    with FakeCdse("nobody", "unused", max_skip=CAP, page_size=server_pages) as fake:
        fake.add(*records)
        found = search(small_settings(fake, top), [LAKE], date(2020, 6, 1), date(2020, 6, 4))
    ids = [p.id for p in found]
    assert sorted(ids) == sorted(r.id for r in records)
    assert len(set(ids)) == len(ids) == 8 and len({p.name for p in found}) == 8
    assert [p.start for p in found] == sorted(r.start for r in records)
    assert_within_cap(fake)
    days = [(date(2020, 6, d), date(2020, 6, d)) for d in range(1, 5)]
    assert first_pages(fake) == [(date(2020, 6, 1), date(2020, 6, 4)), *days]


def test_a_product_sharing_the_last_served_start_is_not_lost():
    """The service orders by sensing start, ties by Id, and the copies of one acquisition
    (NR, NT) may share their sensing start. The one product the cap withholds here starts
    exactly when the last one served does: a query from after that start would see
    nothing more; the client's query from that start, asking for one more than it holds
    from that instant, sees it, and the window is searched again by day."""
    records = june({1: 2, 2: 2, 3: 1})
    tie = utc(2020, 6, 3, 15)
    twins = [
        record(f"S3A_OL_2_WFR____20200603T150000_{kind}.SEN3", tie, OVER_LAKE)
        for kind in ("NR", "NT")
    ]
    with FakeCdse("nobody", "unused", max_skip=CAP) as fake:
        fake.add(*records, *twins)
        found = search(small_settings(fake), [LAKE], date(2020, 6, 1), date(2020, 6, 3))
    assert sorted(p.id for p in found) == sorted(r.id for r in [*records, *twins])
    assert_within_cap(fake)
    assert len(first_pages(fake)) > 1  # the window was searched again


def test_a_day_past_the_cap_is_an_error_naming_the_day_and_the_aoi():
    """One query reaches 6 products under a cap of 4 with pages of 2; 2 June holds 7, so
    even its one-day query ends on a full page without a next link while more follow.
    The search stops with an error naming that day and the AOI file, instead of returning
    6 of its 7. The hint mentions the page size: the service stops at a fixed $skip, so
    one query reaches the cap plus one page."""
    with FakeCdse("nobody", "unused", max_skip=CAP) as fake:
        fake.add(*june({1: 1, 2: 7, 3: 1}))
        with pytest.raises(InputError) as failure:
            search(
                small_settings(fake), [LAKE], date(2020, 6, 1), date(2020, 6, 3), aoi="lakes.gpkg"
            )
    message = str(failure.value)
    assert message.startswith("lakes.gpkg: the catalogue search for 2020-06-02 (UTC) alone")
    assert "stopped after 6 products without a next link" in message
    assert "Make the AOI smaller" in message and "page_size is 2" in message
    assert_within_cap(fake)


@pytest.mark.parametrize(
    ("count", "pages", "extra"),
    [(0, 1, 0), (1, 1, 0), (3, 2, 0), (5, 3, 0), (2, 1, 1), (4, 2, 1), (6, 3, 1)],
)
def test_only_a_full_last_page_costs_one_more_query(count, pages, extra):
    """The service leaves the next link out on a complete list's last page as on a cut
    one. A window ending on a short page (0, 1, 3, 5 products in pages of 2) is complete:
    no query beyond its pages. One whose count is an exact multiple of the page (2, 4,
    and 6, the most one query reaches under a cap of 4) costs exactly one more, which
    finds nothing and splits nothing (counted at the server)."""
    records = june({1: count})
    with FakeCdse("nobody", "unused", max_skip=CAP) as fake:
        fake.add(*records)
        found = search(small_settings(fake), [LAKE], date(2020, 6, 1), date(2020, 6, 1))
    assert sorted(p.id for p in found) == sorted(r.id for r in records)
    searches = fake.searches()
    assert len(searches) == pages + extra
    assert [s.skip for s in searches if s.skip > 0] == list(range(2, 2 * pages, 2))
    assert len([s for s in searches if s.skip == 0]) == 1 + extra


def test_one_name_under_two_ids_is_returned_once(fake):
    """Products reach the cache by name (``<Name>.SEN3``), so should the catalogue list
    one name under two Ids, the search returns it once (the first record); an Id seen
    twice (an AOI searched as two polygons) is likewise returned once."""
    first = record("S3A_OL_2_WFR____twin.SEN3", utc(2020, 6, 1, 10), OVER_LAKE)
    second = FakeProduct(
        first.name, b"", first.start, first.stop, OVER_LAKE, id=str(uuid.UUID(int=0))
    )
    fake.add(first, second)
    found = search(settings(fake), [LAKE, LAKE], date(2020, 6, 1), date(2020, 6, 1))
    assert [p.name for p in found] == ["S3A_OL_2_WFR____twin"]
    assert found[0].id == min(first.id, second.id)  # served first (ties by Id)


def offline_records(footprints: dict[str, shapely.Geometry]) -> dict[str, FakeProduct]:
    """One offline product (nothing to download) per footprint, a minute apart on
    2020-06-01, keyed as ``footprints``."""
    t = utc(2020, 6, 1, 10)
    return {
        key: record(
            f"S3A_OL_2_WFR____20200601T10{i:02d}00_20200601T10{i + 3:02d}00_20200601T120000_"
            f"0179_051_124_{3000 + i:04d}_MAR_O_NT_003.SEN3",
            t + timedelta(minutes=i),
            footprint,
            online=False,
        )
        for i, (key, footprint) in enumerate(footprints.items())
    }


def download_offline(
    folder: Path, fake: FakeCdse, name: str, features: dict[str, shapely.Geometry]
) -> Path:
    """The download stage of a June 2020 dataset ``name`` over ``features`` (name ->
    geometry, written as a GeoJSON AOI) against ``fake``, whose products are all offline:
    it ends saying no scene is usable, the manifest written first. Returns the manifest."""
    aoi = folder / f"{name}.geojson"
    rows = [
        {"type": "Feature", "properties": {"name": n}, "geometry": shapely.geometry.mapping(g)}
        for n, g in features.items()
    ]
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": rows}))
    dataset = base_dataset(
        "sentinel3_cdse",
        aoi=str(aoi),
        start="2020-06-01",
        end="2020-06-30",
        source={"cache": str(folder / "cache"), "cdse": fake.settings()},
    )
    (folder / "config.yaml").write_text(yaml.safe_dump({"datasets": {name: dataset}}))
    manifest = folder / "manifest.csv"
    settings = load_dataset(folder / "config.yaml", name)
    with pytest.raises(InputError, match=r"no usable scene of 2020-06-01\.\.2020-06-30"):
        download(dataset=name, settings=settings, manifest=str(manifest))
    return manifest


# --- AOIs split at the antimeridian ----------------------------------------------------

FIJI_EAST = shapely.box(178.0, -18.0, 180.0, -16.0)
FIJI_WEST = shapely.box(-180.0, -18.0, -178.5, -16.0)


def test_antimeridian_aoi_gives_one_search_polygon_per_side():
    """The hull of both sides would span lon -180..180 (a band around the globe); one
    polygon per side each covers its part and spans 2 degrees."""
    aoi = shapely.MultiPolygon([FIJI_EAST, FIJI_WEST])
    assert aoi_polygon([aoi]).covers(shapely.box(-170, -17.5, 170, -16.5))  # the band
    west, east = search_polygons([aoi])
    assert west.covers(FIJI_WEST) and east.covers(FIJI_EAST)
    assert west.bounds[2] - west.bounds[0] < 2 and east.bounds[2] - east.bounds[0] < 3
    (one,) = search_polygons([LAKE, shapely.box(-50, -5, -49, -4)])  # no split
    assert one.covers(LAKE)


def test_antimeridian_aoi_is_searched_per_side(tmp_path, fake):
    """The download stage with an AOI split at 180 degrees (one MultiPolygon feature): the
    server receives one polygon per side, never a globe band, and the manifest lists the
    union of both searches, each product once (offline products: no download needed)."""
    east_only = shapely.box(176.0, -20.0, 179.5, -15.0)
    west_only = shapely.box(-179.8, -20.0, -177.0, -15.0)
    both = shapely.MultiPolygon(
        [shapely.box(179.0, -19.0, 180.0, -15.0), shapely.box(-180.0, -19.0, -179.0, -15.0)]
    )
    band = shapely.box(10.0, -18.0, 15.0, -16.0)  # same latitudes, far away
    records = offline_records({"east": east_only, "west": west_only, "both": both, "band": band})
    fake.add(*records.values())
    fiji = {"fiji": shapely.MultiPolygon([FIJI_EAST, FIJI_WEST])}
    manifest = download_offline(tmp_path, fake, "fiji", fiji)
    entries = read_entries(manifest)
    expected = {records[k].name.removesuffix(".SEN3") for k in ("east", "west", "both")}
    assert sorted(e.name for e in entries) == sorted(expected)
    assert all(e.status == "skipped" and "Online=false" in e.reason for e in entries)
    areas = [s.area for s in fake.searches()]
    assert len(areas) == 2
    assert all(a.bounds[2] - a.bounds[0] < 3 for a in areas)  # no band around the globe
    assert areas[0].covers(FIJI_WEST) and areas[1].covers(FIJI_EAST)


# --- AOIs of many lakes -----------------------------------------------------------------


def scattered_lakes(count: int, centres: list[tuple[float, float]], seed: int = 5) -> list:
    """``count`` lakes of ~2 km (0.02 deg squares) spread around ``centres`` (lon, lat),
    +-4 deg, deterministic."""
    rng = np.random.default_rng(seed)
    lakes = []
    for k in range(count):
        lon, lat = centres[k % len(centres)]
        x, y = lon + rng.uniform(-4, 4), lat + rng.uniform(-4, 4)
        lakes.append(shapely.box(x, y, x + 0.02, y + 0.02))
    return lakes


def test_thousands_of_lakes_are_searched_as_a_few_polygons_that_cover_them():
    """3,000 lakes in three clusters over Europe, Africa and South America: a few
    search polygons, each within the service's URL budget (the WKT travels in the URL:
    at most MAX_WKT_CHARS characters), every lake covered by one (shapely, lake by lake),
    no polygon spanning the ocean between two clusters (each within about one OLCI
    frame of 12 degrees, the clusters being 8 degrees wide), the same polygons on a
    second call."""
    lakes = scattered_lakes(3000, [(10.0, 48.0), (25.0, -5.0), (-60.0, -10.0)])
    polygons = search_polygons(lakes)
    assert 3 <= len(polygons) <= catalogue.MAX_SEARCH_POLYGONS
    assert all(
        len(shapely.to_wkt(p, rounding_precision=5)) <= catalogue.MAX_WKT_CHARS for p in polygons
    )
    for lake in lakes:
        assert any(p.covers(lake) for p in polygons)
    for polygon in polygons:
        west, south, east, north = polygon.bounds
        assert max(east - west, north - south) <= 12.5, polygon.bounds
    assert [p.wkt for p in search_polygons(lakes)] == [p.wkt for p in polygons]


def test_the_manifest_names_the_lakes_each_product_reaches(tmp_path, fake):
    """A catalogue of five products over 60 lakes in two clusters: the search polygons
    leave out the gap between the clusters (the product there is never returned); the
    manifest lists each returned product once, with the lakes its footprint reaches
    (oracle: shapely intersects, lake by lake), a product over no lake skipped as
    reaching no feature. Offline products: nothing to download."""
    lakes = scattered_lakes(60, [(10.0, 48.0), (25.0, -5.0)], seed=9)
    names = [f"lake{k:03d}" for k in range(len(lakes))]
    footprints = {
        "north": shapely.box(5.0, 44.0, 12.0, 53.0),
        "south": shapely.box(20.0, -10.0, 30.0, -2.0),
        "both": shapely.box(0.0, -10.0, 30.0, 53.0),
        "between": shapely.box(14.5, 20.0, 18.0, 25.0),
        "edge": shapely.box(13.0, 51.0, 16.0, 54.0),
    }
    records = offline_records(footprints)
    fake.add(*records.values())
    manifest = download_offline(tmp_path, fake, "lakes", dict(zip(names, lakes, strict=True)))
    entries = {e.name: e for e in read_entries(manifest)}
    # The product between the clusters lies outside every search polygon: never returned.
    assert not any(s.area.intersects(footprints["between"]) for s in fake.searches())
    assert (
        len(fake.searches()) >= 2 and records["between"].name.removesuffix(".SEN3") not in entries
    )
    assert len(entries) == len(records) - 1
    for key, footprint in footprints.items():
        if key == "between":
            continue
        entry = entries[records[key].name.removesuffix(".SEN3")]
        reached = [n for n, g in zip(names, lakes, strict=True) if footprint.intersects(g)]
        assert (entry.features.split(";") if entry.features else []) == reached, key
        if reached:
            assert "Online=false" in entry.reason, key
        else:
            assert entry.reason == "catalogue footprint does not reach the AOI", key
