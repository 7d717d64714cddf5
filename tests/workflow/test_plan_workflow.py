"""``snakemake results/<dataset>/download_plan.txt``: the plan before (and without) the
download checkpoint, against the loopback catalogue (tests/support/fake_cdse.py).

The fact: the catalogue is searched without credentials (CDSE docs, APIs/OData), so the
plan needs neither an account nor the products. The oracles: the catalogue's products
(their names), and the service's request log and the project folder after the run (no
login, no product bytes, no scene list, no product cache).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from eotrend.synthetic.spec import SceneSpec
from support.commands import snakemake
from support.configs import base_config
from support.fake_cdse import FakeCdse, products_from_specs
from support.scenes import square_ring, write_polygons

pytestmark = pytest.mark.workflow

LAKE = (-60.9, -3.4)


def test_the_plan_target_runs_without_the_download(tmp_path, monkeypatch):
    workdir = tmp_path / "project"
    workdir.mkdir()
    x, y = LAKE
    ring = square_ring(x, y, 0.05)
    write_polygons(workdir / "aoi.geojson", [[ring]], ["lake"])
    specs = [
        SceneSpec(x, y, datetime(year, 7, 1, 13, 50, tzinfo=UTC), rows=120, columns=129, seed=year)
        for year in (2020, 2021)
    ]
    products = products_from_specs(tmp_path / "src", specs)
    for name in ("CDSE_USERNAME", "CDSE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with FakeCdse("nobody", "unused-password") as fake:
        fake.add(*products)
        config = base_config(
            "sentinel3_cdse", lake={"source": {"cdse": fake.settings(fetch="s3_windows")}}
        )
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        done = snakemake(workdir, "results/lake/download_plan.txt")
        assert done.returncode == 0, done.stderr[-5000:]
        assert fake.logins == 0
        assert all(r.path == "/odata/v1/Products" for r in fake.requests)
    text = (workdir / "results" / "lake" / "download_plan.txt").read_text()
    listed = text.split("ContentLength bytes):\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in listed] == [p.name.removesuffix(".SEN3") for p in products]
    assert "configured fetch: s3_windows" in text
    assert not (workdir / "results" / "lake" / "manifest.csv").exists()
    assert not (workdir / "resources").exists()
