"""trend: per-pixel regression of a stack's values on time.

Writes a float32 Cloud-Optimised GeoTIFF with bands slope, intercept, rvalue, pvalue,
stderr, intercept_stderr, nobs (the definitions of scipy.stats.linregress; slope per year
by default), then with --robust sen_slope, sen_intercept, mk_tau, mk_pvalue (Theil-Sen and
the Mann-Kendall test; --test picks a variant for serially correlated series), with --ci
the slope intervals, with --seasons the seasonal Kendall test and Sen slope, with
--breaks pettitt the change point, with --fdr the Benjamini-Hochberg q-values (see the
README for every band). Pixels with fewer than --min-obs valid values, or no variance in
time, are NaN (nobs still written).

    python scripts/trend.py stack.tif -o trend.tif [--min-obs 3] [--robust]
        [--test original|hamed_rao|yue_wang|prewhiten|trend_free_prewhiten] [--lags N]
        [--ci 0.95] [--seasons month|season] [--breaks pettitt]
        [--fdr [--fdr-alpha 0.1] [--fdr-pvalue pvalue|mk_pvalue|seasonal_pvalue]]
        [--time-unit year|day] [--chunk-rows N] [--workers N] [--mem-mb MB]

A stack too large for one job can be fitted as row tiles, then gathered into the same
result (the workflow does this with --set-scatter trend_tiles=N):

    python scripts/trend.py stack.tif -o tile2.tif --tile 2-of-3     # one per tile
    python scripts/trend.py --gather tile1.tif tile2.tif tile3.tif -o trend.tif
"""

import argparse
from pathlib import Path


def main(
    stack: str,
    output: str,
    *,
    min_obs: int = 3,
    time_unit: str = "year",
    robust: bool = False,
    options: dict | None = None,
    compress: str = "ZSTD",
    chunk_rows: int | None = None,
    tile: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    digest: str | None = None,
) -> None:
    """Fit every pixel of ``stack`` (or the rows of ``tile``, e.g. "2-of-3") into
    ``output``; ``options``: the keyword arguments of eotrend.stats.pixelwise.Options."""
    from functools import partial

    from eotrend.core import provenance
    from eotrend.stages.trend import fit_tile, trend
    from eotrend.stats.pixelwise import Options

    fit = partial(fit_tile, item=tile) if tile else trend
    fit(
        Path(stack),
        Path(output),
        min_obs=min_obs,
        time_unit=time_unit,
        options=Options(robust=robust, **(options or {})),
        compress=compress,
        chunk_rows=chunk_rows,
        threads=threads,
        mem_mb=mem_mb,
        tags=provenance.tags(digest),
    )


def settings_options(settings: dict) -> dict:
    """The Options keyword arguments of a dataset's validated ``trend`` settings."""
    seasons, fdr = settings["seasons"], settings["fdr"]
    return {
        "test": settings["test"],
        "lags": settings["lags"],
        "ci": float(settings["ci"]),
        "seasons": seasons if isinstance(seasons, str) else tuple(map(tuple, seasons)),
        "breaks": settings["breaks"],
        "fdr": fdr["enabled"],
        "fdr_alpha": fdr["alpha"],
        "fdr_pvalue": fdr["pvalue"],
    }


def gather(tiles: list[str], output: str, *, threads: int | None = None) -> None:
    """Write the row tiles (in order) into one GeoTIFF ``output``."""
    from eotrend.stages.trend import gather as gather_tiles

    gather_tiles([Path(tile) for tile in tiles], Path(output), threads=threads)


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.core.logs import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        help="the stack made by stack.py (bands dated); with --gather, the tiles",
    )
    parser.add_argument("-o", "--output", required=True, help="statistics GeoTIFF to write")
    parser.add_argument(
        "--min-obs", type=int, default=3, help="fewest valid values for a fit (default: 3)"
    )
    parser.add_argument(
        "--robust",
        action="store_true",
        help="add Theil-Sen slope and intercept and the Mann-Kendall test (about 10x slower)",
    )
    parser.add_argument(
        "--test",
        choices=["original", "hamed_rao", "yue_wang", "prewhiten", "trend_free_prewhiten"],
        default="original",
        help="Mann-Kendall test of mk_pvalue (implies --robust unless original)",
    )
    parser.add_argument(
        "--lags", type=int, default=0, help="lags of hamed_rao / yue_wang (default 0: all / 1)"
    )
    parser.add_argument(
        "--ci", type=float, default=0.0, help="confidence level of slope intervals, e.g. 0.95"
    )
    parser.add_argument("--seasons", choices=["none", "month", "season"], default="none")
    parser.add_argument("--breaks", choices=["none", "pettitt"], default="none")
    parser.add_argument("--fdr", action="store_true", help="add Benjamini-Hochberg q-values")
    parser.add_argument("--fdr-alpha", type=float, default=0.1, help="alpha_FDR of the maps")
    parser.add_argument(
        "--fdr-pvalue", choices=["pvalue", "mk_pvalue", "seasonal_pvalue"], default="pvalue"
    )
    parser.add_argument(
        "--time-unit",
        choices=["year", "day"],
        default="year",
        help="unit of time of the slope (default: year)",
    )
    parser.add_argument(
        "--compress",
        choices=["ZSTD", "DEFLATE", "LZW"],
        default="ZSTD",
        help="codec of the output (default: ZSTD, the fastest; DEFLATE for old readers)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        help="rows per block (default: planned from the memory budget and the workers)",
    )
    parser.add_argument("--tile", help="fit only this row tile, e.g. 2-of-3")
    parser.add_argument("--gather", action="store_true", help="gather row tiles into -o")
    workers_argument(parser)
    args = parser.parse_args(argv)
    if not args.gather and len(args.inputs) != 1:
        parser.error("give one stack (or --gather with the tiles)")
    return args


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        settings = snakemake.params.dataset["trend"]
        with user_errors():
            if snakemake.rule == "trend":
                gather(
                    list(snakemake.input.tiles), snakemake.output.trend, threads=snakemake.threads
                )
            else:
                main(
                    snakemake.input.stack,
                    snakemake.output.tile,
                    min_obs=settings["min_obs"],
                    time_unit=settings["time_unit"],
                    robust=settings["robust"],
                    options=settings_options(settings),
                    tile=snakemake.wildcards.scatteritem,
                    threads=snakemake.threads,
                    mem_mb=snakemake.resources.mem_mb,
                    digest=snakemake.params.digest,
                )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            if args.gather:
                gather(args.inputs, args.output, threads=args.workers)
            else:
                main(
                    args.inputs[0],
                    args.output,
                    min_obs=args.min_obs,
                    time_unit=args.time_unit,
                    robust=args.robust,
                    options={
                        "test": args.test,
                        "lags": args.lags,
                        "ci": args.ci,
                        "seasons": args.seasons,
                        "breaks": args.breaks,
                        "fdr": args.fdr,
                        "fdr_alpha": args.fdr_alpha,
                        "fdr_pvalue": args.fdr_pvalue,
                    },
                    compress=args.compress,
                    chunk_rows=args.chunk_rows,
                    tile=args.tile,
                    threads=args.workers,
                    mem_mb=args.mem_mb,
                )
