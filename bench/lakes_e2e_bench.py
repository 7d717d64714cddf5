"""Issue 23 end to end: full-size scenes x lakes from a local source through lake-level trends.

The issue asks for "200 full-size scenes x 5,000 lakes end to end from a local source
through lake-level trends: total time, per-scene time, peak memory, output sizes". This
bench makes N scenes (``--scenes``, 200) and an AOI of M lakes (``--lakes``, 5,000),
runs the real workflow on them and reports those four, the trend the lakes recover, the
cost of making the data apart.

Lakes: lakes_bench's (``lake_list``, ``write_aoi``): regular 16-gons 2.2 km across,
scattered over the swath of bench/common.py's full-size scene (``full_scene(real_bytes=
True)``, centred at 60.9 W, 3.45 S), a few centred on its west or east edge; the AOI is
the first M of the list of max(M, 5,000), named lake_0000, lake_0001, ...

Archive (made once under bench/out/lakes_e2e/archive_<N>, remade when its spec changes,
resumed where it stopped): N full-size 4091 x 4865 synthetic OLCI WFR products
(eotrend.synthetic.product ``write_product``), each generated on its own (its own
pixels, clouds, name, xfdumanifest.xml and netCDF times; no copies). Their specs are the
synthetic source's (eotrend.sources.synthetic ``synthetic_scene_specs``, seed 23): over
min(10, N) years from 2016, ``scenes_per_year`` a year spread over the year at 13:50 UTC
(S3A and S3B in turn), centred within 0.05 deg of the centre of the lakes' bounding box,
heading 192 +- 2 deg, and the rest (about 5 %: 10 of 200) same-day partners from the
other satellite 40 minutes later on a track 0.15 deg east; cloud fraction 0.15; with
bench/common.py's ``REAL_BYTES_NOISE`` on the reflectances, and water (INLAND_WATER)
over the lakes' bounding box widened by 1 deg, i.e. the whole swath: every lake is water
and the files weigh what a clear real scene's do. The values follow the generator's
truth (eotrend.synthetic.fields ``water_truth``): Oa08_reflectance changes linearly in
time, TSM_NN's log10 does, each at a rate that varies smoothly in space. To keep the
archive within the disk (a whole product weighs 372 MB), each product holds the files
a dataset with these variables reads (eotrend.sentinel3.layout ``needed_files``:
xfdumanifest.xml, geo_coordinates.nc, tie_geo_coordinates.nc, wqsf.nc,
Oa08_reflectance.nc, tsm_nn.nc; about 74 MB, the files a product fetched file by file
holds) and its manifest lists just those, with their sizes and MD5s. The products are
generated 2 at a time (spawned processes; 6 took 103 s on 2 busy cores: 200 take about
an hour and 15 GB); that wall time and the archive's size on disk are reported, and are
not part of the workflow's time.

Workflow: a fresh folder bench/out/lakes_e2e/run_<N>x<M> with config.yaml (one
sentinel3 dataset ``lakes_e2e``: ``source: {type: local, local: {path: <archive>}}``,
aoi.geojson with ``aoi_id: name``, variables Oa08_reflectance and TSM_NN (lakes_bench's),
quality water, every other key the schema's default) and ``snakemake -s <repo>/Snakefile
--cores 2`` run there (the venv first on PATH; the repository's default workflow profile)
with the lake-level trend tables as targets (rule lakes: download checkpoint, scenes
batches of 50, timeseries, lakes; ``--target all`` for every final output). The grid:
``--grid EXTENT`` sets grid.extent when this tree's schema has that key (default
``none``); without it the grid is the schema's default, the AOI's bounding box
(a continental grid for lakes spread over a whole swath), as the report says.

Measured: the run's wall time (and per scene: wall / N); per job, Snakemake's benchmark
file (benchmarks/lakes_e2e/...tsv: s, cpu_time, max_rss, max_pss, mean_load); per scene,
the ``seconds`` of the batch tables (results/lakes_e2e/batches/<batch>.csv: one scene's
locate + extract + grid in a pool worker, 2 at a time); peak memory of the snakemake
process tree (bench/scale_bench.py ``run_measured``: its largest process by the kernel,
/usr/bin/time -v, and all its processes together, sampled every 0.1 s); output sizes per
kind of file under results/ (batch files summed over batches), and the totals of
results/, the scene cache resources/scenes/, logs/ and benchmarks/; the load average
before and after the run (the machine is shared).

Trend recovery, per variable: each fitted lake's least-squares slope (lakes/<variable>
_trends.csv) against the slope of the generator's noise-free truth at the lake's centroid
fitted over the same times (the lake's own series, eotrend.stages.lakes ``lake_series``
of timeseries.parquet): the median relative error and the share of lakes within 2 standard
errors (the table's stderr; about 95 % expected for long series, fewer for short ones:
86 % at 5 observations, by Student's t with 3 degrees of freedom). Oa08_reflectance is
linear in time, so its truth slope is the generator's rate; TSM_NN's median is
exponential in time, so its truth slope is the least-squares slope of that curve.

    python bench/run.py --only lakes_e2e                               # 200 x 5,000
    python bench/lakes_e2e_bench.py --scenes 6 --lakes 300             # a quick check
    python bench/lakes_e2e_bench.py --scenes 6 --lakes 300 --target all
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from common import OUT, REAL_BYTES_NOISE, REPO, full_scene, load_average, table
from lakes_bench import VARIABLES, lake_list, write_aoi
from scale_bench import BIN, run_measured, steps_done

SCENES, LAKES = 200, 5000
FIRST_YEAR, YEARS = 2016, 10  # the scenes span at most YEARS years from FIRST_YEAR
PAIRS = 20  # about one scene in PAIRS is a same-day partner
SEED = 23
CLOUD_FRACTION = 0.15
WATER_MARGIN = 1.0  # degrees around the lakes' bounding box
GENERATORS = 2  # products generated at a time
DATASET = "lakes_e2e"
FOLDER = OUT / "lakes_e2e"
BENCHMARK_COLUMNS = ("s", "cpu_time", "max_rss", "max_pss", "mean_load")
RECOVERY_HEADER = (
    "variable", "lakes fitted", "median n", "median truth slope", "median relative error",
    "within 2 stderr",
)  # fmt: skip


def series_settings(scenes: int) -> dict:
    """The synthetic source's settings (schema ``synthetic``) that give ``scenes`` full-size
    scenes over min(YEARS, scenes) years, about one in PAIRS a same-day partner."""
    years = min(YEARS, scenes)
    per_year = max(1, (scenes - scenes // PAIRS) // years)
    pairs = scenes - years * per_year
    assert 0 <= pairs <= years * per_year, (scenes, years, per_year)
    return {
        "seed": SEED,
        "years": [FIRST_YEAR, FIRST_YEAR + years - 1],
        "scenes_per_year": per_year,
        "rows": 4091,
        "columns": 4865,
        "cloud_fraction": CLOUD_FRACTION,
        "same_day_pairs": pairs,
        "partial_scenes": 0,
    }


def make_archive(scenes: int, centre_aoi: Path, water) -> tuple[Path, list, dict]:
    """The archive of ``scenes`` products centred on the AOI file ``centre_aoi``, with
    ``water``; made here where missing (module docstring). Returns (its folder, the specs,
    {"made": products made by the last generation, "seconds": its wall time})."""
    from eotrend.sentinel3 import layout
    from eotrend.sources.synthetic import synthetic_scene_specs
    from eotrend.synthetic.product import write_product
    from eotrend.synthetic.spec import product_name
    from eotrend.synthetic.wfr_format import baseline_files

    specs = [
        replace(spec, reflectance_noise=REAL_BYTES_NOISE)
        for spec in synthetic_scene_specs(series_settings(scenes), centre_aoi)
    ]
    files, _ = layout.needed_files(dict.fromkeys(baseline_files("003")), VARIABLES, "003")
    folder = FOLDER / f"archive_{scenes}"
    stamp, made = folder / "spec.txt", folder / "made.json"
    spec_text = repr((specs, files, water.wkt))
    if not stamp.is_file() or stamp.read_text() != spec_text:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        stamp.write_text(spec_text)
    todo = [s for s in specs if not (folder / product_name(s) / layout.MANIFEST).is_file()]
    if todo:
        write = functools.partial(write_product, dest_dir=folder, water=water, files=files)
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")  # HDF5 is not fork-safe
        with ProcessPoolExecutor(GENERATORS, mp_context=context) as pool:
            list(pool.map(write, todo))
        made.write_text(json.dumps({"made": len(todo), "seconds": time.perf_counter() - start}))
    return folder, specs, json.loads(made.read_text())


def water_around(lakes: list):
    """The archive's water: the lakes' bounding box widened by WATER_MARGIN degrees."""
    import shapely

    x0, y0, x1, y1 = shapely.total_bounds(lakes)
    return shapely.box(x0 - WATER_MARGIN, y0 - WATER_MARGIN, x1 + WATER_MARGIN, y1 + WATER_MARGIN)


def disk_bytes(folder: Path) -> tuple[int, int]:
    """(bytes of the files under ``folder``, bytes they take on disk)."""
    paths = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in paths), sum(p.stat().st_blocks * 512 for p in paths)


def grid_extents() -> list[str]:
    """The values of grid.extent this tree's schema allows; [] when it has no such key."""
    import yaml

    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    extent = schema["$defs"]["grid"]["properties"].get("extent")
    return list(extent["enum"]) if extent else []


def dataset_config(archive: Path, specs: list, grid: str | None) -> dict:
    """The config of the run's one dataset (module docstring); ``grid``: grid.extent, or
    None for the schema's default grid."""
    first, last = (s.sensing_start.date().isoformat() for s in (specs[0], specs[-1]))
    dataset = {
        "kind": "sentinel3",
        "aoi": "aoi.geojson",
        "aoi_id": "name",
        "start": first,
        "end": last,
        "source": {"type": "local", "local": {"path": str(archive)}},
        "variables": VARIABLES,
        "quality": "water",
    }
    if grid is not None:
        dataset["grid"] = {"extent": grid}
    return {"datasets": {DATASET: dataset}}


def benchmark_rows(workdir: Path) -> list[tuple[str, ...]]:
    """One row per job: its benchmark file (relative, without .tsv) and its columns of
    :data:`BENCHMARK_COLUMNS`."""
    root = workdir / "benchmarks" / DATASET
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rows.append(
            (str(path.relative_to(root).with_suffix("")), *(row[c] for c in BENCHMARK_COLUMNS))
        )
    return rows


def scene_seconds(workdir: Path) -> dict[str, list[float]]:
    """Status -> the ``seconds`` of each scene with it, from the batch tables."""
    by_status: dict[str, list[float]] = {}
    for path in sorted((workdir / "results" / DATASET / "batches").glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                by_status.setdefault(row["status"], []).append(float(row["seconds"]))
    return by_status


def output_sizes(workdir: Path) -> list[tuple[str, int, int]]:
    """(kind of file, files, bytes) under results/<dataset>, a batch's files summed over
    the batches (``<batch>``), largest first; then the totals of results/, the scene
    cache, logs/ and benchmarks/."""
    results = workdir / "results" / DATASET
    kinds: dict[str, list[int]] = {}
    for path in results.rglob("*"):
        if path.is_file():
            kind = re.sub(r"batches/\d+", "batches/<batch>", str(path.relative_to(results)))
            kinds.setdefault(kind, []).append(path.stat().st_size)
    rows = sorted(((k, len(v), sum(v)) for k, v in kinds.items()), key=lambda r: -r[2])
    for label, folder in (
        ("all of results/", workdir / "results"),
        ("scene cache resources/scenes/", workdir / "resources" / "scenes"),
        ("logs/", workdir / "logs"),
        ("benchmarks/", workdir / "benchmarks"),
    ):
        sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
        rows.append((label, len(sizes), sum(sizes)))
    return rows


def recovery(workdir: Path, lakes: list) -> list[tuple[str, ...]]:
    """Per variable: the lakes' least-squares slopes against the truth's (module
    docstring): variable, lakes fitted, median observations, median truth slope, median
    relative error, share within 2 standard errors."""
    import numpy as np
    import pandas as pd

    from eotrend.sentinel3.layout import stats_column
    from eotrend.stages.lakes import lake_series
    from eotrend.stats.pixelwise import time_axis
    from eotrend.synthetic.fields import water_truth

    centres = {f"lake_{k:04d}": lake.centroid for k, lake in enumerate(lakes)}
    series_table = pd.read_parquet(workdir / "results" / DATASET / "timeseries.parquet")
    rows = []
    for variable in VARIABLES:
        trends = pd.read_csv(workdir / "results" / DATASET / "lakes" / f"{variable}_trends.csv")
        fitted = trends[trends["note"] == "ok"]
        every = lake_series(series_table, stats_column(variable, "median"))
        truth = []
        for feature in fitted["feature"]:
            t = time_axis(list(every[feature]["time"].dt.to_pydatetime()), "year")
            lon, lat = np.full_like(t, centres[feature].x), np.full_like(t, centres[feature].y)
            truth.append(np.polyfit(t, water_truth(variable, lon, lat, t), 1)[0])
        truth = np.asarray(truth)
        error = fitted["slope"].to_numpy() - truth
        within = np.abs(error) <= 2 * fitted["stderr"].to_numpy()
        rows.append(
            (
                variable,
                f"{len(fitted):,} of {len(trends):,}",
                f"{fitted['n'].median():.0f}",
                f"{np.median(truth):.3g} {fitted['slope_unit'].iloc[0]}" if len(fitted) else "-",
                f"{np.median(np.abs(error / truth)):.2%}" if len(fitted) else "-",
                f"{within.mean():.1%}" if len(fitted) else "-",
            )
        )
    return rows


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f}"


def _spread(values: list[float]) -> str:
    import numpy as np

    if not values:
        return "-"
    return (
        f"{np.mean(values):.2f} / {np.median(values):.2f} / {np.min(values):.2f} / "
        f"{np.max(values):.2f} / {np.sum(values):,.0f}"
    )


def main(
    scenes: int = SCENES, lakes: int = LAKES, grid: str | None = None, target: str = "lakes"
) -> str:
    """Make the data, run the workflow, measure; the report (Markdown, also written to
    bench/out/lakes_e2e/results_<N>x<M>.md with the figures in .json).

    ``grid``: grid.extent; None = ``none`` when this tree's schema has the key, else the
    schema's default grid. ``target``: lakes (the lake-level trend tables) or all."""
    import yaml

    extents = grid_extents()
    if grid is None and "none" in extents:
        grid = "none"
    if grid is not None and grid not in extents:
        raise SystemExit(
            f"--grid {grid}: this tree's schema has no grid.extent {grid!r} "
            f"(it allows {extents or 'no grid.extent key'}); leave --grid out"
        )
    FOLDER.mkdir(parents=True, exist_ok=True)
    every_lake = lake_list(full_scene(real_bytes=True), max(lakes, LAKES))
    centre_aoi = write_aoi(FOLDER / f"lakes_{len(every_lake)}.geojson", every_lake)
    archive, specs, made = make_archive(scenes, centre_aoi, water_around(every_lake))
    archive_bytes, archive_disk = disk_bytes(archive)

    workdir = FOLDER / f"run_{scenes}x{lakes}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    write_aoi(workdir / "aoi.geojson", every_lake[:lakes])
    config = dataset_config(archive, specs, grid)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = []
    if target == "lakes":
        targets = [f"results/{DATASET}/lakes/{v}_trends.csv" for v in VARIABLES]
    args = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--cores", "2", *targets]
    load_before = load_average()
    wall, output, largest, rss_all = run_measured(args, workdir, "snakemake.log")
    load_after = load_average()

    seconds = scene_seconds(workdir)
    done = seconds.get("done", [])
    grid_text = (
        f"grid.extent {grid}"
        if grid is not None
        else "the schema's default grid (this tree's schema has no grid.extent): the AOI's "
        "bounding box"
    )
    summary = [
        ("scenes x lakes", f"{scenes} x {lakes:,} ({len(done)} scenes done, "
         f"{sum(len(v) for k, v in seconds.items() if k != 'done')} not)"),
        ("target", f"{target} ({steps_done(output)} jobs run), {grid_text}"),
        ("total wall s", f"{wall:,.1f}"),
        ("wall s per scene (total / scenes)", f"{wall / scenes:.2f}"),
        ("peak RSS MB: largest process / all processes", f"{largest:,.0f} / {rss_all:,.0f}"),
        ("load", f"{load_before} before, {load_after} after"),
        ("archive (not in the total)", f"{len(specs)} products {specs[0].sensing_start.date()}"
         f" .. {specs[-1].sensing_start.date()}, {_mb(archive_bytes)} MB "
         f"({_mb(archive_disk)} on disk); last generation: {made['made']} products in "
         f"{made['seconds']:,.0f} s ({made['seconds'] / made['made']:.1f} s each, "
         f"{GENERATORS} at a time)"),
    ]  # fmt: skip
    jobs = benchmark_rows(workdir)
    sizes = output_sizes(workdir)
    trends = recovery(workdir, every_lake[:lakes])
    report = (
        f"## Issue 23 end to end: {scenes} full-size scenes x {lakes:,} lakes, local source "
        f"through lake-level trends, `snakemake --cores 2`\n\n"
        + table(summary, ("measure", "value"))
        + "\n\nPer job (Snakemake's benchmark files; MB)\n\n"
        + table(jobs, ("job", *BENCHMARK_COLUMNS))
        + "\n\nPer scene (batch tables' seconds: locate + extract + grid in a pool worker, "
        "2 at a time)\n\n"
        + table(
            [(status, str(len(v)), _spread(v)) for status, v in sorted(seconds.items())],
            ("status", "scenes", "s mean / median / min / max / sum"),
        )
        + "\n\nOutput sizes\n\n"
        + table([(k, f"{n:,}", _mb(b)) for k, n, b in sizes], ("files", "count", "MB"))
        + "\n\nTrend recovery (least-squares slope of each lake's per-scene median against "
        "the generator's truth at its centroid, fitted over the same times)\n\n"
        + table(trends, RECOVERY_HEADER)
        + "\n"
    )
    name = f"results_{scenes}x{lakes}"
    (FOLDER / f"{name}.md").write_text(report)
    figures = {
        "scenes": scenes, "lakes": lakes, "target": target, "grid": grid, "wall_s": wall,
        "rss_largest_mb": largest, "rss_all_mb": rss_all, "load": [load_before, load_after],
        "archive": {"bytes": archive_bytes, "disk_bytes": archive_disk, **made},
        "jobs": jobs, "scene_seconds": seconds, "sizes": sizes, "recovery": trends,
    }  # fmt: skip
    (FOLDER / f"{name}.json").write_text(json.dumps(figures, indent=1))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=SCENES, help="full-size scenes")
    parser.add_argument("--lakes", type=int, default=LAKES, help="lakes in the AOI")
    parser.add_argument(
        "--grid", help="grid.extent (default: none when the schema has the key, else unset)"
    )
    parser.add_argument("--target", choices=("lakes", "all"), default="lakes")
    args = parser.parse_args()
    print(main(args.scenes, args.lakes, args.grid, args.target))
