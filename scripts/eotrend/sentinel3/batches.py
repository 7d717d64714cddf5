"""A batch's declared files: the outputs of its scenes gathered into four files.

A batch job works scene by scene in per-scene work folders (a cache, see
:mod:`eotrend.stages.scenes`); what later rules read are these files, which Snakemake
knows as the batch's outputs:

* ``stats.csv``: every scene's statistics rows (one per scene and feature);
* ``pixels.parquet``: every scene's pixel table, one row group per scene (each has a
  ``scene`` column); the file metadata ``eotrend`` maps each scene to its own description
  (as :func:`eotrend.sentinel3.extract.write_pixels` writes it);
* ``windows.json``: each scene's extraction window (locate's ``window.json``);
* ``grids.tif``: every scene's grid of every variable on the dataset grid, one band per
  scene and variable (scene-major, in batch order), each band's metadata holding its
  scene's tags (SCENE, ACQUISITION_DATETIME, COVERAGE, provenance) and the variable's
  (VARIABLE, UNIT).

Each is written atomically, in memory bounded by one scene's table or one row block of
the grids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eotrend.core.atomic import atomic_path, write_text
from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.sentinel3 import layout

GRID_BLOCK_BYTES = 128 * 2**20
"""The most memory one row block of a batch's grids takes while they are gathered."""


def write_stats(paths: list[Path], output: Path) -> None:
    """The scenes' statistics tables (CSV) as one CSV, in the given order (counts as
    whole numbers, :func:`eotrend.sentinel3.layout.whole_counts`)."""
    table = layout.whole_counts(pd.concat([pd.read_csv(path) for path in paths], ignore_index=True))
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)


def write_pixels(paths: list[Path], output: Path) -> None:
    """The scenes' pixel tables (Parquet, each with its ``scene`` column) as one, a row
    group per scene, with the per-scene descriptions in the metadata."""
    schemas = [pq.read_schema(path) for path in paths]
    descriptions = {}
    for schema in schemas:
        description = json.loads(schema.metadata[b"eotrend"])
        descriptions[description["scene"]] = description
    schema = pa.unify_schemas([s.remove_metadata() for s in schemas]).with_metadata(
        {b"eotrend": json.dumps({"scenes": descriptions})}
    )
    with atomic_path(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for path in paths:
            writer.write_table(pq.read_table(path).select(schema.names).cast(schema))


def pixel_scenes(path: str | Path) -> dict[str, dict]:
    """Scene -> description of a pixel table (a batch's, or one scene's as extract writes
    it), from its metadata alone."""
    description = json.loads(pq.read_schema(path).metadata[b"eotrend"])
    return description["scenes"] if "scenes" in description else {description["scene"]: description}


def read_pixels(
    path: str | Path, scene: str, columns: list[str] | None = None
) -> tuple[pd.DataFrame, dict]:
    """One scene's pixels from a pixel table (a batch's or the scene's own) and its
    description; ``columns`` limits the columns read."""
    descriptions = pixel_scenes(path)
    if scene not in descriptions:
        raise InputError(path, f"holds no pixels of {scene}", "Run the workflow again.")
    table = pq.read_table(path, columns=columns, filters=[("scene", "==", scene)])
    return table.to_pandas(), descriptions[scene]


def write_windows(paths: dict[str, Path], output: Path) -> None:
    """Scene -> extraction window (the content of each scene's window.json) as one JSON."""
    windows = {scene: json.loads(path.read_text(encoding="utf-8")) for scene, path in paths.items()}
    write_text(output, json.dumps(windows, indent=1))


def read_windows(path: str | Path) -> dict[str, dict]:
    """Scene -> extraction window of a batch (see :func:`write_windows`)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_grids(grid_dirs: list[Path], variables: list[str], output: Path) -> None:
    """The scenes' grids (``<dir>/<variable>.tif``, one band each, all on one grid) as
    one multi-band GeoTIFF: band ``k * len(variables) + j + 1`` is scene ``k``'s grid of
    ``variables[j]``, its metadata the scene grid's tags and band metadata merged."""
    paths = [Path(folder) / f"{variable}.tif" for folder in grid_dirs for variable in variables]
    infos = [raster.read_info(path) for path in paths]
    first = infos[0]
    for info in infos[1:]:
        if (info.width, info.height, info.transform) != (
            first.width,
            first.height,
            first.transform,
        ):
            raise InputError(
                info.path, f"is not on the grid of {first.path}", "Run the workflow again."
            )
    rows = raster.block_rows(
        first.height, first.width, len(paths), GRID_BLOCK_BYTES, bytes_per_value=4
    )
    writer = raster.GeoTiffWriter(
        output,
        width=first.width,
        height=first.height,
        count=len(paths),
        transform=first.transform,
        crs_wkt=first.crs_wkt,
        descriptions=[
            f"{info.tags['SCENE']} {info.band_metadata[0]['VARIABLE']}" for info in infos
        ],
        band_metadata=[{**info.tags, **info.band_metadata[0]} for info in infos],
        level=1,
    )
    with writer:
        for row0 in range(0, first.height, rows):
            nrows = min(rows, first.height - row0)
            block = [raster.read_rows(path, row0, nrows, bands=[1])[0] for path in paths]
            writer.write_rows(row0, np.stack(block).astype(np.float32, copy=False))


def grid_bands(path: str | Path, variable: str) -> list[tuple[int, dict[str, str]]]:
    """(band number, band metadata) of every band of a batch's grids holding
    ``variable``, in band order."""
    info = raster.read_info(path)
    return [
        (number, metadata)
        for number, metadata in enumerate(info.band_metadata, start=1)
        if metadata.get("VARIABLE") == variable
    ]
