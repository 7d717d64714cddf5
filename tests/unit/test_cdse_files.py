"""Per-file downloads through the OData Nodes API against the loopback service.

The facts: a product's files are listed by ``Products(<Id>)/Nodes(<Name>.SEN3)/Nodes`` and
streamed one by one by ``.../Nodes(<file>)/$value`` (CDSE's OData page,
https://documentation.dataspace.copernicus.eu/APIs/OData.html); the product's own
``xfdumanifest.xml`` lists every file's size and MD5 (the real manifests in
tests/data/real-manifests). The oracle of what is fetched is the
product's file set as the fake serves it (its bytes and sizes). Every test ends with the
checks of ``test_cdse``'s ``fake`` fixture: no secret in any file or log, and every file
under the cache's final names verified.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eotrend.sentinel3.layout import listed_files, needed_files
from eotrend.sources.cdse.cache import PARTIAL, check_product
from eotrend.synthetic.spec import SceneSpec
from support.cdse import checked_fake, dataset, run, stem
from support.fake_cdse import FakeCdse, FakeProduct, Fault, products_from_specs
from support.scenes import write_polygons

LAKE = (-60.9, -3.4)
FILES = {"wqsf.nc", "Oa08_reflectance.nc", "Oa01_reflectance.nc", "tsm_nn.nc", "tie_geometries.nc"}
REAL = Path(__file__).resolve().parents[1] / "data" / "real-manifests"
NEEDED = [
    "xfdumanifest.xml",
    "geo_coordinates.nc",
    "tie_geo_coordinates.nc",
    "wqsf.nc",
    "Oa08_reflectance.nc",
]


@pytest.fixture
def fake(tmp_path, caplog, monkeypatch):
    """The loopback service, checked afterwards as in test_cdse.py."""
    with checked_fake(tmp_path, caplog, monkeypatch) as server:
        yield server


def spec(month: int, **fields) -> SceneSpec:
    when = datetime(2020, month, 1, 13, 50, tzinfo=UTC)
    return SceneSpec(*LAKE, when, rows=120, columns=129, cloud_fraction=0.0, **fields)


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> list[FakeProduct]:
    """Two small WFR products with more files than a one-variable dataset reads."""
    folder = tmp_path_factory.mktemp("nodes")
    return products_from_specs(folder, [spec(3), spec(6, mission="S3B")], files=FILES)


@pytest.fixture(scope="module")
def aoi(tmp_path_factory) -> Path:
    ring = [(-61.0, -3.5), (-60.8, -3.5), (-60.8, -3.3), (-61.0, -3.3)]
    return write_polygons(tmp_path_factory.mktemp("aoi") / "aoi.geojson", [[ring]], ["lake"])


def fetched(fake: FakeCdse, product: FakeProduct) -> list[str]:
    """The files the client asked the download host for, in order (each request once)."""
    return [r.path.rsplit("Nodes(", 1)[1][:-8] for r in fake.file_downloads(product.name)]


def files_cfg(tmp_path, fake, aoi, variables=("Oa08_reflectance",), **settings) -> dict:
    cfg = dataset(tmp_path, fake, aoi, fetch="files", **settings)
    cfg["variables"] = list(variables)
    return cfg


def test_needed_files_of_a_real_manifest():
    """The real WFR 003 manifest lists 31 netCDF files; a dataset of Oa08 and TSM_NN reads
    six of them (geo, tie geo, flags, the two variables' files); the
    angles add tie_geometries.nc; an unknown variable is left to be looked for."""
    (manifest,) = REAL.glob("S3A_OL_2_WFR*/xfdumanifest.xml")
    listed = listed_files(manifest)
    assert len([n for n in listed if n.endswith(".nc")]) == 31
    assert listed["Oa01_reflectance.nc"].size == 365165  # as the manifest says
    assert listed["Oa01_reflectance.nc"].md5 == "c82a0364acb08be56340fb495859657b"
    files, unknown = needed_files(listed, ["Oa08_reflectance", "TSM_NN"], "003")
    assert files == [*NEEDED[:4], "Oa08_reflectance.nc", "tsm_nn.nc"] and unknown == []
    files, unknown = needed_files(listed, ["SZA", "CHL_NN_err", "mystery"], "003")
    assert files[4:] == ["tie_geometries.nc", "chl_nn.nc"] and unknown == ["mystery"]
    (land,) = REAL.glob("S3A_OL_2_LFR*/xfdumanifest.xml")
    assert needed_files(listed_files(land), ["OGVI"], "002")[0][3:] == ["lqsf.nc", "ogvi.nc"]


def test_files_mode_fetches_only_what_the_dataset_reads(tmp_path, fake, products, aoi):
    """One login, the manifest first, then the four files a one-variable dataset reads; the
    manifest row lists them with their sizes and bytes; a rerun fetches nothing."""
    fake.add(*products)
    cfg = files_cfg(tmp_path, fake, aoi)
    result = run(tmp_path, cfg)
    assert (result.status == "ok").all() and fake.logins == 1
    for product in products:
        assert fetched(fake, product) == NEEDED
        served = product.files()
        row = result.loc[stem(product)]
        assert row.fetch == "files"
        assert row.files == ";".join(f"{n}={len(served[n])}" for n in NEEDED)
        assert row.fetched_bytes == sum(len(served[n]) for n in NEEDED)
        assert row.fetched_bytes < 0.8 * len(product.data)
        folder = tmp_path / "cache" / product.name
        assert sorted(p.name for p in folder.iterdir()) == sorted(NEEDED)
        assert check_product(folder, md5=True, needs=NEEDED) is None
        assert check_product(folder) is not None  # a partial product, and says so
    listings = [r for r in fake.requests if r.path.endswith("/Nodes") and r.host == "download"]
    assert len(listings) == 2 and not any(r.authorized for r in listings)
    before = len(fake.requests)
    again = run(tmp_path, cfg)
    assert again.equals(result)
    assert all(r.path == "/odata/v1/Products" for r in fake.requests[before:])  # searches only


def test_a_later_run_needing_another_variable_fetches_just_that_file(tmp_path, fake, products, aoi):
    (product,) = products[:1]
    fake.add(product)
    run(tmp_path, files_cfg(tmp_path, fake, aoi))
    first = len(fake.file_downloads(product.name))
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi, ("Oa08_reflectance", "TSM_NN")))
    assert fetched(fake, product)[first:] == ["tsm_nn.nc"]
    assert result.loc[stem(product)].files.endswith(
        f"tsm_nn.nc={len(product.files()['tsm_nn.nc'])}"
    )


def test_a_file_dropped_mid_body_resumes_with_range(tmp_path, fake, products, aoi):
    (product,) = products[:1]
    fake.add(product)
    fake.fault_file(product.name, "geo_coordinates.nc", Fault(drop_after=20000))
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi))
    assert result.loc[stem(product)].status == "ok"
    geo = fake.file_downloads(product.name, "geo_coordinates.nc")
    assert [(r.status, r.range) for r in geo] == [(200, None), (206, "bytes=20000-")]
    assert sum(r.sent for r in geo) == len(product.files()["geo_coordinates.nc"])


def test_a_file_dropped_mid_body_restarts_where_range_is_not_honoured(
    tmp_path, fake, products, aoi
):
    """Whether Nodes ``$value`` honours Range is unverified: a 200 to the Range request
    restarts the file (never appended)."""
    (product,) = products[:1]
    fake.add(product)
    fake.ignore_ranges = True
    fake.fault_file(product.name, "wqsf.nc", Fault(drop_after=5000))
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi))
    assert result.loc[stem(product)].status == "ok"
    flags = fake.file_downloads(product.name, "wqsf.nc")
    assert [(r.status, r.range) for r in flags] == [(200, None), (200, "bytes=5000-")]
    cached = (tmp_path / "cache" / product.name / "wqsf.nc").read_bytes()
    assert cached == product.files()["wqsf.nc"]


def test_a_file_failing_its_manifest_md5_is_fetched_again_then_refused(
    tmp_path, fake, products, aoi
):
    """Bytes that do not match the MD5 the product's manifest lists: fetched again once
    (the transfer may have damaged them); the same wrong bytes twice fail the product,
    and nothing of the file reaches the product folder."""
    first, second = products
    fake.add(first, second)
    fake.fault_file(first.name, "wqsf.nc", Fault(corrupt=True))  # once: recovered
    fake.fault_file(second.name, "wqsf.nc", Fault(corrupt=True), Fault(corrupt=True))
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi, on_failure="skip"))
    assert result.loc[stem(first)].status == "ok"
    row = result.loc[stem(second)]
    assert row.status == "failed"
    assert "wqsf.nc of" in row.reason and "does not match its MD5 in xfdumanifest.xml" in row.reason
    assert "sent the same bytes twice" in row.reason
    assert len(fake.file_downloads(second.name, "wqsf.nc")) == 2
    assert not (tmp_path / "cache" / second.name / "wqsf.nc").exists()
    expected = hashlib.md5(first.files()["wqsf.nc"]).hexdigest()
    got = hashlib.md5((tmp_path / "cache" / first.name / "wqsf.nc").read_bytes()).hexdigest()
    assert got == expected


def test_a_file_the_manifest_lists_but_the_store_lacks_fails_the_product(
    tmp_path, fake, products, aoi
):
    (product,) = products[:1]
    files = {k: v for k, v in product.files().items() if k != "Oa08_reflectance.nc"}
    (product,) = [dataclasses.replace(product, nodes=files)]
    fake.add(product)
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi, on_failure="skip"))
    row = result.loc[stem(product)]
    assert row.status == "failed"
    assert "lacks Oa08_reflectance.nc, which the product's own xfdumanifest.xml lists" in row.reason
    assert "Oa08_reflectance.nc" not in fetched(fake, product)


def test_too_many_streams_get_429_and_are_retried(tmp_path, fake, products, aoi):
    """Streams past the account's limit get 429 DAT-ZIP-100: here the
    account's streams are all taken (by "another client") for the first 5 requests; the
    client backs off and every file arrives."""
    fake.add(*products)
    fake.streams_taken = 5
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi, backoff_s=0.05, retries=10))
    assert (result.status == "ok").all()
    refused = [r for p in products for r in fake.file_downloads(p.name) if r.status == 429]
    assert len(refused) == 5
    for product in products:
        assert sorted(set(fetched(fake, product))) == sorted(NEEDED)


def test_an_unknown_variable_is_looked_for_in_the_manifests_files(tmp_path, fake, aoi):
    """FPH is not in the reader's map: the manifest's data files are looked into one by
    one (chlor_a.nc first by name, then fluorescence.nc, which holds it); the others stay
    on the server."""
    folder = tmp_path / "src"
    files = {"wqsf.nc", "chlor_a.nc", "fluorescence.nc", "iop_lsd.nc"}
    scene = spec(4, baseline="004")
    (product,) = products_from_specs(folder, [scene], files=files)
    fake.add(product)
    result = run(tmp_path, files_cfg(tmp_path, fake, aoi, ("FPH",)))
    assert result.loc[stem(product)].status == "ok"
    assert fetched(fake, product) == [*NEEDED[:4], "chlor_a.nc", "fluorescence.nc"]
    assert "fluorescence.nc=" in result.loc[stem(product)].files
    assert not list((tmp_path / "cache" / PARTIAL).rglob("*.part"))
