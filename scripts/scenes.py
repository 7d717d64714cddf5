"""scenes: locate, extract and grid a batch of Sentinel-3 OLCI scenes in one job.

The workflow's per-scene step (rule `scenes`): each scene of the batch is one task of the
job's process pool and gets the outputs the locate and extract commands write
(results/<dataset>/scenes/<scene>/: vertices.csv, window.json, pixels.parquet, stats.csv,
grid/) and its own log; scenes already done with the same product, AOI, config and code
are kept (see eotrend.stages.scenes). For one scene by hand use scripts/locate.py and
scripts/extract.py.
"""

if __name__ == "__main__":
    import sys

    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" not in globals():
        sys.exit(__doc__ + "\nerror: this script runs inside Snakemake (rule scenes).")
    from eotrend.stages.scenes import SceneJob, SceneSettings, run_batch

    setup_logging(snakemake.log[0])
    dataset = snakemake.params.dataset
    with user_errors():
        run_batch(
            [SceneJob(**scene) for scene in snakemake.params.scenes],
            snakemake.input.aoi,
            SceneSettings(
                variables=dataset["variables"],
                quality=dataset["quality"],
                grid=dataset["grid"],
                product_masks=dataset["product_masks"],
                digest=snakemake.params.digest,
            ),
            snakemake.output.table,
            threads=snakemake.threads,
            mem_mb=snakemake.resources.mem_mb,
        )
