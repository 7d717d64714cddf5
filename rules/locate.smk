# locate: map every AOI vertex onto one scene's pixel grid; find the window to extract.


rule locate:
    input:
        manifest="results/{dataset}/manifest.csv",
        aoi=aoi_input,
    output:
        vertices="results/{dataset}/scenes/{scene}/vertices.csv",
        window="results/{dataset}/scenes/{scene}/window.json",
    log:
        "logs/{dataset}/locate/{scene}.log",
    benchmark:
        "benchmarks/{dataset}/locate/{scene}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_scene,
        runtime=runtime_min,
    params:
        product=scene_product,
    script:
        "../scripts/locate.py"
