"""The download plan (``results/<dataset>/download_plan.txt``), from the catalogue alone,
against the loopback catalogue (tests/support/fake_cdse.py).

The facts: the catalogue lists each product with its zip size, ``ContentLength`` (CDSE
docs, APIs/OData); a general user may open 4 connections of 20 MB/s and transfer 12 TB
per 30 days (CDSE docs, Quotas). The oracles: the catalogue's own records (the OData
items the fake serves), summed here; time and share worked out by hand from those bytes;
the files a run of Oa08_reflectance and TSM_NN reads (the manifest, geo and tie-point
coordinates, the flag file, the two variables' files: docs/copernicus.md), at the sizes
of the product's own bytes; the service's request log (no product bytes, no login).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
import yaml

from eotrend.core.config import load_dataset
from eotrend.stages.plan import run as plan
from eotrend.synthetic.spec import SceneSpec
from support.cdse import checked_fake
from support.configs import base_dataset
from support.fake_cdse import FakeProduct, products_from_specs
from support.scenes import square_ring, write_polygons

LAKE = (-60.9, -3.4)
RATE = 4 * 20e6  # bytes per second: 4 connections x 20 MB/s
MONTHLY = 12e12  # bytes per 30 days
READ = ("geo_coordinates.nc", "tie_geo_coordinates.nc", "wqsf.nc", "Oa08_reflectance.nc")


@pytest.fixture
def fake(tmp_path, caplog, monkeypatch):
    with checked_fake(tmp_path, caplog, monkeypatch) as server:
        yield server


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> list[FakeProduct]:
    """Three products over the lake, in 2020 and 2021."""
    x, y = LAKE
    ring = square_ring(x, y, 0.05)
    specs = [
        SceneSpec(x, y, datetime(*day, 13, 50, tzinfo=UTC), rows=120, columns=129, seed=i)
        for i, day in enumerate([(2020, 6, 1), (2021, 3, 2), (2021, 8, 9)])
    ]
    return products_from_specs(tmp_path_factory.mktemp("plan"), specs, water=shapely.Polygon(ring))


def config(tmp_path: Path, fake, fetch: str = "files") -> dict:
    x, y = LAKE
    ring = square_ring(x, y, 0.02)
    aoi = write_polygons(tmp_path / "aoi.geojson", [[ring]], ["lake"])
    lake = base_dataset(
        "sentinel3_cdse",
        aoi=str(aoi),
        variables=["Oa08_reflectance", "TSM_NN"],
        source={"cache": str(tmp_path / "cache"), "cdse": fake.settings(fetch=fetch)},
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"lake": lake}}))
    return load_dataset(path, "lake")


def modes(text: str) -> dict[str, list[str]]:
    """The plan's table: fetch mode -> its cells."""
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def kept(text: str) -> list[str]:
    """The names of the plan's kept products, in its order."""
    lines = text.split("Products kept (name, sensing start, ContentLength bytes):\n")[1]
    return [line.split()[0] for line in lines.split("\n\n")[0].splitlines() if line]


def test_the_plan_lists_the_catalogues_products_and_what_each_mode_moves(tmp_path, fake, products):
    """The products kept are the catalogue's (in sensing order); the zip row's bytes are
    the sum of the catalogue's ContentLength values, its time bytes / (4 x 20 MB/s), its
    share bytes / 12 TB; the files and s3_windows rows are estimates and say so; the
    catalogue alone was asked (searches only: no token, no product or file bytes)."""
    fake.add(*products)
    text = plan(dataset="lake", settings=config(tmp_path, fake), plan=str(tmp_path / "p.txt"))
    assert (tmp_path / "p.txt").read_text() == text
    assert kept(text) == [p.name.removesuffix(".SEN3") for p in products]

    listed = sum(p.entity(False)["ContentLength"] for p in products)
    table = modes(text)
    assert list(table) == ["zip", "files", "s3_files", "s3_windows"]
    size, _, seconds, share, count, how = table["zip"]
    assert int(table["zip"][0]) == listed and "estimate" not in size + how
    assert float(seconds.split(" s")[0]) == pytest.approx(listed / RATE, rel=1e-5)
    assert float(share.split(" %")[0]) / 100 == pytest.approx(listed / MONTHLY, rel=1e-5)
    assert int(count) == len(products)
    for mode in ("files", "s3_files", "s3_windows"):
        assert "(estimate)" in table[mode][1] and "estimate" in table[mode][5], table[mode]
        bytes_ = int(table[mode][0])
        assert float(table[mode][2].split(" s")[0]) == pytest.approx(bytes_ / RATE, rel=1e-5)
    assert fake.logins == 0
    assert all(r.path == "/odata/v1/Products" and r.method == "GET" for r in fake.requests)


def test_a_manifest_in_the_cache_gives_the_files_a_run_reads(tmp_path, fake, products):
    """With the product's xfdumanifest.xml in the cache, the files row counts exactly the
    files a run reads that the cache lacks, at their real sizes (no estimate); the zip
    row still the ContentLength."""
    product = products[1]
    fake.add(product)
    cfg = config(tmp_path, fake)
    folder = tmp_path / "cache" / product.name
    folder.mkdir(parents=True)
    served = product.files()
    (folder / "xfdumanifest.xml").write_bytes(served["xfdumanifest.xml"])
    text = plan(dataset="lake", settings=cfg, plan=str(tmp_path / "p.txt"))
    table = modes(text)
    want = sum(len(served[name]) for name in (*READ, "tsm_nn.nc"))
    assert int(table["files"][0]) == want and "estimate" not in table["files"][1]
    assert int(table["zip"][0]) == product.entity(False)["ContentLength"]


def test_a_dataset_without_a_cdse_source_has_nothing_to_plan(tmp_path):
    """A synthetic dataset downloads nothing: the plan says so."""
    lake = base_dataset("sentinel3_synthetic")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"river": lake}}))
    text = plan(dataset="river", settings=load_dataset(path, "river"), plan=str(tmp_path / "p"))
    assert "downloads nothing" in text and "only a cdse source" in text
