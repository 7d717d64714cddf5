"""A scene read from the object store costs about the chunks its pixels lie in.

The facts: netCDF-4 variables are stored in chunks, each deflated on its own (Unidata's
netCDF-4 chunking notes; HDF5's chunked storage), so reading the pixels of a lake costs
at least the compressed size of the chunks they lie in: the chunk floor. The chunking of
real OLCI products is not documented (readers must not assume one), so the same product
is stored with two chunkings. The oracles: the floor, computed here from each file's own
chunk index (h5py, ``get_chunk_info_by_coord``) and the pixel rows and columns of the
scene's pixel table, plus the whole tie-point grid (locate's index); and the bytes and
ranges a real S3 server on loopback (moto, tests/support/local_s3.py) logs as sent.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import shapely

from eotrend.sentinel3 import remote
from eotrend.sources.entries import product_entry
from eotrend.sources.scenelist import write_manifest
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec
from support.chunks import chunk_shape, rechunk, scene_floor
from support.local_s3 import LocalS3
from support.scenes import write_polygons

REPO = Path(__file__).resolve().parents[2]
VARIABLES = ("Oa08_reflectance", "TSM_NN")
READS = {
    "geo_coordinates.nc": ("longitude", "latitude"),
    "wqsf.nc": ("WQSF",),
    "Oa08_reflectance.nc": ("Oa08_reflectance",),
    "tsm_nn.nc": ("TSM_NN",),
}
CHUNKINGS = {"128x128": (128, 128), "1024x1024": (1024, 1024)}
RING = [(-60.98, -3.47), (-60.86, -3.49), (-60.80, -3.42), (-60.84, -3.33), (-60.95, -3.34)]
FLOOR_FACTOR = 1.3


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The S3 server, the AOI file and per chunking (local product, remote folder): a
    product as wide as a real frame (4865 columns) and half as long (2049 rows: half the
    time to make), with the files the scene reads, reflectance noise so that chunks
    compress like real ones, and a lake across the middle (where 128- and 1024-pixel
    chunks meet: row 1024, column 2432)."""
    base = tmp_path_factory.mktemp("floor")
    when = datetime(2020, 6, 1, 13, 50, tzinfo=UTC)
    spec = SceneSpec(-60.9, -3.4, when, rows=2049, reflectance_noise=4e-5)
    original = write_product(
        spec,
        base / "original",
        water=shapely.Polygon(RING).buffer(0.3),
        files={"wqsf.nc", "Oa08_reflectance.nc", "tsm_nn.nc"},
    )
    aoi = write_polygons(base / "aoi.geojson", [[RING]], ["lake"])
    with LocalS3() as s3:
        folders = {}
        for label, chunks in CHUNKINGS.items():
            local = rechunk(original, base / label, chunks, READS)
            key = f"Sentinel-3/OLCI/OL_2_WFR___/{label}/{local.name}"
            s3.upload_folder(local, key)
            folder = base / f"remote-{label}" / local.name
            folder.mkdir(parents=True)
            (folder / remote.MANIFEST).write_bytes((local / remote.MANIFEST).read_bytes())
            remote.write_marker(folder, remote.RemoteProduct(s3.endpoint, s3.bucket, key))
            folders[label] = (local, folder)
        yield s3, aoi, folders


def run_scenes(s3: LocalS3, aoi: Path, product: Path, out: Path) -> Path:
    """The scenes command on one product (its own process, the S3 keys in its environment
    like a compute node's job); returns the batch table."""
    out.mkdir()
    write_manifest(out / "manifest.csv", [product_entry(product)])
    env = {
        "CDSE_S3_ACCESS_KEY": s3.access,
        "CDSE_S3_SECRET_KEY": s3.secret,
        "PATH": "/usr/bin",
        "PYTHONPATH": str(REPO / "scripts"),
    }
    command = [
        *(sys.executable, "-m", "eotrend", "scenes", out / "manifest.csv", aoi),
        *("-o", out / "batch.csv", "--scenes-dir", out / "scenes", "--workers", "1"),
        *("--variables", *VARIABLES),
    ]
    done = subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "batch.csv"


@pytest.mark.slow  # about a minute with its product: not in make test-quick
@pytest.mark.parametrize("label", CHUNKINGS)
def test_a_scene_reads_at_most_1_3_times_its_chunk_floor_each_byte_once(stored, tmp_path, label):
    """With the real chunk layout: the bytes the S3 server sent for one scene (locate,
    extract and grid through the scenes command) are at most 1.3 times the compressed
    size of the chunks its pixels lie in plus the tie-point grid; no byte range of
    geo_coordinates.nc (read by locate and by extract) is sent twice; the batch table
    records exactly the requests and bytes the server logged."""
    s3, aoi, folders = stored
    local, folder = folders[label]
    assert chunk_shape(local / "wqsf.nc", "WQSF") == CHUNKINGS[label]
    s3.reset()
    table = pd.read_csv(run_scenes(s3, aoi, folder, tmp_path / "run"))
    gets = [r for r in s3.requests() if r["method"] == "GET"]
    pixels = pd.read_parquet(tmp_path / "run" / "batch" / "pixels.parquet")
    assert len(pixels) > 1000  # the lake is seen, across chunk borders
    floor = scene_floor(local, READS, pixels["row"].to_numpy(), pixels["col"].to_numpy())
    sent = defaultdict(int)
    for request in gets:
        sent[request["path"].rpartition("/")[2]] += request["sent"]
    assert set(sent) == set(floor)
    assert sum(sent.values()) <= FLOOR_FACTOR * sum(floor.values()), (dict(sent), floor)

    geo = sorted(
        tuple(map(int, r["range"].removeprefix("bytes=").split("-")))
        for r in gets
        if r["path"].endswith("/geo_coordinates.nc")
    )
    assert all(last < first for (_, last), (first, _) in itertools.pairwise(geo)), geo

    (row,) = table.itertuples()
    assert row.status == "done"
    assert (row.remote_requests, row.remote_bytes) == (len(gets), sum(sent.values()))
