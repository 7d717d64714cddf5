"""Where scenes come from: local folders, frozen manifests, synthetic archives and the
Copernicus Data Space Ecosystem (:mod:`eotrend.sources.cdse`); the scene list (the
download checkpoint's manifest.csv) and the checks of its baselines."""
