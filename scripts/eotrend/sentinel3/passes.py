"""Frames of one satellite pass.

OLCI products are cut into frames of about 3 minutes along the track (``0179`` s in the
name, ESA's OLCI naming convention): an AOI can straddle two consecutive frames of one
pass, each observing part of it. Frames of one pass share the mission, the cycle and the
relative orbit in their names, and follow each other within minutes; the next pass of the
same satellite over a place is on another relative orbit, and the other satellite's pass
has another mission (both at least tens of minutes apart).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from eotrend.sentinel3.layout import PRODUCT_NAME

# Consecutive frames of one pass start 179 s apart; 10 minutes leaves room for gaps
# (a missing frame) and stays far below the orbit period (101 minutes).
PASS_GAP = timedelta(minutes=10)


def pass_groups(names: list[str], starts: list[datetime]) -> list[list[int]]:
    """Indices into ``names`` grouped by pass, each group in start order, groups in the
    order of their first start. A name that is not a product name is a pass of its own.

    Args:
        names: product names (with or without ``.SEN3``).
        starts: their sensing starts (tz-aware), same length.
    """
    keyed: dict[tuple, list[int]] = {}
    groups: list[list[int]] = []
    for index in sorted(range(len(names)), key=lambda i: starts[i]):
        match = PRODUCT_NAME.match(names[index])
        if match is None:
            groups.append([index])
            continue
        key = (match["mission"], match["cycle"], match["relative_orbit"])
        group = keyed.get(key)
        if group is not None and starts[index] - starts[group[-1]] <= PASS_GAP:
            group.append(index)
        else:
            keyed[key] = group = [index]
            groups.append(group)
    return sorted(groups, key=lambda g: starts[g[0]])


def pass_coverage(groups: list[list[int]], coverage: list[float]) -> list[float]:
    """Per index: the coverage of its whole pass, the sum of its frames' coverages (they
    do not overlap) capped at 1."""
    total = [0.0] * len(coverage)
    for group in groups:
        combined = min(1.0, sum(coverage[i] for i in group))
        for i in group:
            total[i] = combined
    return total
