"""The demo's cost, before and after: workflow wall time and each rule's share of the CPU
time Snakemake's `benchmark:` files record, for an earlier revision and this tree, run
one after the other from cleared results on the same machine.

    python bench/run.py --only demo            # against 9aae0f8 (before issues 21 and 22)
    python bench/demo_bench.py --old-rev REV

The CPU time of a job is what Snakemake measures for its process tree (`cpu_time` in the
benchmark file); jobs whose work runs in pool processes it does not see may read low.
"""

from __future__ import annotations

import argparse
import collections
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, load_average, table
from equivalence import Tree, run, worktree

OLD_REV = "9aae0f8"
FIGURES = ("plot", "figures", "quicklook", "summary")  # rule prefixes of figure and report jobs


def rule_of(benchmark: Path, root: Path) -> str:
    """The rule a benchmark file belongs to: benchmarks/<dataset>/<rule>[/<job>].tsv."""
    parts = benchmark.relative_to(root).parts
    rule = parts[1] if len(parts) > 2 else parts[1].removesuffix(".tsv")
    return "scenes" if rule == "batches" else rule


def run_demo(tree: Tree, workdir: Path) -> tuple[float, dict[str, float], dict[str, int]]:
    """(wall seconds, rule -> CPU seconds, rule -> jobs) of ``tree``'s demo run in
    ``workdir`` from nothing (its products made too)."""
    shutil.copy(tree.root / "config.yaml", workdir / "config.yaml")
    shutil.copytree(tree.root / "data", workdir / "data")
    snakemake = Path(sys.executable).parent / "snakemake"
    start = time.perf_counter()
    run([snakemake, "--snakefile", tree.root / "Snakefile", "--cores", "2", "--quiet"],
        cwd=workdir, env=tree.env())  # fmt: skip
    wall = time.perf_counter() - start
    cpu: dict[str, float] = collections.Counter()
    jobs: dict[str, int] = collections.Counter()
    root = workdir / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        cpu[rule_of(path, root)] += float(row["cpu_time"])
        jobs[rule_of(path, root)] += 1
    return wall, cpu, jobs


def figure_share(cpu: dict[str, float]) -> float:
    """Percent of the recorded CPU time spent in figure and report jobs."""
    total = sum(cpu.values())
    return 100 * sum(c for r, c in cpu.items() if r.startswith(FIGURES)) / total if total else 0


def main(old_rev: str = OLD_REV) -> str:
    with tempfile.TemporaryDirectory(prefix="eotrend-demo-") as scratch:
        scratch = Path(scratch)
        new = Tree("new", REPO, "this tree")
        runs = {}
        with worktree("old", old_rev, scratch / "old") as old:
            for label, tree in ((f"before ({old_rev})", old), ("after (this tree)", new)):
                workdir = scratch / label.split()[0]
                workdir.mkdir()
                runs[label] = run_demo(tree, workdir)
    rules = sorted({r for _, cpu, _ in runs.values() for r in cpu})
    rows = []
    for rule in rules:
        row = [rule]
        for _, cpu, jobs in runs.values():
            total = sum(cpu.values())
            row.append(f"{jobs.get(rule, 0)} jobs, {cpu.get(rule, 0):.1f} s, "
                       f"{100 * cpu.get(rule, 0) / total:.0f} %")  # fmt: skip
        rows.append(row)
    rows.append(["workflow wall time"] + [f"{wall:.1f} s" for wall, _, _ in runs.values()])
    shares = [f"{figure_share(cpu):.0f} % of CPU" for _, cpu, _ in runs.values()]
    rows.append(["figure and report jobs", *shares])
    title = f"Demo (make demo's workflow, --cores 2, from cleared results; {load_average()})"
    return title + "\n\n" + table(rows, ("rule", *runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default=OLD_REV, help="the revision to compare with")
    print(main(parser.parse_args().old_rev))
