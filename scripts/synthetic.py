"""synthetic: deterministic demo data, the same bytes for the same seed.

    python scripts/synthetic.py olci -o DIR --centre -60.9 -3.4 --date 2020-06-01T13:50 \
        [--rows 4091 --columns 4865] [--water AOI_FILE] [--seed 0] [--zip]
    python scripts/synthetic.py series -o DIR [--years 1995 2015] [--width 1033 --height 707]

`olci` writes one Sentinel-3 OLCI Level-2 WFR product (.SEN3 folder, optionally zipped)
whose water is where the polygons of --water are; `series` writes a yearly GeoTIFF
series like an Earth Engine max-NDVI export.
"""

import argparse
from datetime import UTC, datetime


def main(kind: str, output: str, **options) -> None:
    """Write one synthetic OLCI product or one yearly GeoTIFF series into ``output``."""
    if kind == "olci":
        import shapely

        from eotrend.geo.aoi import read_aoi
        from eotrend.synthetic.olci import SceneSpec, write_product

        water = options.pop("water")
        make_zip = options.pop("zip")
        polygons = shapely.union_all([f.geometry for f in read_aoi(water)]) if water else None
        path = write_product(SceneSpec(**options), output, water=polygons, zip=make_zip)
    else:
        from eotrend.synthetic.series import write_yearly_series

        first, last = options.pop("years")
        path = write_yearly_series(output, years=range(first, last + 1), **options)
    print(path)


def utc_datetime(text: str) -> datetime:
    """An ISO 8601 date-time read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    olci = kinds.add_parser("olci", help="one Sentinel-3 OLCI L2 WFR product")
    olci.add_argument("-o", "--output", required=True, help="folder to write into")
    olci.add_argument(
        "--centre",
        nargs=2,
        type=float,
        required=True,
        metavar=("LON", "LAT"),
        help="swath centre in degrees",
    )
    olci.add_argument(
        "--date", required=True, type=utc_datetime, help="sensing start, ISO 8601, UTC"
    )
    olci.add_argument("--rows", type=int, default=4091, help="image rows (default: 4091)")
    olci.add_argument(
        "--columns", type=int, default=4865, help="image columns, 64*k+1 (default: 4865)"
    )
    olci.add_argument("--water", help="polygon file: water where its polygons are")
    olci.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    olci.add_argument("--zip", action="store_true", help="also write <name>.zip (stored)")
    series = kinds.add_parser("series", help="a yearly GeoTIFF series")
    series.add_argument("-o", "--output", required=True, help="folder to write into")
    series.add_argument(
        "--years",
        nargs=2,
        type=int,
        default=[1995, 2015],
        metavar=("FIRST", "LAST"),
        help="years (default: 1995 2015)",
    )
    series.add_argument("--width", type=int, default=1033, help="pixels (default: 1033)")
    series.add_argument("--height", type=int, default=707, help="pixels (default: 707)")
    series.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    setup_logging()
    args = vars(parse_args())
    with user_errors():
        if args["kind"] == "olci":
            lon, lat = args.pop("centre")
            args.update(centre_lon=lon, centre_lat=lat, sensing_start=args.pop("date"))
        main(args.pop("kind"), args.pop("output"), **args)
