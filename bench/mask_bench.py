"""The bias the per-product quality masks remove, measured (issue 14).

A lake growing more turbid over six yearly synthetic scenes: the atmospheric correction
fails on more of it each year (AC_FAIL, RWNEG), as over real turbid water. The trend of
the lake's median TSM_NN (log10 g.m-3 per year, OLS) with SNAP's TSM_NN mask and with the
reflectance mask, against the trend of the true median over the same pixels.

    python bench/run.py --only mask
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import common  # noqa: F401  (puts scripts/ on the path)
import numpy as np
import shapely
from scipy.stats import linregress

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, feature_statistics, value_column
from eotrend.sentinel3.quality import variable_rule
from eotrend.sentinel3.reader import Window, open_product, read_flag_masks
from eotrend.synthetic.fields import water_truth
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec, decimal_year

LON, LAT = -60.9, -3.4


def _aoi(folder: Path, lake) -> Path:
    feature = {"type": "Feature", "properties": {"name": "lake"},
               "geometry": shapely.geometry.mapping(lake)}  # fmt: skip
    path = folder / "aoi.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def main() -> str:
    lake = shapely.box(LON - 0.3, LAT - 0.3, LON + 0.3, LAT + 0.3)
    column = f"{value_column('TSM_NN')}_median"
    years, truth, kept, dropped = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        features = read_aoi(_aoi(folder, lake))
        for year in range(2018, 2024):
            when = datetime(year, 7, 1, 13, 50, tzinfo=UTC)
            spec = SceneSpec(LON, LAT, when, rows=240, columns=257, cloud_fraction=0.0, seed=year)
            product = write_product(spec, folder, water=lake, files={"tsm_nn.nc", "wqsf.nc"})
            info = open_product(product)
            whole = Window(0, info.rows, 0, info.columns)
            own = extract_scene(product, features, whole, ["TSM_NN"], "water")
            # The reflectance preset as this product's flags allow it, plus OCNN_FAIL.
            masks = read_flag_masks(product)[1]
            reflectance_rule = variable_rule("water", "Oa08_reflectance", masks).rule.as_dict()
            reflectance_rule["exclude"].append("OCNN_FAIL")
            masked = extract_scene(product, features, whole, ["TSM_NN"], reflectance_rule)
            t = decimal_year(when)
            years.append(t)
            pixels = own.pixels
            truth.append(np.median(water_truth("TSM_NN", pixels["lon"], pixels["lat"], t)))
            kept.append(feature_statistics(own, features)[column].iloc[0])
            dropped.append(feature_statistics(masked, features)[column].iloc[0])
    slopes = [linregress(years, np.log10(v)).slope for v in (truth, kept, dropped)]
    rows = [
        ("truth (median of the true TSM over the lake's water pixels)", slopes[0]),
        ("TSM_NN mask (SNAP WQSF_TSM_NN_RECOM, the water preset)", slopes[1]),
        ("reflectance mask (WQSF_REFLECTANCE_RECOM + OCNN_FAIL)", slopes[2]),
    ]
    lines = [
        "TSM_NN trend of a lake growing more turbid, six yearly scenes "
        "(log10 g.m-3 per year, OLS of the feature median)",
        "| mask | slope | minus truth |",
        "|---|---|---|",
        *(f"| {name} | {value:.4f} | {value - slopes[0]:+.4f} |" for name, value in rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
