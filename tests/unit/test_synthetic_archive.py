"""The synthetic source makes what the real archive holds: same-day scenes of both
satellites and scenes that see the AOI only in part."""

from __future__ import annotations

import pytest

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, feature_statistics
from eotrend.sentinel3.locate import window_for
from eotrend.sources.synthetic import synthetic_scene_specs
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import product_name
from support.scenes import write_polygons

SETTINGS = {
    "seed": 3, "years": [2020, 2021], "scenes_per_year": 2, "rows": 240, "columns": 257,
    "cloud_fraction": 0.0, "same_day_pairs": 1, "partial_scenes": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def aoi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aoi")
    ring = [(-60.95, -3.45), (-60.85, -3.45), (-60.85, -3.35), (-60.95, -3.35)]
    return write_polygons(folder / "aoi.geojson", [[ring]], ["lake"])


def test_a_same_day_pair_from_both_satellites(aoi):
    """Fact: S3A and S3B both pass over most places on many days."""
    specs = synthetic_scene_specs(SETTINGS, aoi)
    assert len(specs) == 5
    days = [spec.sensing_start.date() for spec in specs]
    (pair_day,) = {day for day in days if days.count(day) == 2}
    pair = [spec for spec in specs if spec.sensing_start.date() == pair_day]
    assert {spec.mission for spec in pair} == {"S3A", "S3B"}
    assert len({product_name(spec) for spec in specs}) == 5
    assert [s.sensing_start for s in specs] == sorted(s.sensing_start for s in specs)


def test_the_last_scene_sees_the_aoi_in_part(aoi, tmp_path):
    specs = synthetic_scene_specs(SETTINGS, aoi)
    features = read_aoi(aoi)
    coverage = []
    for spec in (specs[0], specs[-1]):
        product = write_product(spec, tmp_path, files={"Oa08_reflectance.nc", "wqsf.nc"})
        result = extract_scene(
            product, features, window_for(product, aoi), ["Oa08_reflectance"], "none"
        )
        coverage.append(feature_statistics(result, features)["coverage"].iloc[0])
    assert coverage[0] > 0.99 and 0.2 < coverage[1] < 0.8
