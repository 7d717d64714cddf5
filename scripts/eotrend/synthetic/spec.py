"""What determines a synthetic OLCI product: :class:`SceneSpec`, the times of its rows and
its name (ESA's Sentinel-3 OLCI naming convention,
https://sentinel.esa.int/en/web/sentinel/user-guides/sentinel-3-olci/naming-convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from eotrend.synthetic.wfr_format import (
    AL_TIME_SAMPLING_US,
    TIE_STEP,
    WQSF_LAYOUTS,
    default_layout,
)

_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SceneSpec:
    """Everything that determines a synthetic product (and its bytes).

    Attributes:
        centre_lon, centre_lat: swath centre (nadir column, middle row), degrees.
        sensing_start: UTC time of the first row (tz-aware).
        rows, columns: image size; ``columns % 64 == 1`` (tie column j = column 64 j).
        heading_deg: along-track direction of increasing row, clockwise from north.
        mission: ``S3A`` or ``S3B``. timeliness: ``NR``, ``ST`` or ``NT``.
        baseline: collection ``002``, ``003`` or ``004`` (Collection 4: another file set,
            see :mod:`eotrend.synthetic.product`, and its own WQSF table).
        layout: the WQSF table (:data:`eotrend.synthetic.wfr_format.WQSF_LAYOUTS`): the
            real tables ``classic`` (2018) or ``shifted`` (2024) for baselines 002 and 003,
            ``collection4`` for 004; None (the default) for the baseline's default
            (:func:`eotrend.synthetic.wfr_format.default_layout`).
        cloud_fraction: fraction of the scene flagged CLOUD, in [0, 1).
        seed: seeds every procedural feature (clouds, lakes, failures).
        relative_orbit (1-385), frame (0-9999), cycle (0-999): name fields (ESA's naming
            convention).
        reflectance_noise: standard deviation (reflectance units) of white noise added to
            the reflectances as written, 0 by default. The smooth synthetic fields deflate
            far better than real ones (real WFR reflectance files: 13-19 MB in a clear
            scene, by the sizes in the real 004 manifest in stactools-packages/sentinel3);
            bench/common.py picks the noise that gives those sizes, for benchmarks of the
            bytes a product costs.
    """

    centre_lon: float
    centre_lat: float
    sensing_start: datetime
    rows: int = 4091
    columns: int = 4865
    heading_deg: float = 192.0
    mission: str = "S3A"
    timeliness: str = "NT"
    baseline: str = "003"
    layout: str | None = None
    cloud_fraction: float = 0.15
    seed: int = 0
    relative_orbit: int = 124
    frame: int = 3060
    cycle: int = 51
    reflectance_noise: float = 0.0

    def __post_init__(self) -> None:
        """Resolve the default layout; reject values that would give a malformed product
        (ValueError)."""
        if self.layout is None:
            object.__setattr__(self, "layout", default_layout(self.baseline))
        problems = []
        if self.sensing_start.tzinfo is None or self.sensing_start.utcoffset() is None:
            problems.append("sensing_start must be timezone-aware (UTC)")
        if self.columns < 65 or self.columns % TIE_STEP != 1:
            problems.append(f"columns must be 64*k + 1 >= 65 (4865, 257, ...), got {self.columns}")
        if self.rows < 1:
            problems.append(f"rows must be >= 1, got {self.rows}")
        if not -90.0 <= self.centre_lat <= 90.0:
            problems.append(f"centre_lat out of [-90, 90]: {self.centre_lat}")
        if self.mission not in ("S3A", "S3B"):
            problems.append(f"mission must be S3A or S3B, got {self.mission!r}")
        if self.timeliness not in ("NR", "ST", "NT"):
            problems.append(f"timeliness must be NR, ST or NT, got {self.timeliness!r}")
        if self.baseline not in ("002", "003", "004"):
            problems.append(
                f"baseline {self.baseline!r} not supported: the file sets of collections "
                "002, 003 and 004 are generated"
            )
        elif (self.baseline == "004") != (self.layout == "collection4"):
            problems.append(
                f"layout {self.layout!r} with baseline {self.baseline}: the Collection 4 WQSF "
                "table (layout='collection4': CHLOR_A_FAIL for chlor_a.nc, KD_FAIL, "
                "CLOUD_SHADOW, BRDF_OOR) is that of baseline 004 products, and only theirs"
            )
        if self.layout not in WQSF_LAYOUTS:
            problems.append(f"layout must be one of {sorted(WQSF_LAYOUTS)}, got {self.layout!r}")
        if not 0.0 <= self.cloud_fraction < 1.0:
            problems.append(f"cloud_fraction must be in [0, 1), got {self.cloud_fraction}")
        if not 1 <= self.relative_orbit <= 385:
            problems.append(f"relative_orbit must be 1..385, got {self.relative_orbit}")
        if not 0 <= self.frame <= 9999 or not 0 <= self.cycle <= 999:
            problems.append("frame must be 0..9999 and cycle 0..999")
        if not self.reflectance_noise >= 0.0:
            problems.append(f"reflectance_noise must be >= 0, got {self.reflectance_noise}")
        if problems:
            raise ValueError("invalid SceneSpec: " + "; ".join(problems))


def _start(spec: SceneSpec) -> datetime:
    """Sensing start in UTC."""
    return spec.sensing_start.astimezone(UTC)


def _stop(spec: SceneSpec) -> datetime:
    """Time of the last row: start + (rows - 1) * 44001 µs."""
    return _start(spec) + timedelta(microseconds=AL_TIME_SAMPLING_US * (spec.rows - 1))


def _creation(spec: SceneSpec) -> datetime:
    """Deterministic creation time: sensing start + 20 days, whole seconds."""
    return _round_second(_start(spec) + timedelta(days=20))


def _round_second(when: datetime) -> datetime:
    """Round to the nearest second, as real names do (00:10:15.87 -> 00:10:16: the
    manifest startTime and name of the WFR product in tests/data/real-manifests)."""
    return (when + timedelta(microseconds=500_000)).replace(microsecond=0)


def _iso_us(when: datetime) -> str:
    """``%Y-%m-%dT%H:%M:%S.%fZ`` (netCDF ``start_time``/``stop_time``,
    manifest ``acquisitionPeriod``)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def product_name(spec: SceneSpec) -> str:
    """The folder name of ESA's naming convention: 94 characters + ``.SEN3``.

    Start and stop are rounded to the second; the duration field is the truncated number
    of seconds between first and last row (179 for 4091 rows); centre ``MAR``, class ``O``.
    """
    fmt = "%Y%m%dT%H%M%S"
    start, stop = _start(spec), _stop(spec)
    duration = int((stop - start).total_seconds())
    name = (
        f"{spec.mission}_OL_2_WFR____{_round_second(start).strftime(fmt)}_"
        f"{_round_second(stop).strftime(fmt)}_{_creation(spec).strftime(fmt)}_"
        f"{duration:04d}_{spec.cycle:03d}_{spec.relative_orbit:03d}_{spec.frame:04d}_"
        f"MAR_O_{spec.timeliness}_{spec.baseline}"
    )
    assert len(name) == 94, name
    return name + ".SEN3"


def decimal_year(when: datetime) -> float:
    """Decimal year of a tz-aware datetime: year + elapsed fraction of that UTC year."""
    when = when.astimezone(UTC)
    year0 = datetime(when.year, 1, 1, tzinfo=UTC)
    year1 = datetime(when.year + 1, 1, 1, tzinfo=UTC)
    return when.year + (when - year0) / (year1 - year0)


def scene_decimal_year(spec: SceneSpec) -> float:
    """The time ``t`` at which a product's values equal
    :func:`eotrend.synthetic.fields.water_truth`: its start."""
    return decimal_year(_start(spec))


def _absolute_orbit(spec: SceneSpec) -> int:
    """A plausible absolute orbit number: (cycle - 1) * 385 + relative orbit."""
    return max(spec.cycle - 1, 0) * 385 + spec.relative_orbit


def row_time_stamps(spec: SceneSpec) -> np.ndarray:
    """Acquisition time of every row, int64 microseconds since 2000-01-01 (shape (rows,))."""
    start_us = (_start(spec) - _EPOCH_2000) // timedelta(microseconds=1)
    return start_us + AL_TIME_SAMPLING_US * np.arange(spec.rows, dtype=np.int64)
