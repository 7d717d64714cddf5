# lakes: per variable of a sentinel3 dataset, the trend of every AOI feature's per-scene
# statistic (trend.lake_statistic; per composite period when one is set) from the time
# series: least squares, Theil-Sen, the Mann-Kendall test of trend.test, seasonal Kendall
# with trend.seasons, Benjamini-Hochberg q-values over the lakes (eotrend/stages/lakes.py).
# The params are the keys the stage reads, one by one: an edit of any other trend key
# (robust, breaks, fdr.enabled) leaves the lakes alone. The map of each variable's lake
# trends is drawn by the dataset's figures job (rules/report.smk).


rule lakes:
    input:
        table="results/{dataset}/timeseries.csv",
        aoi=aoi_input,
        pixels=batch_files("pixels.parquet"),
    output:
        trends="results/{dataset}/lakes/{variable}_trends.csv",
        geopackage="results/{dataset}/lakes/{variable}_trends.gpkg",
    log:
        "logs/{dataset}/lakes/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/lakes/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        statistic=dataset_setting("trend.lake_statistic"),
        period=dataset_setting("composite.period"),
        reducer=dataset_setting("composite.reducer"),
        min_obs=dataset_setting("trend.min_obs"),
        time_unit=dataset_setting("trend.time_unit"),
        test=dataset_setting("trend.test"),
        lags=dataset_setting("trend.lags"),
        ci=dataset_setting("trend.ci"),
        seasons=dataset_setting("trend.seasons"),
        fdr_alpha=dataset_setting("trend.fdr.alpha"),
        fdr_pvalue=dataset_setting("trend.fdr.pvalue"),
    script:
        "../scripts/lakes.py"
