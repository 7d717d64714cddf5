"""Geometry on the sphere, AOI vector files, regular grids, GeoTIFF I/O, mosaics of tiled
exports, and dates of rasters."""
