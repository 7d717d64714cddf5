# extract: the pixels of one scene inside the AOI, their statistics, and the scene
# gridded onto the dataset's regular grid (one GeoTIFF per variable).


rule extract:
    input:
        manifest="results/{dataset}/manifest.csv",
        window="results/{dataset}/scenes/{scene}/window.json",
        aoi=aoi_input,
    output:
        pixels="results/{dataset}/scenes/{scene}/pixels.parquet",
        stats="results/{dataset}/scenes/{scene}/stats.csv",
        grid=directory("results/{dataset}/scenes/{scene}/grid"),
    log:
        "logs/{dataset}/extract/{scene}.log",
    benchmark:
        "benchmarks/{dataset}/extract/{scene}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_scene,
        runtime=runtime_min,
    params:
        product=scene_product,
        dataset=dataset_config,
        digest=config_digest,
    script:
        "../scripts/extract.py"
