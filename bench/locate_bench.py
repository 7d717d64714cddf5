"""locate against the published brute force, on a full-size 4091 x 4865 scene.

The synthetic scene (netCDF files as in a real product) is centred on the published
27-vertex polygon (sen3r's example, = feature solimoes_manacapuru of
data/demo/aoi.geojson). Measured side by side in one run, file reads included: the
published method (whole grid read, per-vertex norm in degree space;
bench/published_locate.py) in-process and as a command, and locate in-process (files
opened to table written) and as a command (interpreter start and imports included), with
peak RSS of both commands. A 1000-vertex outline (the seed polygon densified) is timed for
locate; the brute force is extrapolated from its per-vertex time on the 27 vertices (said
so in the table).
"""

import json
import sys
import time
from pathlib import Path

import shapely
from common import EOTREND, OUT, REPO, SEED, command, full_scene, peak_rss_mb, table, timed

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.locate import locate_to_files


def densified(n: int) -> Path:
    """The seed polygon with about ``n`` vertices (GeoJSON in bench/out)."""
    polygon = shapely.from_geojson(SEED.read_text()).geoms[0]
    dense = shapely.segmentize(polygon, polygon.length / n)
    path = OUT / f"seed_{n}.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "dense"},
                        "geometry": json.loads(shapely.to_geojson(dense)),
                    }
                ],
            }
        )
    )
    return path


def main() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO / "bench"))
    from published_locate import polygon_vertices, read_grid, search

    product = full_scene()
    vertices = polygon_vertices(str(SEED))
    start = time.perf_counter()
    grid = read_grid(str(product))
    read = time.perf_counter() - start
    search(grid, vertices)
    published = time.perf_counter() - start
    del grid
    ours = timed(lambda: locate_to_files(product, read_aoi(SEED), OUT / "vertices.csv"), repeat=3)
    published_cmd, published_rss = command(
        [
            sys.executable,
            str(REPO / "bench" / "published_locate.py"),
            str(product),
            str(SEED),
            "-o",
            str(OUT / "published.csv"),
        ]
    )
    ours_cmd, ours_rss = command(
        [
            *EOTREND,
            "locate",
            str(product),
            str(SEED),
            "-o",
            str(OUT / "vertices_cmd.csv"),
        ]
    )
    dense = densified(1000)
    ours_dense = timed(
        lambda: locate_to_files(product, read_aoi(dense), OUT / "vertices_dense.csv")
    )
    n_dense = len((OUT / "vertices_dense.csv").read_text().splitlines()) - 1
    per_vertex = (published - read) / len(vertices)
    published_dense = read + per_vertex * n_dense
    rows = [
        (
            "published brute force, 27 vertices (in-process, grid read included)",
            f"{published:.2f}",
            "1",
            "-",
        ),
        (
            "locate, 27 vertices (in-process: files opened to table written)",
            f"{ours:.3f}",
            f"{published / ours:.0f}x",
            "-",
        ),
        (
            "published brute force command, 27 vertices",
            f"{published_cmd:.2f}",
            "1",
            f"{published_rss:.0f}",
        ),
        (
            "locate.py command, 27 vertices",
            f"{ours_cmd:.2f}",
            f"{published_cmd / ours_cmd:.0f}x",
            f"{ours_rss:.0f}",
        ),
        (
            f"published brute force, {n_dense} vertices (extrapolated from the 27-vertex run)",
            f"{published_dense:.0f}",
            "1",
            "-",
        ),
        (
            f"locate, {n_dense} vertices (in-process)",
            f"{ours_dense:.3f}",
            f"{published_dense / ours_dense:.0f}x",
            "-",
        ),
    ]
    return (
        "## locate: full-size 4091 x 4865 scene, published 27-vertex polygon\n\n"
        + table(rows, ("method", "seconds", "speed-up", "peak RSS MB"))
        + f"\n\nbench process peak RSS {peak_rss_mb():.0f} MB (includes the baseline)\n"
    )


if __name__ == "__main__":
    print(main())
