"""Rule summary: a dataset's run summary. Hands Snakemake's values to
:func:`eotrend.stages.summary.run` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.summary import run

    run_rule(snakemake, run)
