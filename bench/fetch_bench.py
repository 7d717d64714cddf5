"""Bytes per scene of the fetch modes against the chunk floor, for three chunkings, in one
run, against the loopback services: the catalogue/OData service of
tests/support/fake_cdse.py and a real S3 server (moto, tests/support/local_s3.py).

One full-size synthetic OLCI WFR product (4091 x 4865, every file of the real product's
set but tie_meteo.nc and instrument_data.nc, deflated netCDF with real-sized reflectance
files; bench/common.py ``full_scene(real_bytes=True)``) centred on the published
27-vertex polygon (sen3r's example, = feature solimoes_manacapuru of
data/demo/aoi.geojson), rewritten with each chunking of its image variables: 512 x 512,
1,024 x 1,024 and the netCDF library's default (tests/support/chunks.py; the chunking of
real products is not documented). The demo's two-variable dataset (Oa08_reflectance,
TSM_NN; quality water). Per chunking and fetch mode: the download stage (search, fetch,
verify, the check of variables and flags) in this process, then the scenes command
(locate, extract, grid; its own process) on the product it left. Bytes are what the
servers sent (their request logs), not what the client says; the batch table's
``remote_bytes`` must equal them. The pixel tables of all modes and chunkings are equal
(checked before the table is printed).

* zip: the whole product zip; files: the files the dataset reads, over the OData Nodes
  API; s3_windows: the manifest (and the attributes the check of variables and flags
  reads), then the scenes job reads the chunks of its pixels from the object store.
* The chunk floor: the compressed size of the chunks the pixels of the polygon lie in, in
  geo_coordinates.nc (longitude, latitude), wqsf.nc and the two variables' files, plus
  the whole tie-point grid (locate's index), from each file's chunk index (h5py).
* "geo read": the bytes of geo_coordinates.nc the scene fetched, and how many of them
  were distinct (locate and extract both read its chunks: read once when equal).

Before issue 24 (the same products and polygon, the previous code: 64 KiB blocks, locate
and extract each fetching their own windows, the data files' whole window, the download
stage reading a WQSF chunk): s3_windows scenes 7.22 MB (1.95 % of the zip, 2.27 x the
floor) with 512 x 512 chunks, 11.28 MB (2.98 %, 1.69 x) with 1,024 x 1,024 and 26.55 MB
(6.85 %, 1.53 x) with the default chunking, geo_coordinates.nc fetched 3.8, 6.4 and 7.2 MB
against floors of 0.9, 2.6 and 3.2 MB; the download stage 0.31 MB.

Extrapolation: 4,000 scenes (a six-year daily series over one lake) at the service's
4 connections x 20 MB/s (CDSE's Quotas page,
https://documentation.dataspace.copernicus.eu/Quotas.html).

    python bench/fetch_bench.py
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

from common import EOTREND, OUT, REPO, SEED, full_scene, load_average, table

sys.path.insert(0, str(REPO / "tests"))

VARIABLES = ["Oa08_reflectance", "TSM_NN"]
CHUNKINGS = (("512 x 512", (512, 512)), ("1,024 x 1,024", (1024, 1024)), ("netCDF default", None))
MODES = ("zip", "files", "s3_windows")
READS = {
    "geo_coordinates.nc": ("longitude", "latitude"),
    "wqsf.nc": ("WQSF",),
    "Oa08_reflectance.nc": ("Oa08_reflectance",),
    "tsm_nn.nc": ("TSM_NN",),
}
SCENES = 4000
RATE = 4 * 20e6  # bytes/s: 4 connections x 20 MB/s
USERNAME, PASSWORD = "bench-user", "bench-password-1"


def product_zip(folder: Path) -> bytes:
    """The product zipped as the service serves it (stored, one top folder)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{folder.name}/{path.name}")
    return buffer.getvalue()


def chunked_scene(chunks: tuple[int, int] | None) -> Path:
    """The full-size product with its image variables in ``chunks`` (None: the netCDF
    library's default), made once under bench/out (remade when the product changes)."""
    from support.chunks import rechunk

    source = full_scene(real_bytes=True)
    folder = OUT / "fetch_chunks" / ("default" if chunks is None else f"{chunks[0]}x{chunks[1]}")
    stamp = folder / "source.txt"
    want = f"{source} {(source.parent / 'spec.txt').read_text()}"
    if not stamp.is_file() or stamp.read_text() != want:
        shutil.rmtree(folder, ignore_errors=True)
        rechunk(source, folder, chunks)
        stamp.write_text(want)
    return folder / source.name


def dataset(cache: Path, fake, s3, mode: str) -> dict:
    import yaml

    from eotrend.core.config import load_dataset

    settings = fake.settings(fetch=mode, s3_endpoint=s3.endpoint, retries=2, backoff_s=0.1)
    config = {
        "datasets": {
            "bench": {
                "kind": "sentinel3",
                "aoi": str(SEED),
                "start": "2020-01-01",
                "end": "2020-12-31",
                "variables": VARIABLES,
                "source": {"type": "cdse", "cache": str(cache), "cdse": settings},
            }
        }
    }
    path = cache.parent / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_dataset(path, "bench")


def scenes_job(manifest: Path, out: Path, env: dict):
    """The scenes command on the scene list; (batch table, pixel table)."""
    import pandas as pd

    command = [
        *EOTREND,
        *("scenes", manifest, SEED, "-o", out / "batch.csv", "--scenes-dir", out / "scenes"),
        *("--workers", "1", "--variables", *VARIABLES),
    ]
    subprocess.run(list(map(str, command)), env=env, check=True, capture_output=True)
    return pd.read_csv(out / "batch.csv"), pd.read_parquet(out / "batch" / "pixels.parquet")


def distinct(ranges: list[tuple[int, int]]) -> int:
    """Bytes covered by inclusive byte ranges (first, last)."""
    total, reach = 0, -1
    for first, last in sorted(ranges):
        if last > reach:
            total += last - max(first, reach + 1) + 1
            reach = last
    return total


def measure(label: str, chunks, work: Path, pixels: dict) -> tuple[list, list]:
    """Rows of the table for one chunking, and its notes."""
    import shapely

    from eotrend.sentinel3.footprint import read_footprint
    from eotrend.sentinel3.reader import open_product
    from eotrend.stages.download import run as download
    from support.chunks import scene_floor
    from support.fake_cdse import FakeCdse, FakeProduct
    from support.local_s3 import LocalS3

    product = chunked_scene(chunks)
    meta = open_product(product)
    data = product_zip(product)
    item = FakeProduct(
        name=product.name,
        data=data,
        start=meta.sensing_start,
        stop=meta.sensing_stop,
        footprint=shapely.Polygon(read_footprint(product)),
        nodes={p.name: p.read_bytes() for p in sorted(product.iterdir())},
    )
    rows, notes = [], []
    with FakeCdse(USERNAME, PASSWORD) as fake, LocalS3() as s3:
        fake.add(item)
        s3.upload_folder(product, item.entity(False)["S3Path"].removeprefix("/eodata/"))
        env = {
            **os.environ,
            "CDSE_USERNAME": USERNAME,
            "CDSE_PASSWORD": PASSWORD,
            "NETRC": str(work / "no-netrc"),
            "CDSE_S3_ACCESS_KEY": s3.access,
            "CDSE_S3_SECRET_KEY": s3.secret,
        }
        os.environ.update(env)
        for mode in MODES:
            run_dir = work / label.replace(" ", "").replace(",", "") / mode
            (run_dir / "cache").mkdir(parents=True)
            before = len(fake.requests)
            s3.reset()
            manifest = run_dir / "manifest.csv"
            download(
                dataset="bench",
                settings=dataset(run_dir / "cache", fake, s3, mode),
                manifest=str(manifest),
                threads=2,
            )
            fetched = sum(r.sent for r in fake.requests[before:]) + s3.sent()
            s3.reset()
            batch, pixels[(label, mode)] = scenes_job(manifest, run_dir, env)
            gets = [r for r in s3.requests() if r["method"] == "GET"]
            remote = sum(r["sent"] for r in gets)
            (recorded,) = batch["remote_bytes"]
            assert recorded == remote, f"{label} {mode}: batch table {recorded}, server {remote}"
            total = fetched + remote
            floor = scene_floor(
                product, READS, pixels[(label, mode)]["row"], pixels[(label, mode)]["col"]
            )
            floor_bytes = sum(floor.values())
            rows.append(
                (
                    label,
                    mode,
                    f"{fetched / 1e6:.2f}",
                    f"{remote / 1e6:.2f} ({len(gets)} GETs)" if remote else "0",
                    f"{total / 1e6:.2f}",
                    f"{100 * total / len(data):.2f} %",
                    f"{floor_bytes / 1e6:.2f} ({100 * floor_bytes / len(data):.2f} %)",
                    f"{total / floor_bytes:.2f}",
                    f"{SCENES * total / 1e12:.3f} TB, {SCENES * total / RATE / 3600:.2f} h",
                )
            )
            if mode == "s3_windows":
                geo = [
                    tuple(map(int, r["range"].removeprefix("bytes=").split("-")))
                    for r in gets
                    if r["path"].endswith("/geo_coordinates.nc")
                ]
                sent = defaultdict(int)
                for r in gets:
                    sent[r["path"].rpartition("/")[2]] += r["sent"]
                notes.append(
                    f"{label}, s3_windows: the scene fetched {remote / 1e6:.2f} MB against a "
                    f"floor of {floor_bytes / 1e6:.2f} MB ({remote / floor_bytes:.2f} x); "
                    "per file (fetched / floor, kB): "
                    + ", ".join(
                        f"{n} {sent[n] / 1e3:.0f} / {floor[n] / 1e3:.0f}" for n in sorted(floor)
                    )
                    + f"; geo read: {sum(b - a + 1 for a, b in geo) / 1e3:.0f} kB fetched, "
                    f"{distinct(geo) / 1e3:.0f} kB distinct; zip {len(data) / 1e6:.1f} MB"
                )
    return rows, notes


def main() -> str:
    work = OUT / "fetch"
    shutil.rmtree(work, ignore_errors=True)
    rows, notes, pixels = [], [], {}
    for label, chunks in CHUNKINGS:
        more_rows, more_notes = measure(label, chunks, work, pixels)
        rows += more_rows
        notes += more_notes
    first = next(iter(pixels.values()))
    for key, frame in pixels.items():
        assert frame.equals(first), f"{key}: pixels differ"
    header = (
        "chunking",
        "fetch",
        "download MB",
        "scenes job MB",
        "MB per scene",
        "of the zip",
        "chunk floor MB",
        "/ floor",
        f"{SCENES} scenes at 4 x 20 MB/s",
    )
    title = (
        f"fetch modes and chunkings, one 4091 x 4865 scene, {len(first)} pixels in the seed "
        f"polygon (equal in every mode and chunking), variables {' '.join(VARIABLES)}; "
        f"{load_average()}"
    )
    return f"{title}\n\n{table(rows, header)}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


if __name__ == "__main__":
    print(main())
