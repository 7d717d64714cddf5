"""Trend statistics, vectorised over pixels: least squares, the Mann-Kendall family and
Theil-Sen, seasonal Kendall, Pettitt breaks, Benjamini-Hochberg FDR."""
