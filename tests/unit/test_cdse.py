"""The CDSE client against the loopback service (tests/support/fake_cdse.py), one fault at a time.

Every test that talks to the service ends with two checks (in the ``fake`` fixture): no
credential or token appears in any file under the test's folder or in any log record, and
everything under the cache's final names is a complete product that matches its own
manifest (partial data lives only in ``.partial``).
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import io
import itertools
import logging
import os
import pickle
import re
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import shapely

from eotrend.core.credentials import Credentials, CredentialsError, find_credentials, machine_names
from eotrend.core.errors import InputError
from eotrend.sources.cdse.cache import PARTIAL, ProductError, check_product
from eotrend.sources.cdse.catalogue import Product, aoi_polygon, search, select, year_windows
from eotrend.sources.cdse.http import keeps_authorization
from eotrend.sources.cdse.settings import CdseError, Settings
from eotrend.sources.cdse.tokens import TokenManager, TokenService
from eotrend.sources.collect import DownloadError
from eotrend.sources.local import local_products
from eotrend.synthetic.spec import SceneSpec
from support.cdse import (
    PASSWORD,
    USERNAME,
    assert_cache_sound,
    checked_fake,
    dataset,
    run,
    stem,
    table,
)
from support.fake_cdse import FakeCdse, FakeProduct, Fault, products_from_specs
from support.scenes import write_polygons

LAKE = (-60.9, -3.4)


def spec(when: datetime, lon: float = LAKE[0], lat: float = LAKE[1], **fields) -> SceneSpec:
    return SceneSpec(lon, lat, when, rows=120, columns=129, cloud_fraction=0.0, **fields)


def day(year: int, month: int, d: int) -> datetime:
    return datetime(year, month, d, 13, 50, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict[str, FakeProduct]:
    """Small synthetic products: a series over the lake (2020-2021), one far away, one
    before the period, and four copies (NR, ST, NT 002, NT 003) of one acquisition."""
    folder = tmp_path_factory.mktemp("catalogue")
    specs = {
        "mar": spec(day(2020, 3, 1)),
        "jun": spec(day(2020, 6, 1), mission="S3B"),
        "sep": spec(day(2020, 9, 1)),
        "feb21": spec(day(2021, 2, 1)),
        "far": spec(day(2020, 7, 1), 20.0, 45.0),
        "early": spec(day(2019, 6, 1)),
        "nr": spec(day(2020, 4, 15), timeliness="NR"),
        "st": spec(day(2020, 4, 15), timeliness="ST"),
        "nt002": spec(day(2020, 4, 15), baseline="002"),
        "nt": spec(day(2020, 4, 15)),
    }
    made = products_from_specs(folder, specs.values(), files={"wqsf.nc", "Oa08_reflectance.nc"})
    return dict(zip(specs, made, strict=True))


@pytest.fixture(scope="module")
def aoi(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("aoi")
    ring = [(-61.0, -3.5), (-60.8, -3.5), (-60.8, -3.3), (-61.0, -3.3)]
    return write_polygons(folder / "aoi.geojson", [[ring]], ["lake"])


@pytest.fixture
def fake(tmp_path, caplog, monkeypatch):
    """The loopback service with one account, credentials in the environment; afterwards
    no secret anywhere and a sound cache."""
    with checked_fake(tmp_path, caplog, monkeypatch) as server:
        yield server


def serve(fake: FakeCdse, catalogue: dict, *keys: str, **changes) -> list[FakeProduct]:
    """Add products (copies, optionally changed) to the fake; returns them."""
    products = [dataclasses.replace(catalogue[k], **changes) for k in keys]
    fake.add(*products)
    return products


# --- search ----------------------------------------------------------------------------


def test_year_windows_split_at_new_year():
    windows = year_windows(date(2019, 12, 30), date(2021, 1, 2))
    assert [(a.date().isoformat(), b.date().isoformat()) for a, b in windows] == [
        ("2019-12-30", "2020-01-01"),
        ("2020-01-01", "2021-01-01"),
        ("2021-01-01", "2021-01-03"),
    ]


def test_long_aoi_is_simplified_and_still_covers_it():
    circle = shapely.Point(-60.9, -3.4).buffer(0.2, quad_segs=1000)  # 4000 vertices
    polygon = aoi_polygon([circle], max_chars=1500)
    assert len(shapely.to_wkt(polygon, rounding_precision=5, trim=True)) <= 1500
    assert polygon.covers(circle)
    parts = [shapely.box(0, 0, 1, 1), shapely.box(3, 0, 4, 1)]
    hull = aoi_polygon(parts)  # separate parts: one polygon around both
    assert all(hull.covers(p) for p in parts) and hull.geom_type == "Polygon"


def test_search_filters_pages_and_follows_next_links(fake, catalogue, aoi):
    lfr = dataclasses.replace(
        catalogue["sep"], name=catalogue["sep"].name.replace("WFR", "LFR"), id=""
    )
    fake.add(*catalogue.values(), lfr)
    settings = Settings.from_config(fake.settings(page_size=2))
    polygon = aoi_polygon([shapely.box(-61.0, -3.5, -60.8, -3.3)])
    found = search(settings, [polygon], date(2020, 1, 1), date(2021, 12, 31))
    expected = ["mar", "nr", "st", "nt002", "nt", "jun", "sep", "feb21"]
    assert sorted(p.id for p in found) == sorted(catalogue[k].id for k in expected)
    assert [p.start for p in found] == sorted(p.start for p in found)
    sep = next(p for p in found if p.id == catalogue["sep"].id)
    assert sep.md5 == hashlib.md5(catalogue["sep"].data).hexdigest()
    assert sep.size == len(catalogue["sep"].data) and sep.footprint.intersects(polygon)
    queries = [r.query for r in fake.requests if r.path == "/odata/v1/Products"]
    # 2020: 7 products, 4 pages; 2021: 1 page. Later pages are the server's nextLinks,
    # re-encoded (%24, +) and followed verbatim.
    assert len(queries) == 5
    assert sum("%24skip=" in q and "+" in q for q in queries) == 3
    assert all("%24top=2" in q and "%24orderby=ContentDate" in q for q in queries)


def test_search_retries_429_and_500(fake, catalogue):
    fake.add(catalogue["mar"])
    fake.fault_search(Fault(status=429, retry_after="0.2"), Fault(status=500))
    settings = Settings.from_config(fake.settings())
    polygon = aoi_polygon([shapely.box(-61.0, -3.5, -60.8, -3.3)])
    found = search(settings, [polygon], date(2020, 1, 1), date(2020, 12, 31))
    assert [p.id for p in found] == [catalogue["mar"].id]
    times = [r.time for r in fake.requests if r.path == "/odata/v1/Products"]
    assert len(times) == 3 and times[1] - times[0] >= 0.18  # Retry-After honoured


def test_search_gives_up_with_a_clear_error(fake):
    fake.fault_search(*[Fault(status=503)] * 3)
    settings = Settings.from_config(fake.settings(retries=2))
    polygon = aoi_polygon([shapely.box(0, 0, 1, 1)])
    with pytest.raises(CdseError, match=r"catalogue search failed after 3 attempts: HTTP 503"):
        search(settings, [polygon], date(2020, 1, 1), date(2020, 1, 2))


def product(name_fields: str, start: datetime, minutes: float = 3.0) -> Product:
    """A catalogue record with a WFR name built from ``mission timeliness baseline created``."""
    mission, timeliness, baseline, created = name_fields.split()
    name = (
        f"{mission}_OL_2_WFR____{start:%Y%m%dT%H%M%S}_"
        f"{start + timedelta(minutes=minutes):%Y%m%dT%H%M%S}_{created}_0179_051_124_3060_MAR_O_"
        f"{timeliness}_{baseline}"
    )
    return Product(name, name, start, start + timedelta(minutes=minutes))


def test_one_product_per_sensing_period():
    t = day(2020, 4, 15)
    nr = product("S3A NR 003 20200415T160000", t)
    st = product("S3A ST 003 20200417T090000", t + timedelta(seconds=1))
    nt_old = product("S3A NT 002 20200510T000000", t)
    nt = product("S3A NT 003 20200505T000000", t)
    nt_reprocessed = product("S3A NT 003 20220101T000000", t)
    other_platform = product("S3B NR 003 20200415T160000", t)
    next_frame = product("S3A NR 003 20200415T160000", t + timedelta(minutes=3))
    kept, dropped = select([nr, st, nt_old, nt, nt_reprocessed, other_platform, next_frame])
    assert {p.name for p in kept} == {nt_reprocessed.name, other_platform.name, next_frame.name}
    assert set(dropped) == {nr.name, st.name, nt_old.name, nt.name}
    assert all(r.startswith(f"duplicate of {nt_reprocessed.name}") for r in dropped.values())
    assert "preference NT over ST over NR, then the newest baseline" in dropped[nr.name]


# --- download: the normal path ---------------------------------------------------------


def test_cdse_source_end_to_end(tmp_path, fake, catalogue, aoi, monkeypatch):
    """Search, dedupe, skip, download through the redirect with one login; a second run
    finds everything in the cache and needs neither downloads nor credentials."""
    fake.add(*catalogue.values())
    serve(fake, catalogue, "sep", online=False)
    cfg = dataset(tmp_path, fake, aoi)
    result = run(tmp_path, cfg)
    ok = ["mar", "jun", "nt", "feb21"]
    assert sorted(result.index[result.status == "ok"]) == sorted(stem(catalogue[k]) for k in ok)
    for key in ok:
        row, item = result.loc[stem(catalogue[key])], catalogue[key]
        assert row.source_id == item.id
        assert row.checksum == hashlib.md5(item.data).hexdigest()
        assert Path(row.path) == tmp_path / "cache" / item.name
    reasons = result.reason.to_dict()
    for key in ("nr", "st", "nt002"):
        assert reasons[stem(catalogue[key])].startswith(f"duplicate of {stem(catalogue['nt'])}")
    assert "Online=false" in reasons[stem(catalogue["sep"])]
    assert stem(catalogue["far"]) not in reasons and stem(catalogue["early"]) not in reasons
    downloads = [r for r in fake.requests if r.host == "download"]
    assert len(downloads) == 4 and all(r.status == 200 and r.authorized for r in downloads)
    redirects = [r for r in fake.requests if r.host == "catalogue" and r.status == 301]
    assert len(redirects) == 4
    assert fake.logins == 1
    # Second run: nothing fetched, no login, no credentials needed.
    monkeypatch.delenv("CDSE_USERNAME")
    monkeypatch.delenv("CDSE_PASSWORD")
    before = len(fake.requests)
    again = run(tmp_path, cfg)
    assert again.equals(result)
    assert not [r for r in fake.requests[before:] if "$value" in r.path or r.method == "POST"]


def test_direct_download_host_and_concurrency_cap(tmp_path, fake, catalogue, aoi):
    serve(fake, catalogue, "mar", "jun", "sep")
    cfg = dataset(tmp_path, fake, aoi, download_url=fake.download_url, max_concurrent=1)
    result = run(tmp_path, cfg)
    assert (result.status == "ok").all()
    assert fake.peak_streams == 1
    assert not [r for r in fake.requests if r.status == 301]


# --- faults ----------------------------------------------------------------------------


def downloaded(tmp_path: Path, item: FakeProduct) -> bool:
    """The product is in the cache, complete."""
    return check_product(tmp_path / "cache" / item.name, md5=True) is None


def test_expired_token_is_refreshed_not_logged_in_again(tmp_path, fake, catalogue, aoi):
    _, b = serve(fake, catalogue, "mar", "jun")
    fake.fault(b.name, Fault(expire_tokens=True))
    result = run(tmp_path, dataset(tmp_path, fake, aoi))
    assert (result.status == "ok").all()
    statuses = [r.status for r in fake.downloads(b.name)]
    assert statuses == [401, 200]
    assert fake.logins == 1 and fake.refreshes == 1


def test_token_expiring_during_a_back_off_is_renewed_before_the_retry(
    tmp_path, fake, catalogue, aoi
):
    """Access tokens expire (10 min, CDSE's Quotas page) while a download waits out a
    back-off (up to max_wait_s, 5 min by default): every retry takes a current token first, so no
    request carries an expired one and no 401 ends as "refused a fresh access token".
    Scaled down: tokens live 1 s, two 503s each ask for 1.3 s of patience."""
    fake.access_lifetime = 1.0
    (item,) = serve(fake, catalogue, "mar")
    fake.fault(
        item.name, Fault(status=503, retry_after="1.3"), Fault(status=503, retry_after="1.3")
    )
    result = run(tmp_path, dataset(tmp_path, fake, aoi, retries=3))
    assert result.loc[stem(item)].status == "ok" and downloaded(tmp_path, item)
    assert [r.status for r in fake.downloads(item.name)] == [503, 503, 200]  # never a 401
    assert (fake.logins, fake.refreshes) == (1, 2)  # one refresh before each retry


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_retry_after_is_honoured(tmp_path, fake, catalogue, aoi, form):
    (item,) = serve(fake, catalogue, "mar")

    # An HTTP date has whole seconds: 2 s ahead of the response (formatted when the server
    # answers, so a slow machine cannot shorten it) means a wait of more than 1 s.
    def value():
        return email.utils.formatdate(time.time() + 2, usegmt=True)

    if form == "seconds":
        value = "1"
    fake.fault(item.name, Fault(status=429, retry_after=value))
    run(tmp_path, dataset(tmp_path, fake, aoi))
    first, second = fake.downloads(item.name)
    assert first.status == 429 and second.status == 200
    assert second.time - first.time >= 0.95
    assert downloaded(tmp_path, item)


def test_429_without_retry_after_and_5xx_back_off(tmp_path, fake, catalogue, aoi):
    (item,) = serve(fake, catalogue, "mar")
    fake.fault(item.name, Fault(status=429), Fault(status=500), Fault(status=503))
    run(tmp_path, dataset(tmp_path, fake, aoi, backoff_s=0.1, retries=3))
    requests = fake.downloads(item.name)
    assert [r.status for r in requests] == [429, 500, 503, 200]
    gaps = [b.time - a.time for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # doubling backoff
    assert downloaded(tmp_path, item)


def test_persistent_500_fails_the_product_and_the_run(tmp_path, fake, catalogue, aoi):
    good, bad = serve(fake, catalogue, "mar", "jun")
    fake.fault(bad.name, *[Fault(status=500)] * 3)
    with pytest.raises(DownloadError, match=r"1 of 2 products failed") as failure:
        run(tmp_path, dataset(tmp_path, fake, aoi, retries=2))
    assert "on_failure: skip" in str(failure.value)
    result = table(tmp_path / "manifest.csv")  # written before failing
    row = result.loc[stem(bad)]
    assert row.status == "failed" and row.path == ""
    assert row.reason.startswith("gave up after 3 attempts: HTTP 500")
    assert result.loc[stem(good)].status == "ok" and downloaded(tmp_path, good)
    assert not (tmp_path / "cache" / bad.name).exists()


def test_on_failure_skip_goes_on(tmp_path, fake, catalogue, aoi):
    good, bad = serve(fake, catalogue, "mar", "jun")
    fake.fault(bad.name, *[Fault(status=502)] * 2)
    result = run(tmp_path, dataset(tmp_path, fake, aoi, retries=1, on_failure="skip"))
    assert result.status.to_dict() == {stem(good): "ok", stem(bad): "failed"}


def test_dropped_connection_resumes_with_range(tmp_path, fake, catalogue, aoi):
    (item,) = serve(fake, catalogue, "mar")
    fake.fault(item.name, Fault(drop_after=30000), Fault(drop_after=20000))
    run(tmp_path, dataset(tmp_path, fake, aoi))
    requests = fake.downloads(item.name)
    assert [(r.status, r.range) for r in requests] == [
        (200, None),
        (206, "bytes=30000-"),
        (206, "bytes=50000-"),
    ]
    assert sum(r.sent for r in requests) == len(item.data)  # nothing fetched twice
    assert downloaded(tmp_path, item)


@pytest.mark.parametrize("listed", [True, False])
def test_complete_part_from_an_earlier_run_is_only_verified(tmp_path, fake, catalogue, aoi, listed):
    """With the catalogue's size the client sees the file is complete; without it (size
    0 = unknown) it asks for the rest and takes the 416 whose total matches as complete."""
    (item,) = serve(fake, catalogue, "mar", content_length=None if listed else 0)
    part = tmp_path / "cache" / PARTIAL / f"{stem(item)}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(item.data)
    run(tmp_path, dataset(tmp_path, fake, aoi))
    expected = [] if listed else [(416, f"bytes={len(item.data)}-")]
    assert [(r.status, r.range) for r in fake.downloads(item.name)] == expected
    assert downloaded(tmp_path, item) and not part.exists()


@pytest.mark.parametrize("answer", ["ignore_range", "wrong_range"])
def test_resume_restarts_unless_the_range_matches(tmp_path, fake, catalogue, aoi, answer):
    """A 200 to a Range request restarts the file; a 206 from the wrong offset is thrown
    away (never appended)."""
    (item,) = serve(fake, catalogue, "mar")
    fake.fault(item.name, Fault(drop_after=30000), Fault(**{answer: True}))
    run(tmp_path, dataset(tmp_path, fake, aoi))
    assert downloaded(tmp_path, item)
    statuses = [r.status for r in fake.downloads(item.name)]
    assert statuses == ([200, 200] if answer == "ignore_range" else [200, 206, 200])


def rezip(data: bytes, edit=None, when=(2020, 1, 1, 0, 0, 0)) -> bytes:
    """The zip ``data`` built again (stored, as the service serves it: CDSE's FAQ) with
    the members' timestamps set to ``when`` and ``edit(name, bytes) -> bytes`` applied to
    each member's content (CRCs computed afresh: the zip itself is sound)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            copy = zipfile.ZipInfo(info.filename, date_time=when)
            copy.external_attr = info.external_attr
            target.writestr(copy, edit(info.filename, content) if edit else content)
    return out.getvalue()


def test_catalogue_md5_of_another_zip_build_is_accepted_once(
    tmp_path, fake, catalogue, aoi, caplog
):
    """Whether the catalogue's MD5 describes the zip the service builds for a .SEN3 product
    is unverified: here it is the MD5 of the same files zipped at another
    time. The served zip's CRCs and its own xfdumanifest.xml MD5s (the real per-file MD5
    format, tests/data/real-manifests/) verify: installed with a warning, downloaded
    once (not once per retry)."""
    item = catalogue["mar"]
    other_build = hashlib.md5(rezip(item.data)).hexdigest()
    assert other_build != hashlib.md5(item.data).hexdigest()
    (item,) = serve(fake, catalogue, "mar", md5=other_build)
    result = run(tmp_path, dataset(tmp_path, fake, aoi, retries=3))
    assert result.loc[stem(item)].status == "ok" and downloaded(tmp_path, item)
    assert [r.status for r in fake.downloads(item.name)] == [200]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"MD5 mismatch (catalogue {other_build}" in m and "xfdumanifest.xml verify: accepted" in m
        for m in warnings
    )
    assert not list((tmp_path / "cache").rglob("*.part"))


@pytest.mark.parametrize("damage", ["tampered", "unlisted_md5"])
def test_catalogue_md5_mismatch_with_a_zip_failing_its_own_manifest_is_refused(
    tmp_path, fake, catalogue, aoi, damage
):
    """A zip that disagrees with the catalogue's MD5 and whose own manifest does not vouch
    for every file (one file changed under an intact CRC, or a listed file without its
    MD5) is refused. It is downloaded again once (the transfer may have damaged it); the
    same bytes again end the retries."""
    item = catalogue["mar"]
    target = f"{item.name}/wqsf.nc" if damage == "tampered" else f"{item.name}/xfdumanifest.xml"

    def edit(name: str, content: bytes) -> bytes:
        if name != target:
            return content
        if damage == "tampered":  # same size, other bytes: its listed MD5 no longer matches
            return content[:-1] + bytes([content[-1] ^ 0xFF])
        return re.sub(rb"(href=\"./wqsf.nc\"/>\s*)<checksum[^<]*</checksum>", rb"\1", content)

    served = rezip(item.data, edit)
    (item,) = serve(fake, catalogue, "mar", data=served, md5=hashlib.md5(item.data).hexdigest())
    result = run(tmp_path, dataset(tmp_path, fake, aoi, retries=3, on_failure="skip"))
    row = result.loc[stem(item)]
    assert row.status == "failed"
    assert "MD5 mismatch (catalogue" in row.reason
    problem = "does not match its MD5" if damage == "tampered" else "has no MD5"
    assert f"wqsf.nc {problem} in xfdumanifest.xml" in row.reason
    assert "the service sent the same bytes twice" in row.reason
    assert len(fake.downloads(item.name)) == 2
    assert not (tmp_path / "cache" / item.name).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def corrupt(data: bytes) -> bytes:
    """Flip one byte in the middle of the biggest member's data (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    # Stored member: its data follows a 30-byte header, the name and the extra field.
    where = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 1000
    return data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1 :]


@pytest.mark.parametrize("listed", [True, False])
def test_corrupt_zip_fails(tmp_path, fake, catalogue, aoi, listed):
    """Damaged bytes whose MD5 the catalogue lists are the service's product: failed at
    once. Without a listed MD5 the transfer may be at fault: downloaded again first."""
    data = corrupt(catalogue["mar"].data)
    (item,) = serve(fake, catalogue, "mar", data=data, md5=None if listed else "")
    result = run(tmp_path, dataset(tmp_path, fake, aoi, retries=1, on_failure="skip"))
    row = result.loc[stem(item)]
    assert row.status == "failed" and "is not a valid zip (Bad CRC-32" in row.reason
    assert len(fake.downloads(item.name)) == (1 if listed else 2)
    assert not (tmp_path / "cache" / item.name).exists()


def with_member(data: bytes, name: str, content: bytes) -> bytes:
    """The zip ``data`` with one more (stored) member."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["../../evil.txt", "{name}/../../evil.txt", "/tmp/evil.txt"])
def test_zip_with_paths_outside_the_product_is_refused(tmp_path, fake, catalogue, aoi, member):
    item = catalogue["mar"]
    name = member.format(name=item.name)
    (item,) = serve(fake, catalogue, "mar", data=with_member(item.data, name, b"gotcha"))
    result = run(tmp_path, dataset(tmp_path, fake, aoi, on_failure="skip"))
    row = result.loc[stem(item)]
    assert row.status == "failed" and f"unsafe member path {name!r}" in row.reason
    assert len(fake.downloads(item.name)) == 1  # not worth downloading again
    assert not [p for p in tmp_path.rglob("evil.txt")]
    assert not Path("/tmp/evil.txt").exists()
    assert not (tmp_path / "cache" / item.name).exists()


def test_interrupted_run_resumes_without_refetching(tmp_path, fake, catalogue, aoi):
    """The service goes down after one product and half of the next; the rerun fetches
    neither the finished product nor the bytes already there."""
    first, second, third = serve(fake, catalogue, "mar", "jun", "sep")
    fake.down_after(1, partial=40000)
    cfg = dataset(tmp_path, fake, aoi, max_concurrent=1, retries=1)
    with pytest.raises(DownloadError, match="2 of 3 products failed"):
        run(tmp_path, cfg)
    assert downloaded(tmp_path, first)
    part = tmp_path / "cache" / PARTIAL / f"{stem(second)}.zip.part"
    assert part.stat().st_size == 40000
    fake.restore()
    before = len(fake.requests)
    result = run(tmp_path, cfg)
    assert (result.status == "ok").all()
    later = [r for r in fake.requests[before:] if r.host == "download"]
    assert [(r.path.split("(")[1][:36], r.range) for r in later] == [
        (second.id, "bytes=40000-"),
        (third.id, None),
    ]
    assert all(downloaded(tmp_path, p) for p in (first, second, third))
    assert not part.exists()


# --- credentials and tokens ------------------------------------------------------------


def test_wrong_password_names_where_it_came_from(tmp_path, fake, catalogue, aoi, monkeypatch):
    serve(fake, catalogue, "mar", "jun")
    monkeypatch.setenv("CDSE_PASSWORD", "not-the-password-x7")
    with pytest.raises(CredentialsError) as failure:
        run(tmp_path, dataset(tmp_path, fake, aoi))
    message = str(failure.value)
    assert "refused the username or password from environment variables" in message
    assert "CDSE_USERNAME/CDSE_PASSWORD" in message and "Invalid user credentials" in message
    assert "not-the-password-x7" not in message and USERNAME not in message
    assert not [r for r in fake.requests if r.host == "download"]


@pytest.mark.parametrize("mode", ["refuse_tokens", "forbid"])
def test_download_refusals_say_which_credential(tmp_path, fake, catalogue, aoi, mode):
    serve(fake, catalogue, "mar")
    setattr(fake, mode, True)
    with pytest.raises(CredentialsError) as failure:
        run(tmp_path, dataset(tmp_path, fake, aoi))
    message = str(failure.value)
    assert "environment variables CDSE_USERNAME/CDSE_PASSWORD" in message
    if mode == "refuse_tokens":
        assert "refused a fresh access token" in message and "DAT-ZIP-609" in message
        assert fake.logins == 1 and fake.refreshes == 1  # renewed once, then gave up
    else:
        assert "HTTP 403" in message and "quota" in message


def manager(fake: FakeCdse, password: str = PASSWORD) -> TokenManager:
    settings = Settings.from_config(fake.settings(retries=0))
    return TokenManager(Credentials(USERNAME, password, "test"), settings)


def test_token_refreshed_before_expiry_and_login_only_when_refresh_expired(tmp_path, fake):
    fake.access_lifetime, fake.refresh_lifetime = 1.0, 2.2
    tokens = manager(fake)
    first = tokens.token()
    assert tokens.token() == first and fake.logins == 1
    time.sleep(0.8)  # within the margin (a quarter of 1 s) of expiry: refreshed
    second = tokens.token()
    assert second != first and (fake.logins, fake.refreshes) == (1, 1)
    time.sleep(1.3)  # the refresh token (2.2 s, margin 0.55 s) has expired: login
    tokens.token()
    assert (fake.logins, fake.refreshes) == (2, 1)


def test_refused_refresh_token_logs_in_again(tmp_path, fake):
    fake.access_lifetime = 0.4
    tokens = manager(fake)
    first = tokens.token()
    fake._refresh.clear()  # the service forgot the session: "Token is not active"
    time.sleep(0.4)
    assert tokens.token() != first
    assert (fake.logins, fake.refreshes) == (2, 0)


def test_renew_after_refusal_happens_once_for_all_workers(tmp_path, fake):
    tokens = manager(fake)
    stale = tokens.token()
    fresh = tokens.renew(stale)
    assert tokens.renew(stale) == fresh  # a second worker with the same stale token
    assert (fake.logins, fake.refreshes) == (1, 1)


def test_token_service_serves_workers_one_login(tmp_path, fake):
    tokens = manager(fake)
    with TokenService(tokens) as service:
        client = pickle.loads(pickle.dumps(service.client))  # as a task carries it
        first = client.token()
        assert client.token() == first
        assert client.renew(first) != first
    assert (fake.logins, fake.refreshes) == (1, 1)
    refused = pytest.raises(CredentialsError, match="refused the username or password from test")
    with TokenService(manager(fake, "wrong")) as service, refused:
        service.client.token()


def test_credentials_from_environment_or_netrc(tmp_path):
    url = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
    assert machine_names(url) == [
        url,
        "identity.dataspace.copernicus.eu",
        "dataspace.copernicus.eu",
    ]
    env = {"CDSE_USERNAME": "u", "CDSE_PASSWORD": "p", "NETRC": str(tmp_path / "none")}
    found = find_credentials(url, env)
    assert (found.username, found.password) == ("u", "p")
    with pytest.raises(CredentialsError, match="CDSE_PASSWORD is set but CDSE_USERNAME is not"):
        find_credentials(url, {"CDSE_PASSWORD": "p", "NETRC": str(tmp_path / "none")})
    netrc = tmp_path / "netrc"
    env = {"NETRC": str(netrc)}
    for machine in ("dataspace.copernicus.eu", url):  # sentineleof's and CDSETool's names
        netrc.write_text(
            f"default login other password nope\nmachine {machine} login n password q\n"
        )
        netrc.chmod(0o600)
        found = find_credentials(url, env)
        assert (found.username, found.password) == ("n", "q") and machine in found.source
    netrc.write_text("default login other password nope\n")  # never the default entry
    with pytest.raises(CredentialsError, match="no Copernicus Data Space credentials"):
        find_credentials(url, env)
    netrc.chmod(0o644)
    with pytest.raises(CredentialsError, match="can be read by other users"):
        find_credentials(url, env)
    netrc.write_text("hunter2secret machine dataspace.copernicus.eu login n password q\n")
    netrc.chmod(0o600)
    with pytest.raises(CredentialsError, match="cannot be parsed") as failure:
        find_credentials(url, env)
    assert "hunter2secret" not in str(failure.value)


def test_credentials_never_leave_the_process():
    found = Credentials("someone", "hunter2", "environment")
    assert "hunter2" not in repr(found) and "someone" not in repr(found)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(found)


def test_errors_survive_the_trip_from_a_worker():
    for error in (
        CdseError("x"),
        ProductError("y", corrupt=True),
        CredentialsError("z"),
        DownloadError("w"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
    assert pickle.loads(pickle.dumps(ProductError("y", True))).corrupt


def test_token_goes_only_to_the_services_and_their_siblings():
    trusted = Settings().trusted_hosts
    keep = keeps_authorization
    origin = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products(1)/$value"
    assert keep(origin, "https://download.dataspace.copernicus.eu/x", trusted)
    assert keep(origin, "https://zipper.dataspace.copernicus.eu/x", trusted)
    assert not keep(origin, "https://evil.example.org/x", trusted)
    assert not keep(origin, "http://download.dataspace.copernicus.eu/x", trusted)  # downgrade
    loopback = frozenset({"127.0.0.1"})
    assert keep("http://127.0.0.1:1/a", "http://127.0.0.1:2/b", loopback)
    assert not keep("http://127.0.0.1:1/a", "http://127.0.0.2:2/b", loopback)


# --- other sources ---------------------------------------------------------------------


def test_local_source_unzips_zips_safely(tmp_path, catalogue, aoi):
    archive = tmp_path / "archive"
    (archive / "2020").mkdir(parents=True)
    good, bad = catalogue["mar"], catalogue["jun"]
    (archive / "2020" / f"{good.name}.zip").write_bytes(good.data)
    (archive / f"{bad.name}.zip").write_bytes(with_member(bad.data, "../evil.txt", b"x"))
    (archive / "notes.zip").write_bytes(b"not a product")
    cache = tmp_path / "cache"
    for _ in range(2):  # the second time, the product is already in the cache
        entries = {
            e.name: e for e in local_products(archive, "2020-01-01", "2020-12-31", cache=cache)
        }
        assert set(entries) == {stem(good), stem(bad)}
        assert entries[stem(good)].status == "ok"
        assert entries[stem(good)].path == str(cache / good.name)
        assert entries[stem(bad)].status == "failed"
        assert "unsafe member path '../evil.txt'" in entries[stem(bad)].reason
    assert not list(tmp_path.rglob("evil.txt"))
    assert_cache_sound(cache)


def test_frozen_manifest_fetches_only_what_the_cache_lacks(tmp_path, fake, catalogue, aoi):
    serve(fake, catalogue, "mar", "jun", "nr", "nt")
    cfg = dataset(tmp_path, fake, aoi)
    first = run(tmp_path, cfg)
    frozen = tmp_path / "frozen.csv"
    (tmp_path / "manifest.csv").rename(frozen)
    lost = catalogue["jun"]
    for path in (tmp_path / "cache" / lost.name).iterdir():
        path.unlink()
    (tmp_path / "cache" / lost.name).rmdir()
    fake.add(dataclasses.replace(catalogue["sep"]))  # new in the catalogue: not used
    cfg["source"] |= {"type": "manifest", "manifest": {"path": str(frozen)}}
    before = len(fake.requests)
    again = run(tmp_path, cfg)
    assert again.equals(first)
    later = fake.requests[before:]
    assert not [r for r in later if r.path == "/odata/v1/Products"]  # no search
    assert [r.path for r in later if r.host == "download"] == [
        f"/odata/v1/Products({lost.id})/$value"
    ]
    rows = frozen.read_text().splitlines()
    frozen.write_text("\n".join(r.replace(lost.id, "") for r in rows) + "\n")
    for path in (tmp_path / "cache" / lost.name).iterdir():
        path.unlink()
    (tmp_path / "cache" / lost.name).rmdir()
    with pytest.raises(InputError, match=r"lists 1 product\(s\) found neither at their path"):
        run(tmp_path, cfg)


def test_no_products_found_is_a_clear_error(tmp_path, fake, aoi):
    with pytest.raises(InputError, match="has no OL_2_WFR___ product over this AOI"):
        run(tmp_path, dataset(tmp_path, fake, aoi))
    assert os.listdir(tmp_path) == ["config.yaml"]
