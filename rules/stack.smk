# stack: per variable, the dated rasters of a dataset in time order as one multi-band
# GeoTIFF, one band per acquisition (sentinel3: per scene, dated by the sensing start in
# each grid's metadata, so same-day scenes stay apart) or per period with a composite
# (daily, year, ...); and the per-scene statistics as one table (every scene).


rule stack:
    input:
        rasters=stack_inputs,
        batches=batch_tables,
        reference=align_reference,
    output:
        stack="results/{dataset}/stack/{variable}.tif",
        dates="results/{dataset}/stack/{variable}_dates.csv",
    log:
        "logs/{dataset}/stack/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/stack/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_raster,
        runtime=runtime_min,
    params:
        grids=scene_grids,
        dataset=dataset_config,
        digest=config_digest,
    script:
        "../scripts/stack.py"


rule timeseries:
    input:
        batches=batch_tables,
    output:
        table="results/{dataset}/timeseries.csv",
    log:
        "logs/{dataset}/timeseries.log",
    benchmark:
        "benchmarks/{dataset}/timeseries.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        stats=scene_stats,
        pixels=scene_pixels,
        min_coverage=min_coverage,
    script:
        "../scripts/timeseries.py"
