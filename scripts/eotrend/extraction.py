"""The extract stage: one scene's pixels inside the AOI, their statistics, their grids.

A pixel belongs to a feature when its centre lies inside the feature's polygon in
lon/lat (holes and every part honoured). Variables are read over the locate window only,
one file per worker task, unpacked to physical units; validity comes from the quality
flags decoded from the file's own flag attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from eotrend import geometry as geo
from eotrend import gridding, olci, raster
from eotrend.aoi import Feature, read_aoi
from eotrend.atomic import atomic_path
from eotrend.limits import plan_workers
from eotrend.parallel import Task, run_tasks

log = logging.getLogger(__name__)

# SNAP's recommended WFR reflectance mask (olci-format.md §7.3).
WATER_EXCLUDE = [
    "INVALID",
    "CLOUD",
    "CLOUD_AMBIGUOUS",
    "CLOUD_MARGIN",
    "SNOW_ICE",
    "COSMETIC",
    "SATURATED",
    "SUSPECT",
    "HISOLZEN",
    "HIGHGLINT",
    "AC_FAIL",
    "WHITECAPS",
    "ADJAC",
    *[f"RWNEG_O{band}" for band in range(2, 9)],
]
QUALITY_PRESETS: dict[str, dict[str, list[str]]] = {
    "water": {"require": [], "require_any": ["WATER", "INLAND_WATER"], "exclude": WATER_EXCLUDE},
    "land": {
        "require": ["LAND"],
        "require_any": [],
        "exclude": [
            "INVALID",
            "CLOUD",
            "CLOUD_AMBIGUOUS",
            "CLOUD_MARGIN",
            "SNOW_ICE",
            "COSMETIC",
            "SATURATED",
            "SUSPECT",
            "HISOLZEN",
        ],
    },
    "none": {"require": [], "require_any": [], "exclude": []},
}
STATISTICS = ("median", "mean", "std", "p25", "p75")


@dataclass(frozen=True)
class SceneExtract:
    """What one scene yields.

    pixels: one row per (feature, pixel) with scene, time, feature, row, col, lon, lat,
    one float column per variable (physical units), flags (uint64) and valid (bool).
    units: variable -> unit string.
    """

    scene: str
    time: datetime
    pixels: pd.DataFrame
    units: dict[str, str]


def quality_rule(setting: str | dict) -> dict[str, list[str]]:
    """The flag rule of a config ``quality`` value (a preset name or an explicit rule)."""
    if isinstance(setting, str):
        return QUALITY_PRESETS[setting]
    return {key: list(setting.get(key, [])) for key in ("require", "require_any", "exclude")}


def valid_by_flags(
    flags: np.ndarray, masks: dict[str, np.uint64], rule: dict[str, list[str]], where: Path
) -> np.ndarray:
    """Boolean array: all ``require`` flags set, one of ``require_any`` set (when given),
    none of ``exclude`` set. ``flags`` is uint64; unknown flag names are errors."""
    required = olci.flag_mask(masks, rule["require"], where)
    valid = (flags & required) == required
    if rule["require_any"]:
        valid &= (flags & olci.flag_mask(masks, rule["require_any"], where)) != 0
    valid &= (flags & olci.flag_mask(masks, rule["exclude"], where)) == 0
    return valid


def read_variable_task(product: str, variable: str, window: tuple[int, int, int, int]):
    """Worker task: one variable over a window -> (float32 values, unit)."""
    values, unit = olci.read_variable(Path(product), variable, olci.Window(*window))
    return values.astype(np.float32), unit


def extract_scene(
    product_path: Path,
    features: list[Feature],
    window: olci.Window,
    variables: list[str],
    quality: str | dict,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> SceneExtract:
    """Extract the pixels of every feature from one scene (see :class:`SceneExtract`)."""
    product = olci.open_product(product_path)
    lon0 = float(np.mean([f.geometry.centroid.x for f in features]))
    lon, lat = olci.read_lonlat(product.path, window)
    lon = geo.unwrap_lon(lon, lon0)
    flags, masks = olci.read_flags(product.path, window)
    valid = valid_by_flags(flags, masks, quality_rule(quality), product.path / "wqsf.nc")

    bounds = (window.row0, window.row1, window.col0, window.col1)
    tasks = [
        Task(
            f"{variable} {window.shape[0]}x{window.shape[1]} window",
            (str(product.path), variable, bounds),
        )
        for variable in variables
    ]
    task_mb = 50 + window.shape[0] * window.shape[1] * 8 * 4 / 2**20
    plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    layers = run_tasks(read_variable_task, tasks, plan, label="variables", logger=log)

    rows, cols = np.mgrid[window.row0 : window.row1, window.col0 : window.col1]
    frames = []
    for feature in features:
        inside = geo.contains(geo.unwrap_geometry(feature.geometry, lon0), lon, lat)
        frame = pd.DataFrame(
            {
                "scene": product.name,
                "time": pd.Timestamp(product.sensing_start),
                "feature": feature.name,
                "row": rows[inside].astype(np.int32),
                "col": cols[inside].astype(np.int32),
                "lon": geo.unwrap_lon(lon[inside], 0.0),
                "lat": lat[inside],
            }
        )
        for variable, (values, _) in zip(variables, layers, strict=True):
            frame[variable] = values[inside]
        frame["flags"] = flags[inside]
        frame["valid"] = valid[inside]
        frames.append(frame)
        log.info(
            "feature %s: %d pixels, %d valid", feature.name, len(frame), int(frame["valid"].sum())
        )
    pixels = pd.concat(frames, ignore_index=True)
    units = {variable: unit for variable, (_, unit) in zip(variables, layers, strict=True)}
    return SceneExtract(product.name, product.sensing_start, pixels, units)


def feature_statistics(
    extract: SceneExtract, features: list[Feature], variables: list[str]
) -> pd.DataFrame:
    """One row per feature: scene, time, feature, count, valid_count, fraction_valid and,
    per variable, median, mean, std (ddof=1), p25, p75 over valid, non-NaN pixels.

    A feature with no pixel in the scene still gets its row (count 0, statistics NaN).
    """
    records = []
    for feature in features:
        pixels = extract.pixels[extract.pixels["feature"] == feature.name]
        good = pixels[pixels["valid"]]
        record = {
            "scene": extract.scene,
            "time": pd.Timestamp(extract.time),
            "feature": feature.name,
            "count": len(pixels),
            "valid_count": len(good),
            "fraction_valid": len(good) / len(pixels) if len(pixels) else np.nan,
        }
        for variable in variables:
            values = good[variable].to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            has = values.size > 0
            record[f"{variable}_median"] = np.median(values) if has else np.nan
            record[f"{variable}_mean"] = values.mean() if has else np.nan
            record[f"{variable}_std"] = values.std(ddof=1) if values.size > 1 else np.nan
            record[f"{variable}_p25"] = np.percentile(values, 25) if has else np.nan
            record[f"{variable}_p75"] = np.percentile(values, 75) if has else np.nan
        records.append(record)
    return pd.DataFrame.from_records(records)


def empty_pixels(variables: list[str]) -> pd.DataFrame:
    """A pixel table with the right columns and no rows (a scene that misses the AOI)."""
    columns = ["scene", "time", "feature", "row", "col", "lon", "lat", *variables, "flags", "valid"]
    return pd.DataFrame({column: [] for column in columns})


def write_grids(
    grid_dir: Path,
    extract: SceneExtract | None,
    grid: gridding.Grid,
    variables: list[str],
    max_distance_m: float,
    tags: dict[str, str],
) -> None:
    """One GeoTIFF per variable on the dataset grid, all NaN when ``extract`` is None.

    Each cell takes the nearest valid pixel (of any feature) within ``max_distance_m``.
    """
    with atomic_path(grid_dir, suffix="") as tmp:
        tmp.mkdir()
        for variable in variables:
            if extract is None:
                data = np.full((grid.height, grid.width), np.nan, np.float32)
                unit = ""
            else:
                good = extract.pixels[extract.pixels["valid"]].drop_duplicates(["row", "col"])
                data = gridding.nearest_fill(
                    grid,
                    good["lon"].to_numpy(),
                    good["lat"].to_numpy(),
                    good[variable].to_numpy(np.float64),
                    max_distance_m,
                )
                unit = extract.units[variable]
            raster.write_geotiff(
                tmp / f"{variable}.tif",
                data,
                transform=grid.transform,
                crs_wkt=grid.crs_wkt,
                nodata=float("nan"),
                descriptions=[variable],
                band_metadata=[{"UNIT": unit, **tags}],
                tags=tags,
            )


def extract_to_files(
    product_path: Path,
    aoi_path: Path,
    window: olci.Window | None,
    pixels_out: Path,
    stats_out: Path,
    grid_dir: Path | None,
    variables: list[str],
    quality: str | dict,
    grid_settings: dict,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
    provenance: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Run the extract stage for one scene and write its outputs; returns the statistics.

    ``window`` None means the scene does not cover the AOI: the outputs are written
    empty (the statistics say count 0), not an error.
    """
    features = read_aoi(aoi_path)
    product = olci.open_product(product_path)
    if window is None:
        log.warning("%s does not cover the AOI: writing empty outputs", product.name)
        extract = None
        result = SceneExtract(product.name, product.sensing_start, empty_pixels(variables), {})
    else:
        extract = result = extract_scene(
            product.path, features, window, variables, quality, threads=threads, mem_mb=mem_mb
        )
    stats = feature_statistics(result, features, variables)
    with atomic_path(pixels_out) as tmp:
        result.pixels.to_parquet(tmp, index=False)
    with atomic_path(stats_out) as tmp:
        stats.to_csv(tmp, index=False)
    if grid_dir is not None:
        lon0 = float(np.mean([f.geometry.centroid.x for f in features]))
        grid = gridding.dataset_grid(
            features,
            lon0,
            grid_settings["crs"],
            grid_settings["resolution"],
            grid_settings["margin"],
        )
        tags = {
            "ACQUISITION_DATETIME": product.sensing_start.isoformat(),
            "SCENE": product.name,
            **(provenance or {}),
        }
        write_grids(Path(grid_dir), extract, grid, variables, grid_settings["max_distance_m"], tags)
    return stats


def collect_statistics(stats_paths: list[str | Path], output: str | Path) -> pd.DataFrame:
    """All per-scene statistics tables as one, sorted by time then feature (written)."""
    frames = [pd.read_csv(path) for path in stats_paths]
    table = pd.concat(frames, ignore_index=True).sort_values(["time", "feature"], kind="stable")
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    return table
