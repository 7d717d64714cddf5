"""report: figures of a dataset's results.

python scripts/report.py trend-map TREND.tif -o map.png [--aoi AOI_FILE] [--title T]
python scripts/report.py timeseries TIMESERIES.csv --variable V -o plot.png
"""

import argparse


def main(
    kind: str,
    source: str,
    output: str,
    *,
    title: str,
    aoi: str | None = None,
    variable: str | None = None,
) -> None:
    """Draw one figure: a trend map or a per-feature time series."""
    from eotrend import plotting

    if kind == "trend-map":
        plotting.trend_map(source, output, title=title, aoi_path=aoi)
    else:
        plotting.feature_timeseries(source, variable, output, title=title)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["trend-map", "timeseries"])
    parser.add_argument("source", help="trend GeoTIFF, or time series table (CSV)")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument("--aoi", help="polygon file drawn on the map")
    parser.add_argument("--variable", help="variable of the time series")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.cli import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        wildcards = snakemake.wildcards
        title = f"{wildcards.dataset}: {wildcards.variable}"
        with user_errors():
            if snakemake.params.kind == "trend-map":
                main(
                    "trend-map",
                    snakemake.input.trend,
                    snakemake.output.png,
                    title=f"{title} trend",
                    aoi=snakemake.input.aoi or None,
                )
            else:
                main(
                    "timeseries",
                    snakemake.input.table,
                    snakemake.output.png,
                    title=f"{title} per feature",
                    variable=wildcards.variable,
                )
    else:
        args = parse_args()
        setup_logging()
        with user_errors():
            main(
                args.kind,
                args.source,
                args.output,
                title=args.title,
                aoi=args.aoi,
                variable=args.variable,
            )
