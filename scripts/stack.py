"""stack: dated single-band GeoTIFFs -> one multi-band GeoTIFF in date order.

Dates come from the file names (a regex with named groups year, month, day, or a strptime
pattern such as %Y%m%d) or from the GDAL metadata (ACQUISITION_DATETIME, DATE,
TIFFTAG_DATETIME); inputs are ordered by date, never by name. The tiles of a split Earth
Engine export (<prefix>-<row offset>-<col offset>.tif) are mosaicked and dated by
<prefix>. Inputs must share one grid, or are warped onto the grid of --align. Without
--period every acquisition is a band: inputs dated with a time of day (metadata such as
2021-06-04T00:10:15.867Z, or a format with %H%M%S) are labelled by it to the second, so
several scenes of one day stay apart; inputs dated by day share a band only in a
composite. Optionally each period (daily = UTC day, year, month, season) is reduced to
one band.

    python scripts/stack.py ndvi_*.tif -o stack.tif --period year --reducer max
    python scripts/stack.py S2_*_B4.tif -o b4.tif --date-format %Y%m%d --nodata 0
"""

import argparse
from pathlib import Path


def main(
    inputs: list[str],
    output: str,
    dates_csv: str | None = None,
    *,
    variable: str | None = None,
    dates_from: str = "filename",
    regex: str | None = None,
    date_format: str | None = None,
    period: str = "none",
    reducer: str = "max",
    nodata: float | None = None,
    align: str | None = None,
    resampling: str = "nearest",
    threads: int | None = None,
    mem_mb: float | None = None,
    digest: str | None = None,
    min_coverage: float = 0.0,
) -> None:
    """Stack ``inputs`` (files, or folders holding <variable>.tif) into ``output``.

    Empty strings for ``regex``, ``date_format`` and ``align`` mean "not set" (config
    defaults).
    """
    from eotrend.core import provenance
    from eotrend.geo.dates import DEFAULT_NAME_REGEX
    from eotrend.stages.stack import stack

    stack(
        inputs,
        Path(output),
        Path(dates_csv or Path(output).with_suffix(".dates.csv")),
        variable=variable,
        dates_from=dates_from,
        regex=regex or DEFAULT_NAME_REGEX,
        date_format=date_format or None,
        period=period,
        reducer=reducer,
        nodata=nodata,
        align=align or None,
        resampling=resampling,
        threads=threads,
        mem_mb=mem_mb,
        tags=provenance.tags(digest),
        min_coverage=min_coverage,
    )


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.core.logs import workers_argument
    from eotrend.geo.dates import PERIODS
    from eotrend.geo.mosaic import RESAMPLINGS
    from eotrend.stages.stack import REDUCERS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+", help="GeoTIFF files, or folders of them")
    parser.add_argument("-o", "--output", required=True, help="stack GeoTIFF to write")
    parser.add_argument("--dates-csv", help="band table to write (default: <output>.dates.csv)")
    parser.add_argument("--variable", help="in folders, stack <variable>.tif")
    parser.add_argument(
        "--dates-from",
        choices=["filename", "metadata"],
        default="filename",
        help="where each input's date is read (default: filename)",
    )
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        "--date-regex",
        help="regex with named groups year[, month, day] (default: the first 19xx or 20xx)",
    )
    names.add_argument(
        "--date-format",
        help="strptime pattern found anywhere in the name, e.g. %%Y%%m%%d or %%Y%%j",
    )
    parser.add_argument(
        "--period",
        choices=PERIODS,
        default="none",
        help="composite per period; daily merges the scenes of one UTC day (default: none, "
        "one band per acquisition)",
    )
    parser.add_argument(
        "--reducer", choices=REDUCERS, default="max", help="how a period is reduced (default: max)"
    )
    parser.add_argument(
        "--nodata",
        type=float,
        help="input value that counts as missing, besides each file's own nodata",
    )
    parser.add_argument(
        "--align",
        metavar="REFERENCE.tif",
        help="warp inputs that are not on this raster's grid onto it (default: inputs must align)",
    )
    parser.add_argument(
        "--resampling",
        choices=RESAMPLINGS,
        default="nearest",
        help="resampling of --align (default: nearest, which keeps input values)",
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=0.0,
        help="leave out scene grids whose pass observes less than this fraction of the AOI "
        "(their COVERAGE tag; default: 0, keep all)",
    )
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        dataset = snakemake.params.dataset
        metadata = dataset["kind"] == "sentinel3"  # scene grids carry their sensing time
        with user_errors():
            main(
                # sentinel3: the scene grids the batches made; geotiff: the input files
                list(snakemake.params.grids) or list(snakemake.input.rasters),
                snakemake.output.stack,
                snakemake.output.dates,
                variable=snakemake.wildcards.variable,
                dates_from="metadata" if metadata else dataset["dates"]["from"],
                regex=dataset["dates"]["regex"],
                date_format=dataset["dates"]["format"] or None,
                period=dataset["composite"]["period"],
                reducer=dataset["composite"]["reducer"],
                nodata=dataset["nodata"],
                align=dataset["align"]["reference"] or None,
                resampling=dataset["align"]["resampling"],
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
                digest=snakemake.params.digest,
                min_coverage=dataset.get("min_coverage", 0.0) if metadata else 0.0,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            main(
                args.inputs,
                args.output,
                args.dates_csv,
                variable=args.variable,
                dates_from=args.dates_from,
                regex=args.date_regex,
                date_format=args.date_format,
                period=args.period,
                reducer=args.reducer,
                nodata=args.nodata,
                align=args.align,
                resampling=args.resampling,
                threads=args.workers,
                mem_mb=args.mem_mb,
                min_coverage=args.min_coverage,
            )
