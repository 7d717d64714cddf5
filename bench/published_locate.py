"""The published vertex-to-pixel method (sen3r's ``Utils.get_x_y_poly``), as a command.

Reads the whole latitude/longitude grid with netCDF4's auto-scaling, stacks it into one
(rows, cols, 2) float64 array and, for each vertex, takes the Euclidean norm in degree
space over the whole grid and the first index of the minimum. Kept only as the baseline
of bench/locate_bench.py. sen3r: github.com/hybam-dev/sen3r, DOI 10.5281/zenodo.5710870.

    python bench/published_locate.py PRODUCT.SEN3 AOI.geojson -o out.csv
"""

import argparse
import csv
import json

import netCDF4
import numpy as np


def read_grid(product: str) -> np.ndarray:
    """The whole (rows, cols, 2) lat/lon grid, float64 (masked), as the published tool."""
    with netCDF4.Dataset(f"{product}/geo_coordinates.nc") as ds:
        lat = ds["latitude"][:]
        lon = ds["longitude"][:]
    return np.ma.dstack((lat, lon))


def search(grid: np.ndarray, vertices: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """(row, col) of each (lon, lat) vertex: first minimum of the degree-space norm."""
    found = []
    for lon_v, lat_v in vertices:
        distance = np.linalg.norm(grid - np.array([lat_v, lon_v]), axis=2)
        row, col = np.where(distance == distance.min())
        found.append((int(row[0]), int(col[0])))
    return found


def brute_force(product: str, vertices: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """(row, col) of each (lon, lat) vertex by the published method, grid read included."""
    return search(read_grid(product), vertices)


def polygon_vertices(path: str) -> list[tuple[float, float]]:
    """Exterior-ring vertices (closing vertex left out) of every polygon in a GeoJSON."""
    vertices = []
    with open(path, encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    for feature in features:
        ring = feature["geometry"]["coordinates"][0]
        vertices += [tuple(p[:2]) for p in ring[:-1]]
    return vertices


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("product")
    parser.add_argument("aoi")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    vertices = polygon_vertices(args.aoi)
    with open(args.output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lon", "lat", "row", "col"])
        for (lon, lat), (row, col) in zip(
            vertices, brute_force(args.product, vertices), strict=True
        ):
            writer.writerow([lon, lat, row, col])
