"""Sentinel-3 OLCI Level-2: product layout, reading (local or remote), quality masks,
footprints, coverage, passes, angles, vertex location and per-scene extraction."""
