# trend: per-pixel linear regression of each variable on time over its stack, fitted in
# row tiles run as separate jobs (one tile unless --set-scatter trend_tiles=N) and
# gathered into one GeoTIFF identical to a single fit.


scattergather:
    trend_tiles=1,


rule trend_tile:
    input:
        stack="results/{dataset}/stack/{variable}.tif",
    output:
        tile=temp("results/{dataset}/trend/tiles/{variable}_{scatteritem}.tif"),
    log:
        "logs/{dataset}/trend/{variable}_{scatteritem}.log",
    benchmark:
        "benchmarks/{dataset}/trend/{variable}_{scatteritem}.tsv"
    wildcard_constraints:
        dataset=one_of(PIXEL_TRENDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_raster,
        runtime=runtime_min,
    params:
        settings=pixel_trend_settings,
    script:
        "../scripts/trend_tile.py"


rule trend:
    input:
        tiles=gather.trend_tiles("results/{{dataset}}/trend/tiles/{{variable}}_{scatteritem}.tif"),
    output:
        raster="results/{dataset}/trend/{variable}.tif",
    log:
        "logs/{dataset}/trend/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/trend/{variable}.tsv"
    wildcard_constraints:
        dataset=one_of(PIXEL_TRENDS),
    conda:
        "../envs/eotrend.yaml"
    threads: pool_threads
    resources:
        mem_mb=mem_mb_raster,
        runtime=runtime_min,
    script:
        "../scripts/trend.py"
