"""Rule scenes: a batch of scenes. Hands Snakemake's values to
:func:`eotrend.stages.scenes.run` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.scenes import run

    run_rule(snakemake, run)
