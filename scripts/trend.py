"""Rule trend: gathering the trend tiles. Hands Snakemake's values to
:func:`eotrend.stages.trend.run_gather` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.trend import run_gather

    run_rule(snakemake, run_gather)
