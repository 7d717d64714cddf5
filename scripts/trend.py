"""trend: per-pixel linear regression of a stack's values on time.

Writes a float32 GeoTIFF with bands slope, intercept, rvalue, pvalue, stderr,
intercept_stderr, nobs (the definitions of scipy.stats.linregress; slope per year by
default). Pixels with fewer than --min-obs valid values are NaN (nobs still written).

    python scripts/trend.py stack.tif -o trend.tif [--min-obs 3] [--time-unit year]
"""

import argparse
from pathlib import Path


def main(
    stack: str,
    output: str,
    *,
    min_obs: int = 3,
    time_unit: str = "year",
    chunk_rows: int | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    digest: str | None = None,
) -> None:
    """Fit every pixel of ``stack`` and write ``output``."""
    from eotrend import provenance
    from eotrend.trending import trend

    trend(
        Path(stack),
        Path(output),
        min_obs=min_obs,
        time_unit=time_unit,
        chunk_rows=chunk_rows,
        threads=threads,
        mem_mb=mem_mb,
        tags=provenance.tags(digest),
    )


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.cli import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stack", help="multi-band GeoTIFF made by stack.py (bands dated)")
    parser.add_argument("-o", "--output", required=True, help="statistics GeoTIFF to write")
    parser.add_argument(
        "--min-obs", type=int, default=3, help="fewest valid values for a fit (default: 3)"
    )
    parser.add_argument(
        "--time-unit",
        choices=["year", "day"],
        default="year",
        help="unit of time of the slope (default: year)",
    )
    parser.add_argument(
        "--chunk-rows", type=int, help="rows per block (default: sized from the memory budget)"
    )
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.cli import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        settings = snakemake.params.dataset["trend"]
        with user_errors():
            main(
                snakemake.input.stack,
                snakemake.output.trend,
                min_obs=settings["min_obs"],
                time_unit=settings["time_unit"],
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
                digest=snakemake.params.digest,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            main(
                args.stack,
                args.output,
                min_obs=args.min_obs,
                time_unit=args.time_unit,
                chunk_rows=args.chunk_rows,
                threads=args.workers,
                mem_mb=args.mem_mb,
            )
