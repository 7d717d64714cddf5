"""Rules plot_trend, plot_significance, plot_timeseries, plot_coverage, plot_lake_trends and
quicklook: a figure. Hands Snakemake's values to :func:`eotrend.stages.report.run` (by hand:
``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.report import run

    run_rule(snakemake, run)
