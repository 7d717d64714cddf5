"""eotrend: polygon extractions and per-pixel trends from satellite image time series.

The library behind the workflow's entry scripts (``scripts/*.py``). Modules are small
and do one job each; entry scripts only parse arguments, set up logging and call them.
"""

__version__ = "0.1.0"
