"""Rule download: the download checkpoint. Hands Snakemake's values to
:func:`eotrend.stages.download.run` (by hand: ``python -m eotrend --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.download import run

    run_rule(snakemake, run)
