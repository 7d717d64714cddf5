"""eotrend: polygon extractions and per-pixel trends from satellite image time series.

The library behind the workflow's rule scripts (``scripts/*.py``) and its one command
line (``python -m eotrend <stage>``), in layers that import only downward: core, engine,
geo, sentinel3 and stats, synthetic, sources, stages (docs/CONTRIBUTING.md).
"""

__version__ = "0.1.0"
