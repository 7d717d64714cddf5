"""Trend tiles: one stack split into row tiles fitted as separate jobs, then gathered.

For stacks too large for one job, Snakemake's scattergather runs one trend job per row
tile (``--set-scatter trend_tiles=N``); each job fits its rows of the stack (through a
VRT window of it, no copy) and the gather writes them into one GeoTIFF. A pixel's
statistics depend only on its own values and the dates, so the gathered result equals
the single-job result exactly.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from osgeo import gdal

from eotrend import fdr, raster
from eotrend.errors import InputError

gdal.UseExceptions()
log = logging.getLogger(__name__)

SCATTER_ITEM = re.compile(r"^(\d+)-of-(\d+)$")


def parse_tile(item: str) -> tuple[int, int]:
    """(index, count) of a Snakemake scatter item such as "2-of-7" (index from 1)."""
    match = SCATTER_ITEM.match(item)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError(f"--tile {item}", "is not a tile such as 2-of-7", "Give INDEX-of-COUNT.")
    return int(match.group(1)), int(match.group(2))


def tile_rows(height: int, index: int, count: int) -> tuple[int, int]:
    """Rows [row0, row1) of tile ``index`` (1-based) of ``count`` near-equal row tiles."""
    if count > height:
        raise InputError(
            f"{count} tiles",
            f"are more than the stack's {height} rows",
            "Use at most as many trend tiles as the stack has rows.",
        )
    return (index - 1) * height // count, index * height // count


def fit_tile(stack: Path, output: Path, item: str, **options) -> None:
    """Fit the rows of tile ``item`` of ``stack`` into ``output`` (a plain tiled GeoTIFF).

    ``options`` go to :func:`eotrend.trending.trend` (min_obs, time_unit, robust, threads,
    mem_mb, tags).
    """
    from eotrend.trending import trend

    index, count = parse_tile(item)
    info = raster.read_info(stack)
    row0, row1 = tile_rows(info.height, index, count)
    log.info("tile %s: rows %d-%d of %d", item, row0, row1 - 1, info.height)
    with tempfile.TemporaryDirectory(dir=Path(output).parent) as folder:
        window = Path(folder) / "rows.vrt"
        source = gdal.Open(str(stack))
        gdal.Translate(str(window), source, format="VRT", srcWin=[0, row0, info.width, row1 - row0])
        source = None  # closed before the VRT is read
        trend(window, Path(output), cog=False, fill_qvalues=False, **options)


def gather(
    tiles: list[Path], output: Path, *, threads: int | None = None, compress: str = "ZSTD"
) -> None:
    """Write row tiles (in order) into one Cloud-Optimised GeoTIFF ``output``.

    The tiles must share width, bands and CRS; the output takes the first tile's origin,
    band names and tags. A qvalue band (trend.fdr) is filled here, from the p-values of
    all the tiles (:class:`eotrend.fdr.TileFiller`).
    """
    infos = [raster.read_info(tile) for tile in tiles]
    first = infos[0]
    for info in infos[1:]:
        if (info.width, info.count, info.descriptions) != (
            first.width,
            first.count,
            first.descriptions,
        ):
            raise InputError(
                info.path,
                f"is not a tile of the same trend as {first.path}",
                "Delete the tiles and run the trend again.",
            )
    height = sum(info.height for info in infos)
    fill = fdr.TileFiller(infos) if fdr.TileFiller.wanted(first) else None
    with raster.GeoTiffWriter(
        output,
        width=first.width,
        height=height,
        count=first.count,
        transform=first.transform,
        crs_wkt=first.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=list(first.descriptions),
        tags=first.tags,
        cog=True,
        compress=compress,
        level=1 if compress.upper() in ("ZSTD", "DEFLATE") else None,
        overviews=raster.overview_levels(first.width, height),
        threads=threads,
    ) as writer:
        row = 0
        for info in infos:
            block = raster.read_rows(info.path, 0, info.height)
            writer.write_rows(row, fill(block) if fill else block)
            row += info.height
    log.info("gathered %d tiles (%d rows) into %s", len(tiles), height, output)
