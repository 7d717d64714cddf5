"""Rule plan: the download plan of a dataset, from the catalogue alone. Hands Snakemake's
values to :func:`eotrend.stages.plan.run` (by hand: ``python -m eotrend plan --help``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.plan import run

    run_rule(snakemake, run)
