"""Run every benchmark and print their tables (``make bench``)."""

from __future__ import annotations

import trend_bench

if __name__ == "__main__":
    for bench in (trend_bench,):
        print(bench.main())
