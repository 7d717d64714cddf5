# download: find the dataset's scenes or files and put them in the product cache.
# A checkpoint: per-scene jobs are expanded from the manifest it writes. Products live
# in the cache folder (never a rule output), so a failed or interrupted job deletes
# nothing: the rerun skips finished products and resumes partial downloads.
# The cdse source's code is the package scripts/eotrend/sources/cdse/ (one module per
# concern: catalogue search, tokens, transfers, per-file Nodes, S3; its __init__ lists them).
#
# Credentials (cdse source): the script reads CDSE_USERNAME/CDSE_PASSWORD or ~/.netrc
# itself. No `envvars:` directive, because it would make the environment variables
# mandatory and netrc users would have to set them anyway; no `params:` either, because
# params are stored in .snakemake/metadata (P14). A missing or wrong credential fails the
# job with a message saying which one.


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
    threads: pool_threads
    resources:
        mem_mb=mem_mb_download,
        runtime=runtime_min,
    params:
        settings=download_settings,
    script:
        "../scripts/download.py"


# plan: before the download (and without it), what it would move, from the catalogue
# alone: `snakemake results/<dataset>/download_plan.txt`. Not asked for by rule all.
rule plan:
    input:
        aoi=aoi_input,
    output:
        plan="results/{dataset}/download_plan.txt",
    log:
        "logs/{dataset}/download_plan.log",
    benchmark:
        "benchmarks/{dataset}/download_plan.tsv"
    # The catalogue is on the internet: the plan runs on the submit host.
    localrule: True
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        settings=download_settings,
    script:
        "../scripts/plan.py"
