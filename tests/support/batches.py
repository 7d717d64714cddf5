"""A run's batch outputs read back scene by scene with pandas, pyarrow and GDAL alone (not
eotrend's reader of them): the oracle that gathering lost or changed nothing is each
scene's own files in the scene cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from osgeo import gdal

gdal.UseExceptions()


def scene_cache(workdir: Path, dataset: str) -> Path:
    """The workflow's scene cache of ``dataset`` (rules/common.smk's SCENE_WORK)."""
    return workdir / "resources/scenes" / dataset


def batch_folders(workdir: Path, dataset: str) -> list[Path]:
    """results/<dataset>/batches/<batch>/ in batch order."""
    return sorted(p for p in (workdir / f"results/{dataset}/batches").iterdir() if p.is_dir())


def batch_stats(workdir: Path, dataset: str) -> pd.DataFrame:
    """Every batch's stats.csv, concatenated in batch order."""
    frames = [pd.read_csv(f / "stats.csv") for f in batch_folders(workdir, dataset)]
    return pd.concat(frames, ignore_index=True)


def batch_pixels(workdir: Path, dataset: str) -> dict[str, pd.DataFrame]:
    """Scene -> its rows of the batches' pixels.parquet (index reset)."""
    out = {}
    for folder in batch_folders(workdir, dataset):
        table = pq.read_table(folder / "pixels.parquet").to_pandas()
        for scene, rows in table.groupby("scene", sort=False, observed=True):
            out[str(scene)] = rows.reset_index(drop=True)
    return out


def batch_windows(workdir: Path, dataset: str) -> dict[str, dict]:
    """Scene -> window of the batches' windows.json."""
    out = {}
    for folder in batch_folders(workdir, dataset):
        out.update(json.loads((folder / "windows.json").read_text()))
    return out


def batch_grids(workdir: Path, dataset: str) -> dict[tuple[str, str], tuple[np.ndarray, dict]]:
    """(scene, variable) -> (values, band metadata) of every band of the batches'
    grids.tif, read with GDAL."""
    out = {}
    for folder in batch_folders(workdir, dataset):
        ds = gdal.Open(str(folder / "grids.tif"))
        for k in range(1, ds.RasterCount + 1):
            band = ds.GetRasterBand(k)
            metadata = band.GetMetadata()
            out[metadata["SCENE"], metadata["VARIABLE"]] = (band.ReadAsArray(), metadata)
        del ds
    return out


def scene_grid(folder: Path, variable: str) -> tuple[np.ndarray, dict]:
    """A scene folder's grid of ``variable``: values and its dataset and band metadata."""
    ds = gdal.Open(str(folder / "grid" / f"{variable}.tif"))
    band = ds.GetRasterBand(1)
    values, metadata = band.ReadAsArray(), {**ds.GetMetadata(), **band.GetMetadata()}
    del ds
    return values, metadata


def assert_batches_hold_the_scenes(workdir: Path, dataset: str, variables: list[str]) -> None:
    """The batch outputs hold exactly each cached scene's own files: statistics rows,
    pixel rows, window and grids (values and metadata)."""
    folders = sorted(p for p in scene_cache(workdir, dataset).iterdir() if p.is_dir())
    names = [f.name for f in folders]
    stats = batch_stats(workdir, dataset)
    assert sorted(set(stats["scene"])) == names
    pixels, windows = batch_pixels(workdir, dataset), batch_windows(workdir, dataset)
    grids = batch_grids(workdir, dataset)
    assert sorted(windows) == names and sorted({s for s, _ in grids}) == names
    for folder in folders:
        own = pd.read_csv(folder / "stats.csv")
        rows = stats[stats["scene"] == folder.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, own)
        own_pixels = pd.read_parquet(folder / "pixels.parquet")
        got = pixels.get(folder.name, own_pixels.iloc[:0])
        pd.testing.assert_frame_equal(
            got.astype({"scene": str}), own_pixels.astype({"scene": str}), check_categorical=False
        )
        assert windows[folder.name] == json.loads((folder / "window.json").read_text())
        for variable in variables:
            values, metadata = grids[folder.name, variable]
            own_values, own_metadata = scene_grid(folder, variable)
            np.testing.assert_array_equal(values, own_values)
            assert metadata == own_metadata
