"""Rule lakes: the lake-level trends of a variable. Hands Snakemake's values to
:func:`eotrend.stages.lakes.run` (by hand: ``python -m eotrend lakes --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.lakes import run

    run_rule(snakemake, run)
