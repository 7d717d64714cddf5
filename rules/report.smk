# report: figures people look at (trend maps, per-feature time series).


rule plot_trend:
    input:
        trend="results/{dataset}/trend/{variable}.tif",
        aoi=aoi_input,
    output:
        png="results/{dataset}/plots/{variable}_trend.png",
    log:
        "logs/{dataset}/plot_trend/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/plot_trend/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        kind="trend-map",
    script:
        "../scripts/report.py"


rule plot_timeseries:
    input:
        table="results/{dataset}/timeseries.csv",
    output:
        png="results/{dataset}/plots/{variable}_timeseries.png",
    log:
        "logs/{dataset}/plot_timeseries/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/plot_timeseries/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        kind="timeseries",
    script:
        "../scripts/report.py"
