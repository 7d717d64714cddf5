"""Stack stage against the GDAL floor, on the published size and a Landsat-scene size.

21 yearly float32 rasters (1995-2015) like Earth Engine maximum-NDVI exports (no date
tag, -9999 nodata, DEFLATE-compressed, tiled), written by the synthetic series
generator: 707 x 1033 pixels (the published example, 730,331 pixels; the stack is 61 MB
as float32) in ``main()``, and 7000 x 7000 (a Landsat-scene-sized 49 M pixels; the stack
is 4.1 GB) in ``scale()``. Inputs are made once under bench/out/stack_<rows>x<cols>/
(the large set takes a few minutes and 3 GB of disk) and reused.

Measured in one run, each as a command (interpreter start included):

* floor: GDAL alone reads every input and writes one multi-band GeoTIFF with the stage's
  creation options (256-pixel tiles, DEFLATE level 1 with the floating-point predictor,
  pixel-interleaved float32, 2 compression threads): ``gdal.Translate`` of a VRT that
  stacks the inputs (separate=True);
* the same at GDAL's defaults (DEFLATE level 6, one thread), what ``gdal_translate``
  alone would do;
* read only: GDAL reads every input once, by 256-row blocks;
* ``python -m eotrend stack`` on the inputs in reverse name order, ``--workers 2``.

Peak memory: the largest single process (the kernel's RUSAGE_CHILDREN, as /usr/bin/time
-v reports it) and the whole process tree (the command and its workers, sampled).

    .venv/bin/python bench/stack_bench.py [--scale]
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import EOTREND, OUT, command_tree, load_average, table

from eotrend.synthetic.series import write_yearly_series

YEARS = range(1995, 2016)
PUBLISHED = (707, 1033)
SCALE = (7000, 7000)
# What the stack stage's GeoTiffWriter creates (eotrend.stages.stack, eotrend.geo.raster).
STAGE_OPTIONS = [
    "TILED=YES",
    "BLOCKXSIZE=256",
    "BLOCKYSIZE=256",
    "BIGTIFF=IF_SAFER",
    "INTERLEAVE=PIXEL",
    "COMPRESS=DEFLATE",
    "PREDICTOR=3",
    "ZLEVEL=1",
    "NUM_THREADS=2",
]
DEFAULT_OPTIONS = STAGE_OPTIONS[:-2]
# argv: output, creation options (comma-separated), inputs...
FLOOR = """
import sys
from osgeo import gdal
gdal.UseExceptions()
vrt = gdal.BuildVRT("/vsimem/stack.vrt", sys.argv[3:], separate=True)
out = gdal.Translate(
    sys.argv[1], vrt, creationOptions=sys.argv[2].split(","), outputType=gdal.GDT_Float32
)
del out
"""
READ = """
import sys
from osgeo import gdal
gdal.UseExceptions()
for path in sys.argv[1:]:
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    for row in range(0, ds.RasterYSize, 256):
        band.ReadAsArray(0, row, ds.RasterXSize, min(256, ds.RasterYSize - row))
"""


def inputs(height: int, width: int) -> list[Path]:
    """The 21 yearly rasters of one size, made once."""
    folder = OUT / f"stack_{height}x{width}"
    paths = sorted(folder.glob("ndvi_max_*.tif"))
    if len(paths) != len(YEARS):
        paths = write_yearly_series(
            folder, years=YEARS, width=width, height=height, seed=1, date_tag=False
        )
    return paths


def bench_size(height: int, width: int) -> str:
    """The table for one raster size."""
    paths = [str(p) for p in inputs(height, width)]
    out = OUT / f"stack_{height}x{width}_out"
    out.mkdir(exist_ok=True)
    python = sys.executable
    before = load_average()
    floor = command_tree(
        [python, "-c", FLOOR, str(out / "floor.tif"), ",".join(STAGE_OPTIONS), *paths]
    )
    default = command_tree(
        [python, "-c", FLOOR, str(out / "default.tif"), ",".join(DEFAULT_OPTIONS), *paths]
    )
    read = command_tree([python, "-c", READ, *paths])
    stage = command_tree(
        [*EOTREND, "stack", *paths[::-1], "-o", str(out / "stack.tif"), "--workers", "2"]
    )
    after = load_average()
    rows = []
    for name, (wall, largest, tree) in (
        ("floor: GDAL reads all, writes one GeoTIFF (stage's options)", floor),
        ("the same at GDAL's defaults (DEFLATE 6, 1 thread)", default),
        ("read only: GDAL reads all inputs", read),
        ("stack.py --workers 2", stage),
    ):
        ratio = f"{wall / floor[0]:.2f}"
        rows.append((name, f"{wall:.1f}", ratio, f"{largest:.0f}", f"{tree:.0f}"))
    stack_mb = len(paths) * height * width * 4 / 2**20
    sizes = {p.name: p.stat().st_size / 2**20 for p in out.glob("*.tif")}
    return (
        f"### stack: {len(paths)} float32 rasters of {height} x {width} "
        f"({height * width:,} pixels; the stack is {stack_mb:,.0f} MB as float32)\n\n"
        + table(rows, ("method", "seconds", "x floor", "peak RSS (MB)", "process tree (MB)"))
        + f"\n\nfiles: stack.tif {sizes['stack.tif']:,.0f} MB, floor {sizes['floor.tif']:,.0f}"
        f" MB, GDAL defaults {sizes['default.tif']:,.0f} MB; {before} before, {after} after\n"
    )


def main() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    return bench_size(*PUBLISHED)


def scale() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    return bench_size(*SCALE)


if __name__ == "__main__":
    print(main(), flush=True)
    if "--scale" in sys.argv[1:]:
        print(scale())
