"""Rule lake_grids: each feature's stack and pixel trend. Hands Snakemake's values to
:func:`eotrend.stages.lake_grids.run` (by hand: ``python -m eotrend lake-grids``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.lake_grids import run

    run_rule(snakemake, run)
