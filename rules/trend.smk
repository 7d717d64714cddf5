# trend: per-pixel linear regression of each variable on time over its stack.


rule trend:
    input:
        stack="results/{dataset}/stack/{variable}.tif",
    output:
        trend="results/{dataset}/trend/{variable}.tif",
    log:
        "logs/{dataset}/trend/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/trend/{variable}.tsv"
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
        "../scripts/trend.py"
