"""Shared helpers of the benchmarks: timing, peak memory, the output folder, a table."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO / "scripts"))
# The stage commands (`python -m eotrend <stage>`) run in subprocesses that find the package.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(REPO / "scripts"), os.environ.get("PYTHONPATH")])
)
EOTREND = [sys.executable, "-m", "eotrend"]
# Reflectance noise (reflectance units) that gives real-sized reflectance files.
REAL_BYTES_NOISE = 4e-5
# The published 27-vertex polygon of the sen3r example (Solimoes river at Manacapuru).
SEED = REPO / "bench" / "seed_polygon.geojson"


def full_scene(real_bytes: bool = False) -> Path:
    """A full-size 4091 x 4865 synthetic OLCI WFR scene with every generated file, centred
    on the seed polygon (its water), made once and then reused from bench/out (remade
    when its spec changes).

    real_bytes: a scene whose files weigh what a clear real scene's do (reflectance files
    13-19 MB in the real 004 manifest of stactools-packages/sentinel3), for benchmarks of
    the bytes a product costs: water over most of the scene (a lake around the seed
    polygon: the synthetic land is fill in the water products) and reflectance noise
    (SceneSpec.reflectance_noise). Otherwise the scene is land around the river, whose
    files deflate to a few MB.
    """
    from datetime import UTC, datetime

    import shapely

    from eotrend.synthetic.product import write_product
    from eotrend.synthetic.spec import SceneSpec, product_name

    spec = SceneSpec(
        centre_lon=-60.9,
        centre_lat=-3.45,
        rows=4091,
        columns=4865,
        sensing_start=datetime(2020, 6, 1, 13, 50, tzinfo=UTC),
        seed=1,
        reflectance_noise=REAL_BYTES_NOISE if real_bytes else 0.0,
    )
    water = shapely.from_geojson(SEED.read_text()).geoms[0]
    if real_bytes:
        water = water.union(shapely.box(-66.0, -8.0, -56.0, 1.0))
    folder = OUT / ("olci_full_size_real_bytes" if real_bytes else "olci_full_size")
    path = folder / product_name(spec)
    stamp = folder / "spec.txt"
    made = stamp.is_file() and stamp.read_text() == repr(spec)
    if not made or not (path / "xfdumanifest.xml").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        write_product(spec, folder, water=water)
        stamp.write_text(repr(spec))
    return path


def timed(func: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def with_peak_rss(args: list[str]) -> list[str]:
    """``args`` run by a Python wrapper that prints, last, the peak RSS (KiB) of its
    largest descendant process (RUSAGE_CHILDREN: from the kernel, exact)."""
    return [
        sys.executable,
        "-c",
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        *args,
    ]


def command(args: list[str]) -> tuple[float, float]:
    """Run a command; (wall seconds, peak RSS in MB of it and its children)."""
    wrapped = with_peak_rss(args)
    start = time.perf_counter()
    result = subprocess.run(wrapped, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(result.stdout.split()[-1]) / 1024


def command_tree(args: list[str], interval: float = 0.05) -> tuple[float, float, float]:
    """Run a command; (wall seconds, peak RSS in MB of its largest process, peak of the sum
    of the RSS of all its processes in MB, sampled every ``interval`` seconds).

    The largest process comes from the kernel (RUSAGE_CHILDREN: exact); the sum, which is
    what a memory limit sees when the command runs worker processes, from sampling /proc
    (a peak shorter than ``interval`` can be missed).
    """
    wrapped = with_peak_rss(args)
    start = time.perf_counter()
    process = subprocess.Popen(wrapped, stdout=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], sum(_rss_bytes(p) for p in _descendants(process.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, args)
    return wall, int(out.split()[-1]) / 1024, peak[0] / 2**20


def tree_rss_bytes(pid: int) -> int:
    """RSS of process ``pid`` and every process below it, bytes (from /proc, now)."""
    return _rss_bytes(pid) + sum(_rss_bytes(p) for p in _descendants(pid))


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (not ``pid`` itself), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def load_average() -> str:
    """The 1-minute load average and the CPUs this process may use, for the report."""
    return f"load {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} CPUs"


def peak_rss_mb() -> float:
    """Peak RSS of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
