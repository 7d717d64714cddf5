"""A user's mistakes, each stopped once, early, with a message that names the thing and
the fix, and nothing half-written left behind.

Oracles: the mistake is made by the test itself (a key one letter off, dates swapped, a
glob of an empty folder, an AOI a continent away from every scene, problems planted in an
AOI file), so the name and the numbers the message must hold are known without running
eotrend.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import shapely
import yaml
from osgeo import ogr

from eotrend.core.errors import InputError
from eotrend.sources.entries import name_entry
from eotrend.stages.download import check_some_scene
from support.commands import REPO, snakemake
from support.vectors import BOWTIE, square, write_layer

pytestmark = pytest.mark.workflow


def demo_with(tmp_path: Path, change) -> Path:
    """The demo config with ``change(config)`` applied, in a fresh project folder."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    change(config)
    shutil.copytree(REPO / "data", tmp_path / "data")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def refused(workdir: Path) -> str:
    """The error line of a dry run that must stop at the config check, before any job."""
    result = snakemake(workdir, "-n", timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    (line,) = [line for line in out.splitlines() if line.startswith("invalid config: ")]
    assert not (workdir / "results").exists()  # nothing was run
    return line


def test_a_misspelt_key_is_one_line_with_the_closest_key(tmp_path):
    def misspell(config):
        grid = config["datasets"]["amazon_olci"]["grid"]
        grid["resolutoin"] = grid.pop("resolution")

    line = refused(demo_with(tmp_path, misspell))
    assert "datasets.amazon_olci.grid: 'resolutoin' is not a setting here" in line
    assert "(did you mean 'resolution'?)" in line


def test_an_end_before_the_start_is_refused(tmp_path):
    def swap(config):
        config["datasets"]["amazon_olci"]["end"] = "2017-12-31"

    line = refused(demo_with(tmp_path, swap))
    assert "datasets.amazon_olci.end: 2017-12-31 is before start 2018-01-01" in line


def test_a_glob_that_matches_nothing_names_the_pattern_and_the_dataset(tmp_path):
    (tmp_path / "exports").mkdir()

    def local_series(config):
        config["datasets"]["ndvi_series"]["source"] = {"type": "local"}
        config["datasets"]["ndvi_series"]["files"] = "exports/ndvi_*.tif"

    line = refused(demo_with(tmp_path, local_series))
    assert "datasets.ndvi_series.files: the pattern 'exports/ndvi_*.tif' matches no file" in line
    assert "relative to the working directory" in line


def test_no_scene_covering_the_aoi_is_said_at_the_checkpoint(tmp_path):
    """Two scenes whose footprints miss the AOI: the error gives the AOI's bounds (a
    square drawn by the test), the dates and why each scene was left out."""
    aoi = tmp_path / "aoi.geojson"
    square = shapely.box(10.0, 50.0, 10.5, 50.25)
    aoi.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"properties": {"name": "lake"}, "geometry": ' + shapely.to_geojson(square) + "}]}"
    )
    reason = "footprint does not reach the AOI"
    names = [
        "S3A_OL_2_WFR____20200301T135000_20200301T135005_20200321T135000_0005_051_124_3060"
        "_MAR_O_NT_003",
        "S3B_OL_2_WFR____20200601T135000_20200601T135005_20200621T135000_0005_051_124_3060"
        "_MAR_O_NT_003",
    ]
    entries = [name_entry(name, "skipped", reason) for name in names]
    settings = {"kind": "sentinel3", "aoi": str(aoi), "start": "2020-01-01", "end": "2020-12-31"}
    with pytest.raises(InputError) as raised:
        check_some_scene("lake", settings, entries)
    message = str(raised.value)
    assert message.startswith(
        "datasets.lake: no usable scene of 2020-01-01..2020-12-31 over the AOI"
    )
    assert "(lon 10.0000..10.5000, lat 50.0000..50.2500)" in message
    assert f"2 scenes found (2 skipped: {reason})" in message
    assert "manifest.csv" in message
    check_some_scene("lake", settings, [*entries, name_entry(names[0], "ok", "")])  # one is enough
    # A failed product is source.on_failure's business, not this check's.
    check_some_scene("lake", settings, [*entries, name_entry(names[0], "failed", "HTTP 500")])


def test_every_problem_of_the_aoi_is_refused_before_any_job(tmp_path):
    """An AOI GeoPackage of 5,000 lakes with three problems planted (a duplicate id, a
    bowtie, a point) stops the dry run when Snakemake reads the workflow, before any
    download: one line names the setting, the file, the count and each problem by id and
    row. The same file without them passes, its ids taken from the column `aoi_id` names."""

    def lakes(path: Path, planted: bool) -> None:
        rows = [
            (
                {"lake_id": f"lake_{k:04d}", "name": "lake"},
                square(-61 + k % 100 * 0.01, -3 + k // 100 * 0.01, 0.005),
            )
            for k in range(5000)
        ]
        if planted:
            rows[10] = ({"lake_id": "lake_0003", "name": "lake"}, rows[10][1])
            rows[20] = ({"lake_id": "bowtie", "name": "lake"}, BOWTIE)
            rows[4999] = ({"lake_id": "gauge", "name": "lake"}, "POINT (-60.5 -2.5)")
        write_layer(path, {"lake_id": ogr.OFTString, "name": ogr.OFTString}, rows)

    def use(aoi: str, aoi_id: str):
        def change(config):
            config["datasets"]["amazon_olci"].update(aoi=aoi, aoi_id=aoi_id)

        return change

    workdir = demo_with(tmp_path / "bad", use("lakes.gpkg", "lake_id"))
    lakes(workdir / "lakes.gpkg", planted=True)
    line = refused(workdir)
    assert line.startswith(
        "invalid config: datasets.amazon_olci.aoi: lakes.gpkg: 3 problems in 4 of its 5000 features"
    )
    assert "duplicate id 'lake_0003' (rows 4, 11)" in line
    assert "feature 'bowtie' (row 21): has an invalid polygon (Self-intersection" in line
    assert "feature 'gauge' (row 5000): is a Point, not a polygon" in line

    workdir = demo_with(tmp_path / "good", use("lakes.gpkg", "lake_id"))
    lakes(workdir / "lakes.gpkg", planted=False)
    result = snakemake(workdir, "-n", timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

    # The default id column, `name`, is the same for every lake.
    workdir = demo_with(tmp_path / "names", use("lakes.gpkg", None))
    lakes(workdir / "lakes.gpkg", planted=False)
    line = refused(workdir)
    assert "lakes.gpkg: 1 problem in 5000 of its 5000 features" in line
    assert "duplicate id 'lake' (rows 1, 2, 3, 4, 5 and 4995 more)" in line


def test_an_aoi_id_the_file_lacks_is_named_with_its_columns(tmp_path):
    def misname(config):
        config["datasets"]["amazon_olci"]["aoi_id"] = "Name"

    line = refused(demo_with(tmp_path, misname))
    assert line.startswith(
        "invalid config: datasets.amazon_olci.aoi: data/demo/aoi.geojson: has no attribute "
        "'Name' to take the feature ids from (did you mean 'name'?)"
    )
