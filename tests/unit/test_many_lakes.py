"""extract with many small lakes (issue 23): each lake's pixels are read from its own
candidates (eotrend.sentinel3.candidates), not from one window around all lakes.

Oracles: a brute-force point-in-polygon test of every pixel centre of the scene (its
whole lon/lat grid decoded by netCDF4, shapely.intersects_xy: the boundary counts as
inside, extract's documented rule), and each lake extracted alone.

The scenes: one in the tropics and one reaching past 85 N, where candidates are decided by
the cap alone (no buffered polygon). The lakes, placed at pixel positions so that every
scene gets the same cases: a lattice of 16-gons over the swath (neighbours close enough
that some overlap: a pixel inside two lakes is kept once per lake), lakes centred on the
swath's first and last columns and on its corner (seen in part), a lake with a hole, a
two-part lake whose parts lie in different tie intervals far apart, a lake outside the
footprint, and a lake too small to hold a pixel centre.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pandas as pd
import pytest
import shapely

from eotrend.geo.aoi import Feature
from eotrend.sentinel3.extract import (
    LOGGED_FEATURES,
    NAMED_FEATURES,
    NOTES,
    extract_scene,
    feature_statistics,
    statistics_rows,
    warn_notes,
)
from eotrend.sentinel3.locate import extraction_window
from eotrend.sentinel3.tables import write_csv
from support.commands import run
from support.scenes import full_lonlat, small_scene

ROWS, COLUMNS = 240, 257
RADIUS = 0.008  # degrees of latitude: lakes of about 1.8 km, some 40 pixels
FILES = {"Oa08_reflectance.nc", "tsm_nn.nc", "wqsf.nc"}
SCENES = {"tropics": (-60.9, -3.4), "polar": (30.0, 84.9)}


def _ring(lon: float, lat: float, radius: float, phase: float, sides: int = 16) -> np.ndarray:
    """A regular polygon's ring around (lon, lat), round on the ground."""
    angles = phase + np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    widen = 1.0 / np.cos(np.radians(lat))
    return np.c_[lon + radius * widen * np.cos(angles), lat + radius * np.sin(angles)]


def lakes(lon: np.ndarray, lat: np.ndarray) -> list[Feature]:
    """The lakes of a scene whose pixel centres are ``lon``, ``lat`` (see the module)."""
    rng = np.random.default_rng(23)
    out = []

    def at(row: int, col: int, name: str, radius: float = RADIUS) -> None:
        ring = _ring(lon[row, col], lat[row, col], radius, rng.uniform(0, np.pi))
        out.append(Feature(name, shapely.Polygon(ring)))

    for row in range(12, ROWS - 12, 18):
        for col in range(14, COLUMNS - 14, 16):
            jitter = rng.integers(-3, 4, 2)
            at(row + jitter[0], col + jitter[1], f"lattice_{row}_{col}")
    for row in (40, 130, 200):
        at(row, 0, f"west_edge_{row}")
        at(row, COLUMNS - 1, f"east_edge_{row}")
    at(0, 0, "corner")
    tiny = ((lon[110, 70] + lon[111, 71]) / 2, (lat[110, 70] + lat[111, 71]) / 2)
    out.append(Feature("tiny", shapely.Polygon(_ring(*tiny, RADIUS / 40, 0.0))))
    outer = _ring(lon[60, 190], lat[60, 190], 2.5 * RADIUS, 0.3)
    hole = _ring(lon[60, 190], lat[60, 190], 1.2 * RADIUS, 0.1)
    out.append(Feature("holed", shapely.Polygon(outer, [hole])))
    parts = [_ring(lon[r, c], lat[r, c], RADIUS, 0.2) for r, c in ((30, 20), (215, 235))]
    out.append(Feature("two_parts", shapely.MultiPolygon([shapely.Polygon(p) for p in parts])))
    beyond = (lon[120, 128] + 3.0 / np.cos(np.radians(lat[120, 128])), lat[120, 128])
    out.append(Feature("outside", shapely.Polygon(_ring(*beyond, RADIUS, 0.0))))
    return out


@pytest.fixture(scope="module", params=list(SCENES))
def many_lakes(request, tmp_path_factory):
    """A scene, its lakes, its whole lon/lat grid and the extract of all lakes at once."""
    lon0, lat0 = SCENES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    scene = {"rows": ROWS, "columns": COLUMNS, "seed": 4, "files": FILES}
    lon, lat = full_lonlat(small_scene(folder / "land", lon0, lat0, **scene))
    features = lakes(lon, lat)
    # The same scene with water in the lakes (the grid does not depend on the water).
    product = small_scene(folder, lon0, lat0, water=[f.geometry for f in features], **scene)
    window = extraction_window(product, features)
    result = extract_scene(
        product, features, window, ["Oa08_reflectance", "TSM_NN"], "none", threads=2
    )
    return product, features, lon, lat, result


def test_each_lakes_pixels_equal_brute_force(many_lakes):
    """Every lake's pixels are exactly the pixel centres inside it, however many lakes
    share the scene: the edge lakes keep their part in the swath, the hole's pixels are
    left out, both parts of the two-part lake count, and the lake outside the footprint and
    the tiny one have none."""
    _, features, lon, lat, result = many_lakes
    pixels = result.pixels.to_pandas()
    shared = 0
    seen = set()
    for feature in features:
        inside = shapely.intersects_xy(feature.geometry, lon, lat)
        expected = set(zip(*np.nonzero(inside), strict=True))
        own = pixels[pixels["feature"] == feature.name]
        got = list(zip(own["row"], own["col"], strict=True))
        assert len(got) == len(set(got)), feature.name  # each pixel once per lake
        assert set(got) == expected, feature.name
        np.testing.assert_array_equal(own["lon"], lon[own["row"], own["col"]])
        shared += len(seen & expected)
        seen |= expected
    names = {f.name: f for f in features}
    count = pixels["feature"].value_counts()
    assert count["outside"] == 0 and count["tiny"] == 0
    for name in ("west_edge_130", "east_edge_130", "corner"):  # seen in part
        whole = shapely.intersects_xy(names[name].geometry, lon, lat).sum()
        assert 0 < count[name] == whole
    assert count["holed"] > 0 and count["two_parts"] > 0
    for part in names["two_parts"].geometry.geoms:
        assert shapely.intersects_xy(part, lon, lat).sum() > 5
    hole = shapely.Polygon(names["holed"].geometry.interiors[0])
    assert shapely.intersects_xy(hole, lon, lat).sum() > 5  # pixels that must be left out
    assert shared > 0  # some lakes overlap: their common pixels kept for each


def test_each_lake_alone_gives_the_same_rows(many_lakes):
    """Per-lake outputs equal extracting each lake alone: its pixel rows (every column)
    and its statistics row, for the lakes of every kind above."""
    product, features, _, _, result = many_lakes
    names = ["lattice_30_46", "west_edge_40", "east_edge_200", "corner", "holed", "two_parts"]
    names += ["outside", "tiny"]
    together = feature_statistics(result, features).set_index("feature")
    pixels = result.pixels.to_pandas()
    for feature in (f for f in features if f.name in names):
        alone = extract_scene(
            product,
            [feature],
            extraction_window(product, [feature]),
            ["Oa08_reflectance", "TSM_NN"],
            "none",
            threads=1,
        )
        mine = pixels[pixels["feature"] == feature.name].reset_index(drop=True)
        theirs = alone.pixels.to_pandas()
        for frame in (mine, theirs):
            frame["feature"] = frame["feature"].astype(str)
        pd.testing.assert_frame_equal(mine, theirs)
        row = feature_statistics(alone, [feature]).set_index("feature").loc[feature.name]
        pd.testing.assert_series_equal(together.loc[feature.name], row, check_names=False)


def test_poorly_served_lakes_are_warned_of_once_per_note(many_lakes, caplog):
    """More lakes than extract logs one by one (LOGGED_FEATURES): a warning per note, whose
    count is that of the statistics table's rows with the note, naming the first of them
    in AOI order; up to that many, a warning per lake."""
    *_, features, _, _, result = many_lakes
    stats = feature_statistics(result, features)
    assert len(stats) > LOGGED_FEATURES
    with caplog.at_level(logging.WARNING, logger="eotrend"):
        warn_notes(stats.to_dict("records"))
    lines = [r.getMessage() for r in caplog.records]
    flagged = stats[~stats["note"].isin(["ok", "outside_swath"])]
    # The scenes' edge and corner lakes are seen in part, the tiny one holds no pixel.
    assert {"partial", "no_pixels"} <= set(flagged["note"])
    assert len(lines) == flagged["note"].nunique()
    for note, names in flagged.groupby("note")["feature"]:
        (line,) = [text for text in lines if NOTES[note] in text]
        assert line.startswith(f"{len(names)} features: ")
        assert ", ".join(names.iloc[:NAMED_FEATURES]) in line
    # As many as LOGGED_FEATURES or fewer: a line per lake.
    caplog.clear()
    assert len(flagged) <= LOGGED_FEATURES
    with caplog.at_level(logging.WARNING, logger="eotrend"):
        warn_notes(flagged.to_dict("records"))
    expected = [f"feature {f}: {NOTES[n]}" for f, n in flagged[["feature", "note"]].to_numpy()]
    assert [r.getMessage() for r in caplog.records] == expected


def test_statistics_csv_is_the_text_pandas_writes(many_lakes, tmp_path):
    """extract writes a scene's statistics without pandas (tables.write_csv); the text is
    what pandas' to_csv gives the same table, lakes without pixels (empty fields) and
    log10 products' gmean included, and reads back to the same values."""
    *_, features, _, _, result = many_lakes
    write_csv(statistics_rows(result, features), tmp_path / "stats.csv")
    expected = feature_statistics(result, features)
    assert expected.isna().any().any() and "TSM_NN_g.m-3_gmean" in expected
    assert (tmp_path / "stats.csv").read_text() == expected.to_csv(index=False)


def test_the_extract_command_gives_the_same_tables_without_importing_pandas(many_lakes, tmp_path):
    """The one-scene command as a user runs it: its pixel and statistics tables are those
    of extracting in process; and it never imports pandas (pyarrow would on its first
    numpy conversion; that import was a tenth of the command for 300 lakes,
    bench/lakes_bench.py), which Python's own import log (-X importtime) shows."""
    product, features, _, _, result = many_lakes
    aoi = tmp_path / "lakes.geojson"
    collection = [
        {
            "type": "Feature",
            "properties": {"name": f.name},
            "geometry": shapely.geometry.mapping(f.geometry),
        }
        for f in features
    ]
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": collection}))
    pixels, stats = tmp_path / "pixels.parquet", tmp_path / "stats.csv"
    command = [sys.executable, "-X", "importtime", "-m", "eotrend", "extract", str(product)]
    command += [str(aoi), "-o", str(pixels), "--stats", str(stats), "--quality", "none"]
    command += ["--variables", "Oa08_reflectance", "TSM_NN", "--workers", "1"]
    done = run(command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert {"numpy", "netCDF4", "pyarrow", "scipy.spatial"} <= imported
    assert not {name for name in imported if name.split(".")[0] == "pandas"}
    pd.testing.assert_frame_equal(pd.read_parquet(pixels), result.pixels.to_pandas())
    assert stats.read_text() == feature_statistics(result, features).to_csv(index=False)
