"""Rule timeseries: a dataset's time series. Hands Snakemake's values to
:func:`eotrend.stages.timeseries.run` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.timeseries import run

    run_rule(snakemake, run)
