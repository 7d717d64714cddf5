# report: figures people look at, the run summary, and what `snakemake --report
# report.html` shows (captions in report/*.rst).


report: "../report/workflow.rst"


rule plot_trend:
    input:
        source="results/{dataset}/trend/{variable}.tif",
        aoi=aoi_input,
    output:
        figure=report(
            "results/{dataset}/plots/{variable}_trend.png",
            caption="../report/trend_map.rst",
            category="{dataset}",
            subcategory="{variable}",
            labels={"dataset": "{dataset}", "variable": "{variable}", "figure": "trend map"},
        ),
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
        title="{dataset}: {variable} trend (slope per year)",
    script:
        "../scripts/report.py"


rule plot_significance:
    input:
        source="results/{dataset}/trend/{variable}.tif",
        aoi=aoi_input,
    output:
        figure=report(
            "results/{dataset}/plots/{variable}_significance.png",
            caption="../report/significance.rst",
            category="{dataset}",
            subcategory="{variable}",
            labels={
                "dataset": "{dataset}",
                "variable": "{variable}",
                "figure": "p-value and observations",
            },
        ),
    log:
        "logs/{dataset}/plot_significance/{variable}.log",
    benchmark:
        "benchmarks/{dataset}/plot_significance/{variable}.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        kind="significance",
        title="{dataset}: {variable} p-value and observations",
    script:
        "../scripts/report.py"


rule plot_timeseries:
    input:
        source="results/{dataset}/timeseries.csv",
    output:
        figure=report(
            "results/{dataset}/plots/{variable}_timeseries.png",
            caption="../report/timeseries.rst",
            category="{dataset}",
            subcategory="{variable}",
            labels={"dataset": "{dataset}", "variable": "{variable}", "figure": "time series"},
        ),
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
        title="{dataset}: {variable} per feature",
        robust=dataset_setting("trend.robust"),
    script:
        "../scripts/report.py"


rule plot_coverage:
    input:
        source="results/{dataset}/manifest.csv",
        table="results/{dataset}/timeseries.csv",
    output:
        figure=report(
            "results/{dataset}/plots/coverage.png",
            caption="../report/coverage.rst",
            category="{dataset}",
            subcategory="scenes",
            labels={"dataset": "{dataset}", "figure": "coverage"},
        ),
    log:
        "logs/{dataset}/plot_coverage.log",
    benchmark:
        "benchmarks/{dataset}/plot_coverage.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        kind="coverage",
        title="{dataset}: coverage",
    script:
        "../scripts/report.py"


rule quicklooks:
    input:
        manifest="results/{dataset}/manifest.csv",
        aoi=aoi_input,
        windows=batch_files("windows.json"),
        pixels=batch_files("pixels.parquet"),
    output:
        quicklooks=report(
            directory("results/{dataset}/quicklooks"),
            patterns=["{scene}.png"],
            caption="../report/quicklook.rst",
            category="{dataset}",
            subcategory="scenes",
            labels={"dataset": "{dataset}", "scene": "{scene}", "figure": "quicklook"},
        ),
    log:
        "logs/{dataset}/quicklooks.log",
    benchmark:
        "benchmarks/{dataset}/quicklooks.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    params:
        scenes=quicklook_names,
    script:
        "../scripts/quicklooks.py"


rule summary:
    input:
        source="results/{dataset}/manifest.csv",
        table="results/{dataset}/timeseries.csv",
    output:
        summary=report(
            "results/{dataset}/summary.csv",
            caption="../report/summary.rst",
            category="{dataset}",
            subcategory="scenes",
            labels={"dataset": "{dataset}", "figure": "run summary"},
        ),
    log:
        "logs/{dataset}/summary.log",
    benchmark:
        "benchmarks/{dataset}/summary.tsv"
    conda:
        "../envs/eotrend.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_light,
        runtime=runtime_min,
    script:
        "../scripts/summary.py"
