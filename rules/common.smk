# Shared by every rule: config validation, wildcard constraints, input functions and
# resource functions. No rules here.

import csv
import os
import glob
import re
import sys

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError

sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))
from eotrend.core.config import check_config
from eotrend.core.errors import InputError
from eotrend.geo.aoi import read_aoi
from eotrend.geo.grids import check_aoi_grid
from eotrend.sentinel3.memory import batch_mem_mb, series_mem_mb

# The config against the schema (defaults filled in) and what the schema cannot say, one
# line per problem with the closest valid key for a misspelt one.
try:
    check_config(config)
except InputError as error:
    raise WorkflowError(f"invalid config: {error}") from None

DATASETS = config["datasets"]

# A geotiff dataset's glob must match now: later it would only surface as a stack
# without inputs.
for _name, _cfg in DATASETS.items():
    _pattern = _cfg.get("files", "")
    if _cfg["kind"] == "geotiff" and _cfg["source"]["type"] == "local" and not glob.glob(_pattern):
        raise WorkflowError(
            f"invalid config: datasets.{_name}.files: the pattern {_pattern!r} matches no file "
            f"(from {os.getcwd()}). Give a glob of the dataset's GeoTIFFs relative to the "
            "working directory, e.g. exports/ndvi_*.tif."
        )

# A sentinel3 dataset's AOI must be usable now, before any download: every duplicate,
# empty or missing id and unusable geometry of the file in one message. Read on every
# parse (each cluster job parses too) without a cache: reading and checking 5,000 lake
# polygons of 65 vertices takes about 0.1 s from a GeoPackage or Shapefile, 0.5 s from
# GeoJSON, plus 0.2 s of imports (bench/aoi_bench.py). With grid extent aoi, the grid
# around the whole AOI must not be continental unless asked for (grid.max_cells).
AOI_FEATURES = {}
for _name, _cfg in DATASETS.items():
    if _cfg["kind"] == "sentinel3":
        try:
            _features = read_aoi(_cfg["aoi"], _cfg["aoi_id"])
        except InputError as error:
            raise WorkflowError(f"invalid config: datasets.{_name}.aoi: {error}") from None
        AOI_FEATURES[_name] = len(_features)
        if _cfg["grid"]["extent"] == "aoi":
            try:
                check_aoi_grid(_features, _cfg["grid"], f"datasets.{_name}.grid")
            except InputError as error:
                raise WorkflowError(f"invalid config: {error}") from None


def grid_extent(name):
    """Which grids dataset ``name`` makes: aoi (one grid, the stack and per-pixel trend
    of the dataset; every geotiff dataset), feature (one per feature) or none."""
    cfg = DATASETS[name]
    return cfg["grid"]["extent"] if cfg["kind"] == "sentinel3" else "aoi"


def one_of(names):
    """A wildcard constraint matching exactly the dataset ``names`` (none: a regex that
    matches nothing), restricting a rule to those datasets."""
    return "|".join(re.escape(name) for name in names) or r"(?!x)x"


# The datasets each rule works for (Snakemake fixes the outputs per rule), so a batch of
# scenes with grids and one without are two rules, each restricted to its datasets.
SENTINEL3 = [n for n, c in DATASETS.items() if c["kind"] == "sentinel3"]
SCENE_GRIDS = [n for n in SENTINEL3 if grid_extent(n) == "aoi"]
NO_SCENE_GRIDS = [n for n in SENTINEL3 if grid_extent(n) != "aoi"]
FEATURE_GRIDS = [n for n in SENTINEL3 if grid_extent(n) == "feature"]
PIXEL_TRENDS = [n for n in DATASETS if grid_extent(n) == "aoi"]

# A time series is also written as CSV (timeseries.csv, for spreadsheets) when the AOI
# has at most this many features: beyond, a row per scene and feature makes a CSV of
# hundreds of MB that the Parquet table holds in a fraction of it, typed. Asked for by
# name (snakemake results/<dataset>/timeseries.csv) it is made for any AOI.
TIMESERIES_CSV_MAX_FEATURES = 100

# Sentinel-3 product names without ".SEN3" (ESA's OLCI naming convention); strict so that
# underscores and dots never make wildcards ambiguous.
SCENE_PATTERN = (
    r"S3[AB_]_OL_[12]_[A-Z]{3}_[A-Z_]{2}_\d{8}T\d{6}_\d{8}T\d{6}_\d{8}T\d{6}"
    r"_[0-9_]{17}_[A-Z0-9]{3}_[ORFD]_(?:NR|ST|NT)_\d{3}"
)


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    scene=SCENE_PATTERN,
    variable=r"[A-Za-z0-9_]+",
    batch=r"\d{4}",


def dataset_config(wildcards):
    """The validated config of the wildcard's dataset (defaults filled in)."""
    return DATASETS[wildcards.dataset]


# The dataset keys the download stage reads: its source, dates and AOI (with the column
# of its ids, checked first), and what the baseline check compares with the products
# (variables, quality, product_masks).
DOWNLOAD_KEYS = (
    "kind",
    "start",
    "end",
    "aoi",
    "aoi_id",
    "source",
    "variables",
    "quality",
    "product_masks",
)


def download_settings(wildcards):
    """The part of the dataset's config the download stage reads: an edit of any other key
    (figures, trend, grid) leaves the checkpoint alone. ``aoi_id`` is left out while null
    (its default), so that checkpoints run before it existed keep their params."""
    cfg = dataset_config(wildcards)
    settings = {key: cfg[key] for key in DOWNLOAD_KEYS if key in cfg}
    if settings.get("aoi_id", 0) is None:
        del settings["aoi_id"]
    return canonical(settings)


def dataset_variables(name):
    """Variable names whose stacks and trends a dataset produces."""
    cfg = DATASETS[name]
    return cfg["variables"] if cfg["kind"] == "sentinel3" else [cfg["variable"]]


def aoi_input(wildcards):
    """The AOI file of a sentinel3 dataset (none for geotiff datasets)."""
    cfg = dataset_config(wildcards)
    return cfg["aoi"] if cfg["kind"] == "sentinel3" else []


_MANIFESTS = {}


def manifest_rows(dataset):
    """Usable (ok) rows of the dataset's manifest, in sensing order; available once the
    download checkpoint ran, and read once per manifest version (input functions ask for
    every job, and a manifest can list thousands of scenes)."""
    manifest = checkpoints.download.get(dataset=dataset).output.manifest
    key = (manifest, os.stat(manifest).st_mtime_ns)
    if key not in _MANIFESTS:
        with open(manifest, newline="") as handle:
            _MANIFESTS[key] = [row for row in csv.DictReader(handle) if row["status"] == "ok"]
    return _MANIFESTS[key]


def scenes(dataset):
    """Usable scene names of a sentinel3 dataset, in sensing order."""
    return [row["name"] for row in manifest_rows(dataset)]


def batch_ids(dataset):
    """The batch numbers of a sentinel3 dataset: scenes in sensing order, cut into runs
    of scenes_per_job."""
    size = DATASETS[dataset]["scenes_per_job"]
    return [f"{k:04d}" for k in range((len(scenes(dataset)) + size - 1) // size)]


# Each scene is worked on in its own folder here, a cache outside the rule outputs (as the
# products are): a failed batch's finished scenes survive Snakemake's deletion of its
# outputs, and a rerun redoes only the scenes whose stamp is not current.
SCENE_WORK = "resources/scenes"


def batch_scenes(wildcards):
    """The scenes of one batch: name, product and work folder of each."""
    size = DATASETS[wildcards.dataset]["scenes_per_job"]
    first = int(wildcards.batch) * size
    rows = manifest_rows(wildcards.dataset)[first : first + size]
    if not rows:
        raise ValueError(f"{wildcards.dataset} has no batch {wildcards.batch}")
    return [
        {
            "name": row["name"],
            "product": row["path"],
            "folder": f"{SCENE_WORK}/{wildcards.dataset}/{row['name']}",
        }
        for row in rows
    ]


def batch_files(leaf):
    """An input function: the file ``leaf`` of every batch of a sentinel3 dataset
    (results/{dataset}/batches/{batch}/{leaf}); none for geotiff datasets."""

    def files(wildcards):
        if dataset_config(wildcards)["kind"] != "sentinel3":
            return []
        return expand(
            "results/{dataset}/batches/{batch}/{leaf}",
            dataset=wildcards.dataset,
            batch=batch_ids(wildcards.dataset),
            leaf=leaf,
        )

    return files


def scene_grid_settings(wildcards):
    """A params function: the grid keys gridding a scene reads (crs, resolution,
    max_distance_m, margin), in canonical order: extent and max_cells decide which rules
    run, not what a scene's grid holds."""
    grid = dataset_config(wildcards)["grid"]
    return canonical({k: v for k, v in grid.items() if k not in ("extent", "max_cells")})


def stack_inputs(wildcards):
    """The files a geotiff dataset's stack is built from: the manifest's files (synthetic
    source) or the files matching the dataset's glob (local source); none for sentinel3,
    whose scene grids are the batches' grids.tif)."""
    cfg = dataset_config(wildcards)
    if cfg["kind"] == "sentinel3":
        return []
    if cfg["source"]["type"] == "local":
        return sorted(glob.glob(cfg["files"]))
    return [row["path"] for row in manifest_rows(wildcards.dataset)]


def align_reference(wildcards):
    """The raster a geotiff dataset's inputs are warped onto (none when they align)."""
    reference = dataset_config(wildcards)["align"]["reference"]
    return [reference] if reference else []


def quicklook_scenes(dataset):
    """The scenes that get a quicklook: all of them up to the dataset's `quicklooks`
    count, else that many spread evenly over the series (first and last included)."""
    names = scenes(dataset)
    count = DATASETS[dataset]["quicklooks"]
    if len(names) <= count:
        return names
    if count <= 1:
        return names[:count]
    picks = sorted({round(k * (len(names) - 1) / (count - 1)) for k in range(count)})
    return [names[k] for k in picks]


def quicklook_names(wildcards):
    """A params function: the scenes of the wildcard's dataset that get a quicklook."""
    return quicklook_scenes(wildcards.dataset)


# The figures of a dataset (rule figures_<dataset>, rules/report.smk).


def figure_report(path, caption, subcategory, figure, variable=None):
    """A figure of the dataset's `figures` job as a report() item (wildcard {dataset})."""
    labels = {"dataset": "{dataset}", "figure": figure}
    if variable is not None:
        labels["variable"] = variable
    return report(
        path,
        caption=caption,
        category="{dataset}",
        subcategory=subcategory,
        labels=labels,
    )


def figure_outputs(name):
    """The figures of dataset `name`, named lists in the order of its variables: per
    variable the trend map and the significance map (a dataset with a per-pixel trend,
    PIXEL_TRENDS) and (sentinel3) the time series and the lake trend map; per sentinel3
    dataset the coverage chart."""
    variables = dataset_variables(name)
    plots = "results/{dataset}/plots"
    outputs = {}
    if name in PIXEL_TRENDS:
        outputs["trend_maps"] = [
            figure_report(f"{plots}/{v}_trend.png", "../report/trend_map.rst", v, "trend map", v)
            for v in variables
        ]
        outputs["significance_maps"] = [
            figure_report(
                f"{plots}/{v}_significance.png",
                "../report/significance.rst",
                v,
                "p-value and observations",
                v,
            )
            for v in variables
        ]
    if DATASETS[name]["kind"] == "sentinel3":
        outputs["timeseries_plots"] = [
            figure_report(
                f"{plots}/{v}_timeseries.png", "../report/timeseries.rst", v, "time series", v
            )
            for v in variables
        ]
        outputs["lake_trend_maps"] = [
            figure_report(
                f"{plots}/{v}_lake_trends.png", "../report/lake_trends.rst", v, "lake trends", v
            )
            for v in variables
        ]
        outputs["coverage_plot"] = figure_report(
            f"{plots}/coverage.png", "../report/coverage.rst", "scenes", "coverage"
        )
    return outputs


def figure_inputs(name):
    """What dataset `name`'s figures are drawn from: its per-pixel trends (PIXEL_TRENDS,
    in the order of its variables) and, for a sentinel3 dataset, its lake trends
    (GeoPackages, same order), the time series (Parquet: always made) and the scene
    list."""
    variables = dataset_variables(name)
    inputs = {}
    if name in PIXEL_TRENDS:
        inputs["trends"] = [f"results/{{dataset}}/trend/{v}.tif" for v in variables]
    if DATASETS[name]["kind"] == "sentinel3":
        inputs["lakes"] = [f"results/{{dataset}}/lakes/{v}_trends.gpkg" for v in variables]
        inputs["table"] = "results/{dataset}/timeseries.parquet"
        inputs["manifest"] = "results/{dataset}/manifest.csv"
    return inputs


def figure_params(name):
    """What dataset `name`'s figures read of its config: the variables (figure titles)
    and, for a sentinel3 dataset, trend.robust (the Theil-Sen line of the time series)."""
    params = {"variables": dataset_variables(name)}
    if DATASETS[name]["kind"] == "sentinel3":
        params["robust"] = dataset_setting("trend.robust")
    return params


def canonical(value):
    """``value`` with every mapping's keys in sorted order: Snakemake compares params as
    text, so the order keys were written in must not count as a change."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def dataset_setting(key):
    """A params function: the dataset's value of ``key``, a dotted path such as
    ``dates.regex`` (schema defaults filled in by the config check), in canonical order."""

    def setting(wildcards):
        value = dataset_config(wildcards)
        for part in key.split("."):
            value = value[part]
        return canonical(value)

    return setting


# The trend keys only the lake-level trends read (the lakes rule); the per-pixel trend's
# settings leave them out, so that editing one reruns the lakes alone.
LAKE_ONLY_TREND_KEYS = ("lake_statistic",)


def pixel_trend_settings(wildcards):
    """A params function: the dataset's `trend` block (defaults filled in, canonical)
    without LAKE_ONLY_TREND_KEYS."""
    trend = dataset_config(wildcards)["trend"]
    return canonical({k: v for k, v in trend.items() if k not in LAKE_ONLY_TREND_KEYS})


def stack_dates_from(wildcards):
    """Where the stack reads each raster's date: a sentinel3 dataset's scene grids carry
    their sensing time in their metadata; a geotiff dataset says (dates.from)."""
    cfg = dataset_config(wildcards)
    return "metadata" if cfg["kind"] == "sentinel3" else cfg["dates"]["from"]


def stack_min_coverage(wildcards):
    """The AOI fraction a scene grid's pass must observe to enter the stack (sentinel3);
    0 for a geotiff series, whose rasters carry no coverage."""
    cfg = dataset_config(wildcards)
    return cfg["min_coverage"] if cfg["kind"] == "sentinel3" else 0.0


# A batch's files; the table is results/{dataset}/batches/{batch}.csv. grids.tif only
# with grid extent aoi (rule scenes; scenes_without_grids writes the others).
BATCH_FILES = ("stats.csv", "pixels.parquet", "windows.json", "grids.tif")


def batch_leaves(name):
    """The files of each batch of sentinel3 dataset ``name`` (BATCH_FILES, without the
    grids when its grid extent is not aoi)."""
    return [leaf for leaf in BATCH_FILES if leaf != "grids.tif" or name in SCENE_GRIDS]


def final_outputs(wildcards):
    """The final targets: per dataset and variable the per-pixel trend and its maps
    (PIXEL_TRENDS), and for a sentinel3 dataset the time series chart and lake-level
    trends (table, GeoPackage, map), and each feature's stack and pixel trend (grid extent
    feature); per sentinel3 dataset the time series (Parquet, and CSV for an AOI of at
    most TIMESERIES_CSV_MAX_FEATURES features), the pixels partitioned by feature, the
    coverage chart, the run summary, the quicklooks folder (quicklook_scenes) and every
    batch's files. The batches are asked for because Snakemake leaves a deleted
    intermediate file missing while what was made from it is up to date; a batch's
    statistics and pixels are results users read."""
    targets = []
    for name, cfg in DATASETS.items():
        for variable in dataset_variables(name):
            if name in PIXEL_TRENDS:
                targets.append(f"results/{name}/trend/{variable}.tif")
                targets.append(f"results/{name}/plots/{variable}_trend.png")
                targets.append(f"results/{name}/plots/{variable}_significance.png")
            if name in FEATURE_GRIDS:
                targets.append(f"results/{name}/lakes/stacks/{variable}")
                targets.append(f"results/{name}/lakes/trends/{variable}")
            if cfg["kind"] == "sentinel3":
                targets.append(f"results/{name}/plots/{variable}_timeseries.png")
                targets.append(f"results/{name}/lakes/{variable}_trends.csv")
                targets.append(f"results/{name}/lakes/{variable}_trends.gpkg")
                targets.append(f"results/{name}/plots/{variable}_lake_trends.png")
        if cfg["kind"] == "sentinel3":
            targets.append(f"results/{name}/timeseries.parquet")
            if AOI_FEATURES[name] <= TIMESERIES_CSV_MAX_FEATURES:
                targets.append(f"results/{name}/timeseries.csv")
            targets.append(f"results/{name}/lakes/pixels.parquet")
            targets.append(f"results/{name}/plots/coverage.png")
            targets.append(f"results/{name}/summary.csv")
            targets.append(f"results/{name}/quicklooks")
            for batch in batch_ids(name):
                targets.append(f"results/{name}/batches/{batch}.csv")
                leaves = batch_leaves(name)
                targets += [f"results/{name}/batches/{batch}/{leaf}" for leaf in leaves]
    return targets


def pool_threads(wildcards):
    """Threads of a pool rule's job: the config's `threads`, else every core given to the
    run (Snakemake caps a job's threads at --cores; on Slurm the profile's set-threads
    replaces this)."""
    return config["threads"] or workflow.cores


# Resources: totals per job (all pool workers included), growing with the attempt so
# that a job killed for memory is retried with more. Numbers come from the benchmark
# files of the demo and bench/ runs (max_pss), with headroom.


def mem_mb_light(wildcards, attempt):
    """Memory (MB) of single-process jobs that read small tables."""
    return 1000 * attempt


def mem_mb_download(wildcards, threads, attempt):
    """Memory (MB) of the download: a parent plus `threads` workers fetching products."""
    return (600 + 400 * threads) * attempt


def mem_mb_scene(wildcards, threads, attempt):
    """Memory (MB) of per-scene jobs: a parent plus `threads` workers reading windows,
    each growing with the AOI's features (eotrend.sentinel3.memory)."""
    return batch_mem_mb(threads, AOI_FEATURES[wildcards.dataset]) * attempt


def mem_mb_series(wildcards, attempt):
    """Memory (MB) of the jobs that hold a sentinel3 dataset's per-scene table whole
    (timeseries, lakes): a row per scene and AOI feature (eotrend.sentinel3.memory)."""
    try:
        rows = len(scenes(wildcards.dataset)) * AOI_FEATURES[wildcards.dataset]
    except IncompleteCheckpointException:
        rows = 0  # planned before the download ran; the job is planned again after it
    return series_mem_mb(rows) * attempt


def mem_mb_table(wildcards, attempt):
    """Memory (MB) of the job that partitions a dataset's pixels by feature: a block of
    features sorted in memory (eotrend.sentinel3.partition.BLOCK_ROWS rows)."""
    return 1500 * attempt


def mem_mb_raster(wildcards, threads, attempt):
    """Memory (MB) of stack/trend jobs: workers hold row blocks sized from this budget."""
    return (1000 + 1000 * threads) * attempt


def runtime_min(wildcards, attempt):
    """Wall-time limit (minutes); doubled on each retry."""
    return 60 * 2 ** (attempt - 1)


def runtime_batch(wildcards, attempt):
    """Wall-time limit (minutes) of a batch of scenes: an hour plus a minute per scene
    (a full-size scene takes seconds); doubled on each retry."""
    return (60 + DATASETS[wildcards.dataset]["scenes_per_job"]) * 2 ** (attempt - 1)
