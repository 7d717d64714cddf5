# download: find the dataset's scenes or files and put them in the product cache.
# A checkpoint: per-scene jobs are expanded from the manifest it writes. Products live
# in the cache folder (never a rule output), so a failed job deletes nothing.


checkpoint download:
    input:
        aoi=aoi_input,
    output:
        manifest="results/{dataset}/manifest.csv",
    log:
        "logs/{dataset}/download.log",
    benchmark:
        "benchmarks/{dataset}/download.tsv"
    # Compute nodes often have no internet: the download runs on the submit host.
    localrule: True
    conda:
        "../envs/eotrend.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_scene,
        runtime=runtime_min,
    params:
        dataset=dataset_config,
    script:
        "../scripts/download.py"
