# report: figures people look at, the run summary, and what `snakemake --report
# report.html` shows (captions in report/*.rst).


report: "../report/workflow.rst"


# One job per dataset draws every map and chart of it: a figure costs a fraction of a
# job's start-up (Python, matplotlib, GDAL), and a dataset's variables are known here, so
# each figure is a declared report() output of its own (rule figures_<dataset>).
for _name in DATASETS:

    rule:
        name:
            f"figures_{re.sub(r'[^A-Za-z0-9_]', '_', _name)}"
        input:
            **figure_inputs(_name),
            aoi=aoi_input,
        output:
            **figure_outputs(_name),
        log:
            "logs/{dataset}/figures.log",
        benchmark:
            "benchmarks/{dataset}/figures.tsv"
        wildcard_constraints:
            dataset=re.escape(_name),
        conda:
            "../envs/eotrend.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb_light,
            runtime=runtime_min,
        params:
            **figure_params(_name),
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
        table="results/{dataset}/timeseries.parquet",
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
