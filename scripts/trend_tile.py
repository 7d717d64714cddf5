"""Rule trend_tile: a trend fit (one row tile). Hands Snakemake's values to
:func:`eotrend.stages.trend.run_tile` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.trend import run_tile

    run_rule(snakemake, run_tile)
