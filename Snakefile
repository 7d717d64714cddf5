# eotrend: polygon extractions and per-pixel trends from satellite image time series.
# What it does: README.md; the rules and their contracts: docs/CONTRIBUTING.md; rules/.


from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/scenes.smk"
include: "rules/stack.smk"
include: "rules/trend.smk"
include: "rules/lakes.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs,
    localrule: True
