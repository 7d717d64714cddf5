"""The real snakemake on a cdse dataset served by the loopback service (tests/support/fake_cdse.py).

The first run is interrupted: the service stops answering after one product and part of
the next, so the download checkpoint fails. The rerun completes the whole chain, fetches
neither the finished product nor the bytes already there, and no file the runs wrote (the
cache, results, logs, .snakemake/) nor their output holds a credential or a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import shapely
import yaml

from eotrend.sources.cdse.cache import PARTIAL, check_product
from eotrend.synthetic.spec import SceneSpec
from support.commands import snakemake
from support.configs import base_config
from support.fake_cdse import FakeCdse, products_from_specs
from support.scenes import square_ring, write_polygons

pytestmark = pytest.mark.workflow

USERNAME = "wf-user-c41d2e"
PASSWORD = "wf-pa55-Zq8!k"
LAKE = (-60.9, -3.4)
PARTIAL_BYTES = 100_000


def test_interrupted_cdse_run_resumes_and_completes(tmp_path, monkeypatch):
    workdir = tmp_path / "project"
    workdir.mkdir()
    x, y = LAKE
    ring = square_ring(x, y, 0.05)
    write_polygons(workdir / "aoi.geojson", [[ring]], ["lake"])
    specs = [
        SceneSpec(x, y, datetime(year, 7, 1, 13, 50, tzinfo=UTC), rows=120, columns=129, seed=year)
        for year in (2020, 2021, 2022)
    ]
    products = products_from_specs(tmp_path / "src", specs, water=shapely.Polygon(ring))
    monkeypatch.setenv("CDSE_USERNAME", USERNAME)
    monkeypatch.setenv("CDSE_PASSWORD", PASSWORD)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with FakeCdse(USERNAME, PASSWORD) as fake:
        fake.add(*products)
        config = base_config(
            "sentinel3_cdse",
            lake={
                "end": "2022-12-31",
                "source": {"cdse": fake.settings(max_concurrent=1, retries=1, fetch="zip")},
                "variables": ["Oa08_reflectance"],
            },
        )
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        cache = workdir / "resources" / "products"
        first, second, third = products

        fake.down_after(1, partial=PARTIAL_BYTES)
        interrupted = snakemake(workdir)
        assert interrupted.returncode != 0
        log = (workdir / "logs" / "lake" / "download.log").read_text()
        assert "2 of 3 products failed" in log and "gave up after 2 attempts" in log
        assert not (workdir / "results" / "lake" / "manifest.csv").exists()
        assert check_product(cache / first.name, md5=True) is None
        part = cache / PARTIAL / f"{second.name.removesuffix('.SEN3')}.zip.part"
        assert part.stat().st_size == PARTIAL_BYTES
        assert not (cache / second.name).exists() and not (cache / third.name).exists()

        fake.restore()
        before = len(fake.requests)
        resumed = snakemake(workdir)
        assert resumed.returncode == 0, resumed.stderr[-5000:]
        later = [r for r in fake.requests[before:] if r.host == "download"]
        assert [(r.path, r.range, r.status) for r in later] == [
            (f"/odata/v1/Products({second.id})/$value", f"bytes={PARTIAL_BYTES}-", 206),
            (f"/odata/v1/Products({third.id})/$value", None, 200),
        ]
        assert fake.logins == 2  # one per run, whatever the number of downloads

    manifest = pd.read_csv(workdir / "results" / "lake" / "manifest.csv", dtype=str)
    assert list(manifest["status"]) == ["ok"] * 3
    assert list(manifest["source_id"]) == [p.id for p in products]
    assert (workdir / "results" / "lake" / "trend" / "Oa08_reflectance.tif").stat().st_size > 0
    for product in products:
        assert check_product(cache / product.name, md5=True) is None
    assert not list(cache.rglob("*.part"))

    secrets = [USERNAME, PASSWORD, *fake.issued]
    outputs = [interrupted.stdout, interrupted.stderr, resumed.stdout, resumed.stderr]
    assert not [s for s in secrets if any(s in text for text in outputs)]
    written = [p for p in workdir.rglob("*") if p.is_file()]
    assert any(".snakemake" in p.parts for p in written)  # the metadata is among them
    leaks = [p for p in written if any(s.encode() in p.read_bytes() for s in secrets)]
    assert not leaks, f"secrets in {leaks}"
    assert not [p for p in written if Path(p).suffix == ".part"]
