"""Rule timeseries_csv: a dataset's time series as CSV. Hands Snakemake's values to
:func:`eotrend.stages.timeseries.run_csv` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.timeseries import run_csv

    run_rule(snakemake, run_csv)
