"""Rule lake_pixels: a dataset's pixels partitioned by feature. Hands Snakemake's values
to :func:`eotrend.stages.lake_pixels.run` (by hand: ``python -m eotrend lake-pixels``)."""

if __name__ == "__main__":
    from eotrend.cli import run_rule
    from eotrend.stages.lake_pixels import run

    run_rule(snakemake, run)
