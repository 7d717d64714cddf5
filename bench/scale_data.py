"""The scenes of bench/scale_bench.py, made once under bench/out/scale/data and reused.

Deterministic: scene ``i`` of a set is always the same bytes, whatever else was made.

* small: synthetic OLCI WFR products of 128 x 129 pixels (written by
  ``eotrend.synthetic.product.write_product``), one a day from 2018-01-01 13:50 UTC,
  alternating S3A/S3B, centred on one lake (within 0.02 deg of its centre, from a
  per-scene seed) that is their inland water; the lake, a 16-vertex polygon about 6 km
  across, is the AOI (``lake.geojson``).
* full: full-size 4091 x 4865 products on the published 27-vertex polygon (= feature
  solimoes_manacapuru of data/demo/aoi.geojson). ONE product is generated (bench/common.py
  ``full_scene``); scene ``i`` is a folder whose netCDF files are hard links to it, so
  every full scene has identical pixels. What differs is what the download stage and the
  readers take from a product's name and ``xfdumanifest.xml`` (eotrend.sentinel3.reader
  ``open_product``, eotrend.sources.collect ``product_entry``): the sensing start, stop
  and creation times shifted by ``i`` days, the platform (S3A for even ``i``, S3B for odd)
  in the name and the manifest's platform section, and the product name in the manifest.
  The file sizes (and MD5s) the manifest lists stay true, so the products pass the
  download stage's checks (eotrend.sources.cdse.cache ``check_product``); the footprint is
  the generated one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import OUT, full_scene

DATA = OUT / "scale" / "data"
SMALL = DATA / "small"
FULL = DATA / "full"
LAKE = DATA / "lake.geojson"
LAKE_CENTRE = (-60.9, -3.45)  # lon, lat (deg)
SMALL_START = datetime(2018, 1, 1, 13, 50, tzinfo=UTC)
STAMP = "%Y%m%dT%H%M%S"  # name and creationTime stamps
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"  # acquisitionPeriod start/stop
PLATFORMS = {
    "S3A": ("2016-011A", "A"),
    "S3B": ("2018-039A", "B"),
}
"""Manifest platform section per mission: nssdcIdentifier and number."""


def mission(index: int) -> str:
    """The platform of scene ``index``: S3A for even, S3B for odd."""
    return ("S3A", "S3B")[index % 2]


def write_lake() -> Path:
    """The AOI of the small scenes: one lake polygon (16 vertices, radius 0.025-0.035
    deg around :data:`LAKE_CENTRE`), as GeoJSON; written once."""
    if not LAKE.is_file():
        lon0, lat0 = LAKE_CENTRE
        ring = [
            (
                lon0 + (0.03 + 0.005 * math.sin(3 * k)) * math.cos(2 * math.pi * k / 16),
                lat0 + (0.03 + 0.005 * math.sin(3 * k)) * math.sin(2 * math.pi * k / 16),
            )
            for k in range(16)
        ]
        feature = {
            "type": "Feature",
            "properties": {"name": "lake"},
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        }
        LAKE.parent.mkdir(parents=True, exist_ok=True)
        LAKE.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return LAKE


def small_spec(index: int):
    """The SceneSpec of small scene ``index`` (128 x 129 pixels, day ``index``)."""
    import numpy as np

    from eotrend.synthetic.spec import SceneSpec

    rng = np.random.default_rng([16, index])
    return SceneSpec(
        centre_lon=LAKE_CENTRE[0] + rng.uniform(-0.02, 0.02),
        centre_lat=LAKE_CENTRE[1] + rng.uniform(-0.02, 0.02),
        sensing_start=SMALL_START + timedelta(days=index),
        rows=128,
        columns=129,
        mission=mission(index),
        seed=index,
        relative_orbit=1 + (124 + 27 * index) % 385,
    )


def small_scenes(count: int) -> tuple[int, float]:
    """Make the first ``count`` small scenes under :data:`SMALL` (those missing); returns
    (scenes made, seconds taken)."""
    import time

    from eotrend.geo.aoi import read_aoi
    from eotrend.synthetic.product import write_product
    from eotrend.synthetic.spec import product_name

    water = read_aoi(write_lake())[0].geometry
    start, made = time.perf_counter(), 0
    for index in range(count):
        spec = small_spec(index)
        if not (SMALL / product_name(spec) / "xfdumanifest.xml").is_file():
            write_product(spec, SMALL, water=water)
            made += 1
    return made, time.perf_counter() - start


def small_end(count: int) -> str:
    """The sensing date (YYYY-MM-DD) of small scene ``count - 1``: the dataset's ``end``
    that keeps the first ``count`` scenes."""
    return (SMALL_START + timedelta(days=count - 1)).date().isoformat()


def full_start() -> datetime:
    """Sensing start of full scene 0 (the generated one), from its manifest."""
    from eotrend.sentinel3.reader import open_product

    return open_product(full_scene()).sensing_start


def full_end(count: int) -> str:
    """The sensing date (YYYY-MM-DD) of full scene ``count - 1``."""
    return (full_start() + timedelta(days=count - 1)).date().isoformat()


def clone_name(base: str, days: int, platform: str) -> str:
    """Product name ``base`` (without .SEN3) with its start, stop and creation stamps
    shifted by ``days`` and its mission set to ``platform``."""
    from eotrend.sentinel3.layout import PRODUCT_NAME

    match = PRODUCT_NAME.match(base)
    name = list(base)
    for field in ("start", "stop", "created"):
        shifted = datetime.strptime(match[field], STAMP) + timedelta(days=days)
        first, last = match.span(field)
        name[first:last] = shifted.strftime(STAMP)
    name[0:3] = platform
    return "".join(name)


def clone_manifest(text: str, base: str, days: int, platform: str) -> str:
    """The base product's xfdumanifest.xml text for its clone: product name, start, stop
    and creation times, and platform section replaced (each found exactly once in the
    base text; all replaced in one pass, so a shifted time never matches another key)."""
    from eotrend.sentinel3.layout import PRODUCT_NAME

    match = PRODUCT_NAME.match(base)
    old_platform, new_platform = PLATFORMS[base[:3]], PLATFORMS[platform]

    def stamp(value: str) -> str:
        return (datetime.strptime(value, STAMP) + timedelta(days=days)).strftime(STAMP)

    def iso(tag: str) -> tuple[str, str]:
        found = re.search(rf"<sentinel-safe:{tag}>([^<]+)</sentinel-safe:{tag}>", text)
        moved = datetime.strptime(found[1], ISO) + timedelta(days=days)
        return found[0], found[0].replace(found[1], moved.strftime(ISO))

    created = match["created"]
    nssdc, number = "sentinel-safe:nssdcIdentifier", "sentinel-safe:number"
    keys = dict(
        [
            iso("startTime"),
            iso("stopTime"),
            (base, clone_name(base, days, platform)),
            (
                f"<sentinel3:creationTime>{created}</sentinel3:creationTime>",
                f"<sentinel3:creationTime>{stamp(created)}</sentinel3:creationTime>",
            ),
            (
                f"<{nssdc}>{old_platform[0]}</{nssdc}>",
                f"<{nssdc}>{new_platform[0]}</{nssdc}>",
            ),
            (f"<{number}>{old_platform[1]}</{number}>", f"<{number}>{new_platform[1]}</{number}>"),
        ]
    )
    for key in keys:
        count = text.count(key)
        assert count == 1, f"{key!r} occurs {count} times in the manifest of {base}"
    pattern = re.compile("|".join(map(re.escape, keys)))
    return pattern.sub(lambda found: keys[found[0]], text)


def full_scenes(count: int) -> tuple[int, float]:
    """Make the first ``count`` full scenes under :data:`FULL` (hard links to the one
    generated product, see the module docstring); a scene whose files are not links to
    the current base product (remade since: bench/common.py ``full_scene`` remakes it
    when its spec changes) is made again. Returns (scenes made, seconds taken, making
    the base product included when it was made here)."""
    import time

    start, made = time.perf_counter(), 0
    base = full_scene()
    name = base.name.removesuffix(".SEN3")
    files = sorted(base.glob("*.nc"))
    text = (base / "xfdumanifest.xml").read_text(encoding="utf-8")
    FULL.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        platform = mission(index)
        folder = FULL / f"{clone_name(name, index, platform)}.SEN3"
        if (folder / "xfdumanifest.xml").is_file() and all(
            (folder / f.name).is_file() and os.path.samefile(folder / f.name, f) for f in files
        ):
            continue
        tmp = FULL / f".{folder.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for path in files:
            os.link(path, tmp / path.name)
        manifest = clone_manifest(text, name, index, platform)
        (tmp / "xfdumanifest.xml").write_text(manifest, encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        made += 1
    return made, time.perf_counter() - start
