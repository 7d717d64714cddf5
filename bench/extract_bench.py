"""extract against a whole-band read-and-pick, on a full-size 4091 x 4865 scene.

The synthetic scene (every WFR file, netCDF as in a real product) is centred on the
published 27-vertex polygon (sen3r's example, = feature solimoes_manacapuru of
data/demo/aoi.geojson), which is its inland water; it is made once under
bench/out/olci_extract and reused. Variables: the 16 reflectances, CHL_OC4ME and TSM_NN,
plus the WQSF flags and the geo coordinates.

Measured side by side in one run:

* the whole-band baseline, sen3r's reading strategy: every band read whole with
  netCDF4's default mask-and-scale (``ds[var][:]``, as sen3r's workers do), the whole
  lat/lon grid too, then the polygon's pixels picked. The picking is vectorised (sen3r
  loops over pixels in Python), so this baseline is faster than sen3r itself; in-process
  and as a command (``python bench/extract_bench.py --baseline PRODUCT AOI``);
* extract in-process, the locate window given: ``extract_scene`` (product opened to the
  pixel table in memory, the baseline's output) on its first call (the worker pool's
  forkserver starts) and best of 3, and the whole stage (``extract_to_files``: also the
  Parquet table, the statistics and 18 GeoTIFFs) best of 3;
* the extract.py command (interpreter start, imports and locating the window included);
* sen3r 1.0.6 in single mode (``sen3r -s``: raw CSV only), when it is installed in the
  virtualenv named by $SEN3R_VENV (PyPI sen3r 1.0.6, which also needs GDAL's Python
  bindings; skipped otherwise).

Peak RSS of commands: of the largest process (RUSAGE_CHILDREN) and of all the command's
processes together (sampled, what a memory limit sees with worker processes).
The baseline's pixels and values are checked against extract's before timing.

Heavy imports stay inside the functions: on Python 3.11 every forkserver worker runs
the ``__main__`` file again (the forkserver never receives its path), so a main module
importing pandas at its top would add about half a second to each worker's start.
"""

import os
import shutil
import sys
import time
from pathlib import Path

from common import (
    EOTREND,
    OUT,
    SEED,
    command_tree,
    full_scene,
    load_average,
    peak_rss_mb,
    table,
    timed,
)

VARIABLES = [
    *(f"Oa{band:02d}_reflectance" for band in (*range(1, 13), 16, 17, 18, 21)),
    "CHL_OC4ME",
    "TSM_NN",
]
GRID = {"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2}


def baseline(product: Path, aoi: Path, variables: list[str]):
    """Whole-band read-and-pick: the pixels whose centre lies inside the AOI polygons,
    one column per variable (physical units) plus flags, reading every band whole.
    Returns a pandas DataFrame."""
    import netCDF4
    import numpy as np
    import pandas as pd
    import shapely

    from eotrend.geo.aoi import read_aoi
    from eotrend.sentinel3 import layout, reader

    with netCDF4.Dataset(product / "geo_coordinates.nc") as ds:
        lon = np.ma.filled(ds["longitude"][:], np.nan)
        lat = np.ma.filled(ds["latitude"][:], np.nan)
    rows, cols, names = [], [], []
    for feature in read_aoi(aoi):
        x0, y0, x1, y1 = feature.geometry.bounds
        box_rows, box_cols = np.nonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        inside = shapely.intersects_xy(
            feature.geometry, lon[box_rows, box_cols], lat[box_rows, box_cols]
        )
        rows.append(box_rows[inside])
        cols.append(box_cols[inside])
        names += [feature.name] * int(inside.sum())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    table_ = {"feature": names, "row": rows, "col": cols, "lon": lon[rows, cols]}
    table_["lat"] = lat[rows, cols]
    for variable in variables:
        path = reader.variable_file(product, variable)
        with netCDF4.Dataset(path) as ds:
            band = ds[variable][:]
            values = np.ma.filled(band[rows, cols].astype(np.float64), np.nan)
            unit = getattr(ds[variable], "units", "")
        table_[variable] = 10.0**values if layout.log10_unit(unit) else values
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        table_["flags"] = ds["WQSF"][:][rows, cols]
    return pd.DataFrame(table_)


def check_same(ours, theirs) -> None:
    """The baseline and extract (DataFrames) keep the same pixels, values and flags."""
    import numpy as np

    from eotrend.sentinel3.extract import value_column

    ours = ours.sort_values(["feature", "row", "col"], ignore_index=True)
    theirs = theirs.sort_values(["feature", "row", "col"], ignore_index=True)
    assert len(ours) == len(theirs) > 1000, (len(ours), len(theirs))
    np.testing.assert_array_equal(ours["row"], theirs["row"])
    np.testing.assert_array_equal(ours["col"], theirs["col"])
    np.testing.assert_array_equal(ours["flags"], theirs["flags"].astype(np.uint64))
    for variable in VARIABLES:
        want = theirs[variable].to_numpy(np.float64)
        got = ours[value_column(variable)].to_numpy(np.float64)
        # Equal NaNs too: the generator writes fill where a product's own failure flag
        # (extract's product masks) is set.
        np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)


def sen3r(product: Path, aoi: Path) -> tuple[float, float, float, int] | None:
    """sen3r single mode on the scene: (seconds, peak RSS MB of its largest process and
    of all its processes together, pixels), or None when it is not installed."""
    import pandas as pd

    venv = os.environ.get("SEN3R_VENV")
    exe = Path(venv, "bin", "sen3r") if venv else None
    if exe is None or not exe.is_file():
        return None
    out = OUT / "sen3r_out"
    shutil.rmtree(out, ignore_errors=True)
    seconds, largest, total = command_tree(
        [str(exe), "-s", "-i", str(product), "-o", str(out), "-r", str(aoi)]
    )
    csv = next((out / "CSV_N1").glob("*.csv"))
    return seconds, largest, total, len(pd.read_csv(csv))


def main() -> str:
    import pandas as pd

    from eotrend.geo.aoi import read_aoi
    from eotrend.sentinel3 import locate as locating
    from eotrend.sentinel3.extract import extract_scene, extract_to_files

    OUT.mkdir(parents=True, exist_ok=True)
    product = full_scene()
    window = locating.window_for(product, SEED)
    features = read_aoi(SEED)
    pixels = OUT / "extract_pixels.parquet"

    def scene() -> None:
        extract_scene(product, features, window, VARIABLES, "none", threads=2)

    def stage() -> None:
        extract_to_files(
            product, read_aoi(SEED), window,
            pixels, OUT / "extract_stats.csv", OUT / "extract_grid",
            VARIABLES, "none", GRID, threads=2,
        )  # fmt: skip

    first = timed(scene)
    best = timed(scene, repeat=3)
    full = timed(stage, repeat=3)
    start = time.perf_counter()
    theirs = baseline(product, SEED, VARIABLES)
    published = time.perf_counter() - start
    check_same(pd.read_parquet(pixels), theirs)
    cmd, cmd_rss, cmd_total = command_tree(
        [*EOTREND, "extract", str(product), str(SEED), "-o", str(OUT / "cmd.parquet"),
         "--stats", str(OUT / "cmd.csv"), "--grid-dir", str(OUT / "cmd_grid"),
         "--variables", *VARIABLES, "--quality", "none", "--workers", "2"]
    )  # fmt: skip
    base_cmd, base_rss, base_total = command_tree(
        [sys.executable, str(Path(__file__).resolve()), "--baseline", str(product), str(SEED)]
    )
    rows = [
        ("whole-band read-and-pick: pixel table in memory (in-process)", f"{published:.2f}",
         "1", "-"),
        ("extract_scene, same pixel table: first call (worker pool starts)", f"{first:.3f}",
         f"{published / first:.0f}x", "-"),
        ("extract_scene, same pixel table: best of 3", f"{best:.3f}",
         f"{published / best:.0f}x", "-"),
        ("extract stage in-process (+ Parquet, statistics, 18 GeoTIFFs): best of 3",
         f"{full:.3f}", f"{published / full:.0f}x", "-"),
        ("whole-band read-and-pick command", f"{base_cmd:.2f}", "1",
         f"{base_rss:.0f} / {base_total:.0f}"),
        ("extract.py command (all outputs; locates the window itself)", f"{cmd:.2f}",
         f"{base_cmd / cmd:.0f}x", f"{cmd_rss:.0f} / {cmd_total:.0f}"),
    ]  # fmt: skip
    published_tool = sen3r(product, SEED)
    if published_tool:
        seconds, largest, total, n = published_tool
        rows.append(
            (f"sen3r 1.0.6 -s command (raw CSV, {n} pixels)", f"{seconds:.1f}",
             f"{seconds / cmd:.0f}x slower than extract.py", f"{largest:.0f} / {total:.0f}")
        )  # fmt: skip
    return (
        f"## extract: full-size 4091 x 4865 scene, published 27-vertex polygon, "
        f"{len(theirs)} pixels, {len(VARIABLES)} variables + flags\n\n"
        + table(rows, ("method", "seconds", "speed-up", "peak RSS MB: largest process / all"))
        + f"\n\nbench process peak RSS {peak_rss_mb():.0f} MB (includes the baseline); "
        + f"{load_average()} at the end\n"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--baseline"]:
        baseline(Path(sys.argv[2]), Path(sys.argv[3]), VARIABLES)
    else:
        print(main())
