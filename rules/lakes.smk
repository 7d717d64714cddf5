# lakes: per variable of a sentinel3 dataset, the trend of every AOI feature's per-scene
# statistic (trend.lake_statistic; per composite period when one is set) from the time
# series: least squares, Theil-Sen, the Mann-Kendall test of trend.test, seasonal Kendall
# with trend.seasons, Benjamini-Hochberg q-values over the lakes (eotrend/stages/lakes.py).
# The params are the keys the stage reads, one by one: an edit of any other trend key
# (robust, breaks, fdr.enabled) leaves the lakes alone. The map of each variable's lake
# trends is drawn by the dataset's figures job (rules/report.smk).


rule lakes:
    input:
        table="results/{dataset}/timeseries.parquet",
        aoi=aoi_input,
        pixels=batch_files("pixels.parquet"),
    output:
        trends="results/{dataset}/lakes/{variable}_trends.csv",
        geopackage="results/{dataset}/lakes/{variable}_trends.gpkg",
    log:
        "logs/{dataset}/lakes/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/lakes/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_series,
        runtime=runtime_min,
    params:
        aoi_id=dataset_setting("aoi_id"),
        statistic=dataset_setting("trend.lake_statistic"),
        period=dataset_setting("composite.period"),
        reducer=dataset_setting("composite.reducer"),
        min_obs=dataset_setting("trend.min_obs"),
        time_unit=dataset_setting("trend.time_unit"),
        test=dataset_setting("trend.test"),
        lags=dataset_setting("trend.lags"),
        ci=dataset_setting("trend.ci"),
        seasons=dataset_setting("trend.seasons"),
        fdr_alpha=dataset_setting("trend.fdr.alpha"),
        fdr_pvalue=dataset_setting("trend.fdr.pvalue"),
    script:
        "../scripts/lakes.py"


# lake_pixels: every batch's pixel table as one table sorted by feature (AOI order), then
# time, scene, row and col, with an index of each feature's rows, so that one lake's
# pixels read back from its own row groups (eotrend/sentinel3/partition.py). Memory is
# bounded by a block of features (partition.BLOCK_ROWS rows), whatever the dataset's size.
rule lake_pixels:
    input:
        pixels=batch_files("pixels.parquet"),
        aoi=aoi_input,
    output:
        lake_pixels="results/{dataset}/lakes/pixels.parquet",
    log:
        "logs/{dataset}/lakes/pixels.log",
    benchmark:
        "benchmarks/{dataset}/lakes/pixels.tsv"
    wildcard_constraints:
        dataset=one_of(SENTINEL3),
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_table,
        runtime=runtime_min,
    params:
        aoi_id=dataset_setting("aoi_id"),
    script:
        "../scripts/lake_pixels.py"


# lake_grids: per variable of a dataset of grid extent feature, each AOI feature's stack
# and per-pixel trend on a grid of its own (its bounding box on the dataset's CRS and
# resolution), made from its pixels as rules stack and trend make them for an AOI of
# that feature alone (eotrend/stages/lake_grids.py); one file per feature in each folder
# and an index.csv. The features are the tasks of the job's process pool.
rule lake_grids:
    input:
        lake_pixels="results/{dataset}/lakes/pixels.parquet",
        stats=batch_files("stats.csv"),
        aoi=aoi_input,
    output:
        stacks=directory("results/{dataset}/lakes/stacks/{variable}"),
        trends=directory("results/{dataset}/lakes/trends/{variable}"),
    log:
        "logs/{dataset}/lakes/grids_{variable}.log",
    benchmark:
        "benchmarks/{dataset}/lakes/grids_{variable}.tsv"
    wildcard_constraints:
        dataset=one_of(FEATURE_GRIDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_raster,
        runtime=runtime_min,
    params:
        aoi_id=dataset_setting("aoi_id"),
        grid=scene_grid_settings,
        min_coverage=dataset_setting("min_coverage"),
        period=dataset_setting("composite.period"),
        reducer=dataset_setting("composite.reducer"),
        settings=pixel_trend_settings,
    script:
        "../scripts/lake_grids.py"
