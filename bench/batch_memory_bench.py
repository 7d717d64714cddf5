"""Memory of a scene batch against the number of lakes: what the rule asks and what it uses.

The batch job (rule scenes: ``python -m eotrend scenes``) locates, extracts and grids
each scene of a batch in a pool of worker processes. What it asks of a scheduler
(``mem_mb``) and what its pool plans its workers by come from one model,
eotrend.sentinel3.memory: the job's own processes plus, per worker, a scene's fixed part
and a part per AOI feature. This bench measures the model's inputs.

Data: ``PRODUCTS`` full-size products of the lakes_e2e bench's archive (made once under
bench/out/lakes_e2e/archive_<N> by bench/lakes_e2e_bench.py ``make_archive``: 4091 x 4865
synthetic OLCI WFR scenes with real-sized files, water over the whole swath); the AOIs
of 1, 300 and 5,000 lakes of that bench (lakes_bench's ``lake_list``: 16-gons 2.2 km
across scattered over the swath, a few on its edges).

Per AOI: the scenes command on the products, as the rule runs it without grids
(``--no-grids --variables Oa08_reflectance TSM_NN --quality water``), with
``--workers 2 --mem-mb <the model's ask for 2 threads>``, in a fresh scene folder: wall
time, the peak RSS of its largest process (the kernel's, /usr/bin/time -v) and of all
its processes together (sampled every 0.1 s: what a scheduler's memory limit sees), and
the ask. The model holds when the ask covers the measured peak of all processes with
headroom (``HEADROOM``) at every AOI size.

    python bench/run.py --only batch_memory
"""

from __future__ import annotations

import shutil

from common import OUT, full_scene, load_average, table
from lakes_bench import VARIABLES, lake_list, write_aoi
from lakes_e2e_bench import make_archive, water_around
from scale_bench import BIN, run_measured

from eotrend.sentinel3.memory import batch_mem_mb
from eotrend.sources.entries import product_entry
from eotrend.sources.scenelist import write_manifest
from eotrend.synthetic.spec import product_name

PRODUCTS = 4  # two scenes per worker
COUNTS = (1, 300, 5000)
THREADS = 2
HEADROOM = 1.2  # the ask covers at least this times the measured peak of all processes
FOLDER = OUT / "batch_memory"


def main() -> str:
    """Measure each AOI size; the report (Markdown)."""
    every_lake = lake_list(full_scene(real_bytes=True), max(COUNTS))
    FOLDER.mkdir(parents=True, exist_ok=True)
    centre_aoi = write_aoi(FOLDER / f"lakes_{len(every_lake)}.geojson", every_lake)
    archive, specs, _ = make_archive(PRODUCTS, centre_aoi, water_around(every_lake))
    entries = [product_entry(archive / product_name(spec)) for spec in specs]
    rows = []
    for count in COUNTS:
        work = FOLDER / f"lakes_{count}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        aoi = write_aoi(work / "aoi.geojson", every_lake[:count])
        write_manifest(work / "manifest.csv", entries)
        ask = batch_mem_mb(THREADS, count)
        command = [
            *(str(BIN / "python"), "-m", "eotrend", "scenes", "manifest.csv", aoi.name),
            *("-o", "batch.csv", "--scenes-dir", "scenes", "--no-grids"),
            *("--variables", *VARIABLES, "--quality", "water"),
            *("--workers", str(THREADS), "--mem-mb", str(ask)),
        ]
        wall, _, largest, together = run_measured(command, work, "scenes.log")
        rows.append(
            (
                f"{count:,}",
                f"{wall:.1f}",
                f"{wall / PRODUCTS:.1f}",
                f"{largest:,.0f}",
                f"{together:,.0f}",
                f"{ask:,}",
                f"{ask / together:.2f}" + ("" if ask >= HEADROOM * together else " (short)"),
            )
        )
    header = (
        "lakes", "wall s", "s per scene", "largest process MB", "all processes MB",
        "rule's ask MB", f"ask / all (goal >= {HEADROOM})",
    )  # fmt: skip
    return (
        f"## Scene batch memory: {PRODUCTS} full-size scenes, {THREADS} workers "
        f"({load_average()})\n\n" + table(rows, header) + "\n"
    )


if __name__ == "__main__":
    print(main())
