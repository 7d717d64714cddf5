# stack: per variable, the dated rasters of a dataset in date order as one multi-band
# GeoTIFF (optionally composited per period); and the per-scene statistics as one table.


rule stack:
    input:
        rasters=stack_inputs,
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
        dataset=dataset_config,
        digest=config_digest,
    script:
        "../scripts/stack.py"


rule timeseries:
    input:
        stats=scene_stats,
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
    script:
        "../scripts/timeseries.py"
