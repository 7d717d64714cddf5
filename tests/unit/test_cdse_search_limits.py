"""Catalogue searches past the service's paging limit, against the loopback service.

The fact (CDSE's API release notes, 2024-11-12,
https://documentation.dataspace.copernicus.eu/APIs/Others/ReleaseNotes.html): ``$skip`` may
not pass 10,000 (``$skip=10001`` is a 422) and ``@odata.nextLink`` is omitted when the next
``$skip`` would pass 10,000, so one query yields at most 10,000 + one page of products and
then ends as if complete. tests/support/fake_cdse.py pages exactly so; its product lists (records
without bytes, :func:`fake_cdse.bulk_products`) are the oracle.
"""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, date, datetime, timedelta
from urllib.request import urlopen

import pytest
import shapely
import yaml

from eotrend.core.config import load_dataset
from eotrend.core.errors import InputError
from eotrend.sources.cdse.catalogue import aoi_polygon, search, search_polygons, search_url
from eotrend.sources.cdse.settings import CdseError, Settings
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
    """The windows searched (first pages only), as inclusive (first, last) days."""
    return [
        (s.ge.date(), (s.lt - timedelta(days=1)).date()) for s in fake.searches() if s.skip == 0
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
    including those on the window boundaries; no request past $skip 10,000."""
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
    """11,001 products on one day: even a one-day query is cut, so the search stops with
    an error naming that day instead of returning 11,000 of them."""
    fake.add(*bulk_products(11_001, utc(2020, 6, 15), utc(2020, 6, 16), OVER_LAKE))
    with pytest.raises(CdseError) as failure:
        search(settings(fake), [LAKE], date(2020, 6, 14), date(2020, 6, 16))
    message = str(failure.value)
    assert "catalogue search for 2020-06-15 (UTC) alone reaches" in message
    assert "paging limit (10,000 results per query)" in message
    assert "make the AOI smaller" in message and "source.cdse.product_type" in message
    assert first_pages(fake) == [
        (date(2020, 6, 14), date(2020, 6, 16)),
        (date(2020, 6, 14), date(2020, 6, 14)),
        (date(2020, 6, 15), date(2020, 6, 15)),
    ]


@pytest.mark.parametrize(("count", "parts"), [(10_000, 0), (10_500, 0), (11_000, 30)])
def test_windows_within_the_limit_are_not_split(fake, count, parts):
    """10,000 products (no next link after the 10th page) and 10,500 (an 11th, short
    page) are complete in one query. 11,000 fill the 11th page exactly: the service's
    silence cannot be told from a cut, so the window is searched again by day (a few
    more queries; nothing lost)."""
    fake.add(*bulk_products(count, utc(2020, 6, 1), utc(2020, 7, 1), OVER_LAKE))
    found = search(settings(fake), [LAKE], date(2020, 6, 1), date(2020, 6, 30))
    assert sorted(p.id for p in found) == sorted(fake.products)
    assert len(first_pages(fake)) == 1 + parts


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
    t = utc(2020, 6, 1, 10)
    records = {
        key: record(
            f"S3A_OL_2_WFR____20200601T10{i:02d}00_20200601T10{i + 3:02d}00_20200601T120000_"
            f"0179_051_124_{3000 + i:04d}_MAR_O_NT_003.SEN3",
            t + timedelta(minutes=i),
            footprint,
            online=False,
        )
        for i, (key, footprint) in enumerate(
            {"east": east_only, "west": west_only, "both": both, "band": band}.items()
        )
    }
    fake.add(*records.values())
    aoi = tmp_path / "fiji.geojson"
    feature = {"type": "Feature", "properties": {"name": "fiji"}}
    geometry = shapely.geometry.mapping(shapely.MultiPolygon([FIJI_EAST, FIJI_WEST]))
    aoi.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature | {"geometry": geometry}]})
    )
    fiji = base_dataset(
        "sentinel3_cdse",
        aoi=str(aoi),
        start="2020-06-01",
        end="2020-06-30",
        source={"cache": str(tmp_path / "cache"), "cdse": fake.settings()},
    )
    config = {"datasets": {"fiji": fiji}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    manifest = tmp_path / "manifest.csv"
    settings = load_dataset(tmp_path / "config.yaml", "fiji")
    # Offline products only: nothing usable, said at the checkpoint (manifest written first).
    with pytest.raises(InputError, match=r"no usable scene of 2020-06-01\.\.2020-06-30"):
        download(dataset="fiji", settings=settings, manifest=str(manifest))
    entries = read_entries(manifest)
    expected = {records[k].name.removesuffix(".SEN3") for k in ("east", "west", "both")}
    assert sorted(e.name for e in entries) == sorted(expected)
    assert all(e.status == "skipped" and "Online=false" in e.reason for e in entries)
    areas = [s.area for s in fake.searches()]
    assert len(areas) == 2
    assert all(a.bounds[2] - a.bounds[0] < 3 for a in areas)  # no band around the globe
    assert areas[0].covers(FIJI_WEST) and areas[1].covers(FIJI_EAST)
