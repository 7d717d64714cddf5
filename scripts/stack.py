"""Rule stack: a variable's stack. Hands Snakemake's values to
:func:`eotrend.stages.stack.run` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.stack import run

    run_rule(snakemake, run)
