# scenes: per batch of scenes (source order, `scenes_per_job` each), locate every AOI
# vertex on each scene's pixel grid, extract the pixels inside the AOI with their
# statistics, and grid the scene onto the dataset's regular grid. One job per batch, the
# scenes being the tasks of its process pool: a job per scene would cost more in start-up
# than its reads (eotrend/stages/scenes.py). Each scene is worked on in its own folder of
# the scene cache (SCENE_WORK, outside the outputs), so a rerun redoes only the scenes not
# done with the same inputs; what later rules read are the batch's declared files
# (eotrend/sentinel3/batches.py), and each scene's log is copied into the batch's log.
#
# A dataset whose grid extent is not aoi (one grid per feature, made later from the
# pixels by rule lake_grids, or none) grids no scene: its batches are made by rule
# scenes_without_grids, the same work without grids.tif and without the grid keys.


rule scenes:
    input:
        manifest="results/{dataset}/manifest.csv",
        aoi=aoi_input,
    output:
        table="results/{dataset}/batches/{batch}.csv",
        stats="results/{dataset}/batches/{batch}/stats.csv",
        pixels="results/{dataset}/batches/{batch}/pixels.parquet",
        windows="results/{dataset}/batches/{batch}/windows.json",
        grids="results/{dataset}/batches/{batch}/grids.tif",
    log:
        "logs/{dataset}/batches/{batch}.log",
    benchmark:
        "benchmarks/{dataset}/batches/{batch}.tsv"
    wildcard_constraints:
        dataset=one_of(SCENE_GRIDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_scene,
        runtime=runtime_batch,
    params:
        scenes=batch_scenes,
        aoi_id=dataset_setting("aoi_id"),
        variables=dataset_setting("variables"),
        quality=dataset_setting("quality"),
        grid=scene_grid_settings,
        product_masks=dataset_setting("product_masks"),
    script:
        "../scripts/scenes.py"


rule scenes_without_grids:
    input:
        manifest="results/{dataset}/manifest.csv",
        aoi=aoi_input,
    output:
        table="results/{dataset}/batches/{batch}.csv",
        stats="results/{dataset}/batches/{batch}/stats.csv",
        pixels="results/{dataset}/batches/{batch}/pixels.parquet",
        windows="results/{dataset}/batches/{batch}/windows.json",
    log:
        "logs/{dataset}/batches/{batch}.log",
    benchmark:
        "benchmarks/{dataset}/batches/{batch}.tsv"
    wildcard_constraints:
        dataset=one_of(NO_SCENE_GRIDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_scene,
        runtime=runtime_batch,
    params:
        scenes=batch_scenes,
        aoi_id=dataset_setting("aoi_id"),
        variables=dataset_setting("variables"),
        quality=dataset_setting("quality"),
        product_masks=dataset_setting("product_masks"),
    script:
        "../scripts/scenes.py"
