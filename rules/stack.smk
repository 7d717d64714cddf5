# stack: per variable, the dated rasters of a dataset in time order as one multi-band
# GeoTIFF, one band per acquisition (sentinel3: per scene, dated by the sensing start in
# each grid's metadata, so same-day scenes stay apart) or per period with a composite
# (daily, year, ...), for the datasets with one grid (PIXEL_TRENDS: geotiff, sentinel3
# with grid extent aoi); and the batches' statistics as one table (every scene),
# timeseries.parquet, with its CSV for spreadsheets.


rule stack:
    input:
        rasters=stack_inputs,
        grids=batch_files("grids.tif"),
        reference=align_reference,
    output:
        raster="results/{dataset}/stack/{variable}.tif",
        dates="results/{dataset}/stack/{variable}_dates.csv",
    log:
        "logs/{dataset}/stack/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/stack/{variable}.tsv"
    wildcard_constraints:
        dataset=one_of(PIXEL_TRENDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_raster,
        runtime=runtime_min,
    params:
        dates_from=stack_dates_from,
        regex=dataset_setting("dates.regex"),
        date_format=dataset_setting("dates.format"),
        period=dataset_setting("composite.period"),
        reducer=dataset_setting("composite.reducer"),
        nodata=dataset_setting("nodata"),
        align=dataset_setting("align.reference"),
        resampling=dataset_setting("align.resampling"),
        min_coverage=stack_min_coverage,
    script:
        "../scripts/stack.py"


rule timeseries:
    input:
        stats=batch_files("stats.csv"),
        pixels=batch_files("pixels.parquet"),
    output:
        table="results/{dataset}/timeseries.parquet",
    log:
        "logs/{dataset}/timeseries.log",
    benchmark:
        "benchmarks/{dataset}/timeseries.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_series,
        runtime=runtime_min,
    params:
        min_coverage=dataset_setting("min_coverage"),
    script:
        "../scripts/timeseries.py"


# The time series as CSV: asked for by rule all when the AOI has at most
# TIMESERIES_CSV_MAX_FEATURES features, by name for any other.
rule timeseries_csv:
    input:
        table="results/{dataset}/timeseries.parquet",
    output:
        csv="results/{dataset}/timeseries.csv",
    log:
        "logs/{dataset}/timeseries_csv.log",
    benchmark:
        "benchmarks/{dataset}/timeseries_csv.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_series,
        runtime=runtime_min,
    script:
        "../scripts/timeseries_csv.py"
