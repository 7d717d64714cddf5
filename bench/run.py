"""Run the benchmarks and print their tables (``make bench``).

python bench/run.py                        # every benchmark, default sizes (a few minutes)
python bench/run.py --only trend           # one of them
python bench/run.py --only trend --scale   # add the large cases (trend: 21 x 7000 x 7000,
                                           # about 10 minutes the first time: the stack
                                           # is made once under bench/out)
"""

from __future__ import annotations

import argparse
import importlib

# name -> module with main() -> str (the table) and, optionally, scale() -> str.
BENCHMARKS = {
    "locate": "locate_bench",
    "extract": "extract_bench",
    "stack": "stack_bench",
    "trend": "trend_bench",
    "mask": "mask_bench",
    "aoi": "aoi_bench",
    "fetch": "fetch_bench",
    "lakes": "lakes_bench",  # extract with 1, 300 and 5,000 lakes (about 2 minutes)
    "lake_outputs": "lake_outputs_bench",  # lake_pixels, lake_grids on 3,000 lakes (minutes)
    # 200 full-size scenes x 5,000 lakes through lake-level trends (hours; the archive is
    # made once: python bench/lakes_e2e_bench.py --scenes 6 --lakes 300 for a quick check)
    "lakes_e2e": "lakes_e2e_bench",
    # the scene batch's memory against 1, 300 and 5,000 lakes beside the rule's ask
    "batch_memory": "batch_memory_bench",
    "scale": "scale_bench",
    "demo": "demo_bench",
    "equivalence": "equivalence",  # old vs new code, every output compared (a few minutes)
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--scale", action="store_true", help="add the large cases (slow)")
    args = parser.parse_args()
    for name in args.only or BENCHMARKS:
        bench = importlib.import_module(BENCHMARKS[name])
        print(bench.main(), flush=True)
        if args.scale and hasattr(bench, "scale"):
            print(bench.scale(), flush=True)
