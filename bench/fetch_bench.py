"""Bytes and wall time per scene of the fetch modes, side by side in one run, against the
loopback services: the catalogue/OData service of tests/support/fake_cdse.py and a real S3
server (moto, tests/support/local_s3.py).

One full-size synthetic OLCI WFR product (4091 x 4865, every file of the real product's
set but tie_meteo.nc and instrument_data.nc (18.5 MB in a real product, not generated: the
zip here is that much lighter than a real one), deflated netCDF, with real-sized
reflectance files; bench/common.py ``full_scene(real_bytes=True)``) centred on the
published 27-vertex polygon (sen3r's example, = feature solimoes_manacapuru of
data/demo/aoi.geojson); the demo's two-variable dataset (Oa08_reflectance, TSM_NN; quality
water). For each mode: the download stage (``eotrend.sources.collect.collect``: search,
fetch, verify) and then the locate and extract commands on the product it left (their own
processes); bytes are what the servers sent (their request logs), not what the client
says. The pixel tables of all modes must be equal (checked before the table is printed).

* zip: the whole product zip (``Products(<Id>)/$value``);
* files: the files the dataset reads, over the OData Nodes API;
* s3_windows: the manifest only, then locate and extract read their windows from the
  object store (h5netcdf over s3fs, in 64 KiB blocks, the source.cdse default, and in
  256 KiB blocks: fewer requests, more bytes).

The synthetic generator's chunking (scripts/eotrend/synthetic/netcdf.py): 64 rows x 512
columns per chunk, deflate level 4 with shuffle (real products' chunking is unverified).
Why: 64 KiB of uint16 per chunk, so a window of a few hundred pixels touches a handful of
chunks and a chunk is about one 64 KiB read block; 512 columns keep the chunk index small
(10 chunk columns across the swath). Extrapolation: 4,000 scenes (a six-year daily series
over one lake) at the service's 4 connections x 20 MB/s (CDSE's Quotas page,
https://documentation.dataspace.copernicus.eu/Quotas.html).

    python bench/fetch_bench.py
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from common import EOTREND, OUT, REPO, SEED, full_scene, load_average, table

sys.path.insert(0, str(REPO / "tests"))

VARIABLES = ["Oa08_reflectance", "TSM_NN"]
MODES = (("zip", 0), ("files", 0), ("s3_windows", 64), ("s3_windows", 256))
"""(fetch mode, s3_block_kib) measured."""
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


def dataset(cache: Path, fake, s3, mode: str, block_kib: int) -> dict:
    import yaml

    from eotrend.core.config import load_dataset

    settings = fake.settings(fetch=mode, s3_endpoint=s3.endpoint, retries=2, backoff_s=0.1)
    if block_kib:
        settings["s3_block_kib"] = block_kib
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


def locate_and_extract(product: Path, out: Path, env: dict) -> tuple[float, object]:
    """The locate and extract commands; (wall seconds, pixel table)."""
    import pandas as pd

    commands = [
        ["locate", product, SEED, "-o", out / "v.csv", "--window", out / "w.json"],
        [
            *("extract", product, SEED, "-o", out / "p.parquet"),
            *("--stats", out / "s.csv", "--window", out / "w.json", "--variables", *VARIABLES),
        ],
    ]
    start = time.perf_counter()
    for command in commands:
        subprocess.run([*EOTREND, *map(str, command)], env=env, check=True)
    return time.perf_counter() - start, pd.read_parquet(out / "p.parquet")


def main() -> str:
    import shapely

    from eotrend.sentinel3.footprint import read_footprint
    from eotrend.sentinel3.reader import open_product
    from eotrend.sources.collect import collect
    from support.fake_cdse import FakeCdse, FakeProduct
    from support.local_s3 import LocalS3

    product = full_scene(real_bytes=True)
    meta = open_product(product)
    files = {p.name: p.read_bytes() for p in sorted(product.iterdir())}
    data = product_zip(product)
    item = FakeProduct(
        name=product.name,
        data=data,
        start=meta.sensing_start,
        stop=meta.sensing_stop,
        footprint=shapely.Polygon(read_footprint(product)),
        nodes=files,
    )
    work = OUT / "fetch"
    shutil.rmtree(work, ignore_errors=True)
    rows, pixels = [], {}
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
        for mode, block_kib in MODES:
            label = f"{mode} ({block_kib} KiB blocks)" if block_kib else mode
            run_dir = work / f"{mode}-{block_kib}"
            cache = run_dir / "cache"
            cache.mkdir(parents=True)
            cfg = dataset(cache, fake, s3, mode, block_kib)
            before = len(fake.requests)
            s3.reset()
            start = time.perf_counter()
            (entry,) = collect("bench", cfg, threads=2)
            download_s = time.perf_counter() - start
            assert entry.status == "ok", entry.reason
            fetched = sum(r.sent for r in fake.requests[before:]) + s3.sent()
            s3.reset()
            out = run_dir / "out"
            out.mkdir()
            jobs_s, pixels[label] = locate_and_extract(Path(entry.path), out, env)
            remote = s3.sent()
            requests = sum(1 for r in s3.requests() if r["method"] == "GET")
            total = fetched + remote
            hours = SCENES * total / RATE / 3600
            rows.append(
                (
                    label,
                    f"{fetched / 1e6:.2f}",
                    f"{download_s:.1f}",
                    f"{remote / 1e6:.2f} ({requests} GETs)" if remote else "0",
                    f"{jobs_s:.1f}",
                    f"{total / 1e6:.2f}",
                    f"{100 * total / len(data):.2f} %",
                    f"{SCENES * total / 1e12:.3f} TB, {hours:.2f} h",
                )
            )
    for label, table_ in pixels.items():
        assert table_.equals(pixels["zip"]), f"{label}: pixels differ from zip's"
    header = (
        "fetch",
        "download MB",
        "download s",
        "locate+extract remote MB",
        "locate+extract s",
        "MB per scene",
        "of the zip",
        f"{SCENES} scenes at 4 x 20 MB/s",
    )
    title = (
        f"fetch modes, one {meta.rows} x {meta.columns} scene ({len(data) / 1e6:.1f} MB zip, "
        f"{len(pixels['zip'])} pixels in the seed polygon, equal in every mode), "
        f"variables {' '.join(VARIABLES)}; {load_average()}"
    )
    return f"{title}\n\n{table(rows, header)}\n"


if __name__ == "__main__":
    print(main())
