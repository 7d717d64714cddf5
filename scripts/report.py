"""Rule figures_<dataset>: every map and chart of a dataset (the lake trend maps too),
drawn in one job. Hands Snakemake's values to :func:`eotrend.stages.report.run_figures`
(one figure by hand: ``python -m eotrend report --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.report import run_figures

    run_rule(snakemake, run_figures)
