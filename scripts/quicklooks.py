"""Rule quicklooks: a dataset's quicklooks, drawn in one job. Hands Snakemake's values to
:func:`eotrend.stages.report.run_quicklooks` (by hand: ``python -m eotrend report
quicklook --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.report import run_quicklooks

    run_rule(snakemake, run_quicklooks)
