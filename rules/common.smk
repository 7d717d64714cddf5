# Shared by every rule: config validation, wildcard constraints, input functions and
# resource functions. No rules here.

import csv
import glob
import hashlib
import json

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

DATASETS = config["datasets"]

# Sentinel-3 product names without ".SEN3" (olci-format.md §1); strict so that
# underscores and dots never make wildcards ambiguous.
SCENE_PATTERN = (
    r"S3[AB_]_OL_[12]_[A-Z]{3}_[A-Z_]{2}_\d{8}T\d{6}_\d{8}T\d{6}_\d{8}T\d{6}"
    r"_[0-9_]{17}_[A-Z0-9]{3}_[ORFD]_(?:NR|ST|NT)_\d{3}"
)


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    scene=SCENE_PATTERN,
    variable=r"[A-Za-z0-9_]+",


def dataset_config(wildcards):
    """The validated config of the wildcard's dataset (defaults filled in)."""
    return DATASETS[wildcards.dataset]


def config_digest(wildcards):
    """SHA-256 of the dataset's config: written into outputs as provenance."""
    text = json.dumps(dataset_config(wildcards), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset_variables(name):
    """Variable names whose stacks and trends a dataset produces."""
    cfg = DATASETS[name]
    return cfg["variables"] if cfg["kind"] == "sentinel3" else [cfg["variable"]]


def aoi_input(wildcards):
    """The AOI file of a sentinel3 dataset (none for geotiff datasets)."""
    cfg = dataset_config(wildcards)
    return cfg["aoi"] if cfg["kind"] == "sentinel3" else []


def manifest_rows(dataset):
    """Rows of the dataset's manifest, available once the download checkpoint ran."""
    manifest = checkpoints.download.get(dataset=dataset).output.manifest
    with open(manifest, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["status"] == "ok"]


def scenes(dataset):
    """Usable scene names of a sentinel3 dataset, in sensing order."""
    return [row["name"] for row in manifest_rows(dataset)]


def scene_product(wildcards):
    """Path of one scene's product in the cache, from the manifest."""
    for row in manifest_rows(wildcards.dataset):
        if row["name"] == wildcards.scene:
            return row["path"]
    raise ValueError(f"scene {wildcards.scene} is not in the manifest of {wildcards.dataset}")


def stack_inputs(wildcards):
    """What the stack of one variable is built from.

    sentinel3: the per-scene grid folders; geotiff: the manifest's files (synthetic
    source) or the files matching the dataset's glob (local source).
    """
    cfg = dataset_config(wildcards)
    if cfg["kind"] == "sentinel3":
        return expand(
            "results/{dataset}/scenes/{scene}/grid",
            dataset=wildcards.dataset,
            scene=scenes(wildcards.dataset),
        )
    if cfg["source"]["type"] == "local":
        return sorted(glob.glob(cfg["files"]))
    return [row["path"] for row in manifest_rows(wildcards.dataset)]


def align_reference(wildcards):
    """The raster a geotiff dataset's inputs are warped onto (none when they align)."""
    reference = dataset_config(wildcards).get("align", {}).get("reference", "")
    return [reference] if reference else []


def scene_stats(wildcards):
    """Per-scene statistics tables of a sentinel3 dataset."""
    return expand(
        "results/{dataset}/scenes/{scene}/stats.csv",
        dataset=wildcards.dataset,
        scene=scenes(wildcards.dataset),
    )


def scene_pixels(wildcards):
    """Per-scene pixel tables of a sentinel3 dataset."""
    return expand(
        "results/{dataset}/scenes/{scene}/pixels.parquet",
        dataset=wildcards.dataset,
        scene=scenes(wildcards.dataset),
    )


def min_coverage(wildcards):
    """The fraction of a feature (or of the AOI) a scene must observe to be used."""
    return dataset_config(wildcards).get("min_coverage", 0.0)


def robust_trend(wildcards):
    """Whether the dataset's trend also fits Theil-Sen / Mann-Kendall."""
    return dataset_config(wildcards)["trend"].get("robust", False)


def final_outputs(wildcards):
    """The final targets: per dataset and variable the trend, its maps and (sentinel3)
    time series; per sentinel3 dataset the coverage chart, the run summary and one
    quicklook per scene."""
    targets = []
    for name, cfg in DATASETS.items():
        for variable in dataset_variables(name):
            targets.append(f"results/{name}/trend/{variable}.tif")
            targets.append(f"results/{name}/plots/{variable}_trend.png")
            targets.append(f"results/{name}/plots/{variable}_significance.png")
            if cfg["kind"] == "sentinel3":
                targets.append(f"results/{name}/plots/{variable}_timeseries.png")
        if cfg["kind"] == "sentinel3":
            targets.append(f"results/{name}/plots/coverage.png")
            targets.append(f"results/{name}/summary.csv")
            targets += expand(
                "results/{dataset}/scenes/{scene}/quicklook.png",
                dataset=name,
                scene=scenes(name),
            )
    return targets


# Resources: totals per job (all pool workers included), growing with the attempt so
# that a job killed for memory is retried with more. Numbers come from the benchmark
# files of the demo and bench/ runs (max_pss), with headroom.


def mem_mb_light(wildcards, attempt):
    """Memory (MB) of single-process jobs that read small tables."""
    return 1000 * attempt


def mem_mb_scene(wildcards, threads, attempt):
    """Memory (MB) of per-scene jobs: a parent plus `threads` workers reading windows."""
    return (600 + 400 * threads) * attempt


def mem_mb_raster(wildcards, threads, attempt):
    """Memory (MB) of stack/trend jobs: workers hold row blocks sized from this budget."""
    return (1000 + 1000 * threads) * attempt


def runtime_min(wildcards, attempt):
    """Wall-time limit (minutes); doubled on each retry."""
    return 60 * 2 ** (attempt - 1)
