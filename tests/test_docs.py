"""README.md and docs/ are true to the code.

* docs/rulegraph.dot is the workflow's real rule graph: ``snakemake --rulegraph`` of the demo
  config, taken once the download checkpoint has run (before it, Snakemake cannot know the
  scene batches and draws neither the ``scenes`` rule nor its edges), normalised: rules by
  name instead of node numbers, no colours (they follow the rules' order in the workflow),
  nodes and edges sorted (Snakemake writes edges in no stable order). docs/rulegraph.svg,
  which the README shows, is rendered from it. ``make docs`` rewrites both::

      python tests/test_docs.py --write

* every config example (a ```yaml block with ``datasets:``) passes the workflow's config
  check, every relative link points to a file of the repository, and no page cites notes
  kept outside the repository (tests/test_citations.py checks every other file);
* the README stays a user's page: the details belong in docs/.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from support.citations import FORBIDDEN
from support.commands import BIN, REPO, command_env

DOCS = REPO / "docs"
DOT = DOCS / "rulegraph.dot"
SVG = DOCS / "rulegraph.svg"
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
README_MAX_BYTES = 16_000

HEADER = """\
// The rules of eotrend and how they chain: `snakemake --rulegraph` of the demo config after
// the download checkpoint, normalised by tests/test_docs.py. Generated: run `make docs`.
digraph snakemake_dag {
    graph[bgcolor=white, margin=0];
    node[shape=box, style=rounded, fontname=sans, fontsize=10, penwidth=2, color="0.58 0.6 0.85"];
    edge[penwidth=2, color=grey];
"""

NODE = re.compile(r'^\s*(\d+)\s*\[\s*label\s*=\s*"([^"]+)"')
EDGE = re.compile(r"^\s*(\d+)\s*->\s*(\d+)\s*$")


def normalise(dot: str) -> str:
    """Snakemake's rule graph DOT as canonical text: a fixed header, then each rule and
    each edge (dependency -> dependent) by rule name, sorted."""
    names: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in dot.splitlines():
        if node := NODE.match(line):
            names[node[1]] = node[2]
        elif edge := EDGE.match(line):
            edges.add((edge[1], edge[2]))
    if not names:
        raise ValueError(f"no rule in the rule graph:\n{dot}")
    lines = [f'    "{name}";' for name in sorted(names.values())]
    lines += sorted(f'    "{names[a]}" -> "{names[b]}";' for a, b in edges)
    return HEADER + "\n".join(lines) + "\n}\n"


def snakemake(*args: str, workdir: Path) -> str:
    """Run the real snakemake on the repository's Snakefile in ``workdir``; its stdout."""
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            *args,
        ],
        cwd=REPO,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def rulegraph(products: Path | None = None) -> str:
    """The normalised rule graph of the demo config (config.yaml and data/ copied into a
    scratch folder, its download checkpoint run there: synthetic data, no network).
    ``products``: a product cache of the demo config to start from (the graph does not
    depend on it; the checkpoint then makes only the products it lacks)."""
    with tempfile.TemporaryDirectory(prefix="eotrend-rulegraph-") as scratch:
        work = Path(scratch)
        shutil.copy(REPO / "config.yaml", work / "config.yaml")
        shutil.copytree(REPO / "data", work / "data")
        if products is not None and products.is_dir():
            shutil.copytree(products, work / "resources" / "products")
        snakemake("--cores", "2", "--until", "download", workdir=work)
        return normalise(snakemake("--rulegraph", "--cores", "1", workdir=work))


def write() -> None:
    """Rewrite docs/rulegraph.dot and render docs/rulegraph.svg from it (graphviz)."""
    DOT.write_text(rulegraph(), encoding="utf-8")
    if shutil.which("dot") is None:
        sys.exit(f"wrote {DOT}; rendering it needs graphviz: apt-get install graphviz")
    subprocess.run(["dot", "-Tsvg", str(DOT), "-o", str(SVG)], check=True)
    print(f"wrote {DOT.relative_to(REPO)} and {SVG.relative_to(REPO)}")


# -- the rule graph -----------------------------------------------------------------------


def test_normalise_names_sorts_and_drops_colours():
    dot = """digraph snakemake_dag {
        0[label = "all", color = "0.00 0.6 0.85", style="rounded"];
        1[label = "trend", color = "0.56 0.6 0.85", style="rounded"];
        2[label = "download", color = "0.05 0.6 0.85", style="rounded"];
        1 -> 0
        2 -> 1
    }"""
    renumbered = dot.replace("0[", "9[").replace("-> 0", "-> 9").replace("0.56", "0.11")
    text = normalise(dot)
    assert text == normalise(renumbered)
    assert text.endswith('"download" -> "trend";\n    "trend" -> "all";\n}\n')
    assert "0.56" not in text


@pytest.mark.workflow
@pytest.mark.slow
def test_rulegraph_is_current(commands_page):
    # The demo's products as the commands page's download made them (the same config).
    found = rulegraph(products=commands_page[0] / "resources" / "products")
    assert DOT.is_file(), f"{DOT.relative_to(REPO)} is missing: run `make docs`"
    assert found == DOT.read_text(encoding="utf-8"), (
        f"the workflow's rule graph differs from {DOT.relative_to(REPO)}: run `make docs` "
        f"(it rewrites the graph and its picture). Now:\n{found}"
    )
    assert '"scenes"' in found, "the rule graph lacks the scene batches"


def test_rulegraph_picture_shows_the_rules_of_the_graph():
    """The SVG was rendered from the current DOT: the same rule names, no others."""
    rules = set(re.findall(r'^    "([^"]+)";$', DOT.read_text(encoding="utf-8"), flags=re.M))
    drawn = set(re.findall(r"<text[^>]*>([^<]+)</text>", SVG.read_text(encoding="utf-8")))
    assert rules == drawn, f"{SVG.relative_to(REPO)} is not rendered from the DOT: run `make docs`"


# -- the pages ----------------------------------------------------------------------------


def config_examples() -> list[tuple[str, str]]:
    """(page, YAML) of every ```yaml block holding a config (``datasets:``)."""
    return [
        (page.name, block)
        for page in PAGES
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        if re.match(r"\s*datasets:", block)
    ]


@pytest.mark.parametrize(
    ("page", "block"), config_examples(), ids=[p for p, _ in config_examples()]
)
def test_config_examples_pass_the_config_check(page, block):
    from eotrend.core.config import check_config

    config = yaml.safe_load(block)
    check_config(copy.deepcopy(config))


def test_there_are_config_examples_of_every_kind_and_source():
    seen = {
        (d["kind"], d.get("source", {}).get("type", "synthetic"))
        for _, block in config_examples()
        for d in yaml.safe_load(block)["datasets"].values()
    }
    assert {("sentinel3", "cdse"), ("sentinel3", "local"), ("geotiff", "local")} <= seen


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_to_files(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = [
        target
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:|#", target) and not (page.parent / target.split("#")[0]).exists()
    ]
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_pages_cite_public_sources(page):
    found = [
        f"{page.relative_to(REPO)}:{number}: {line.strip()}"
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not found, "cite the public source instead of a note outside the repository:\n" + (
        "\n".join(found)
    )


@pytest.fixture(scope="module")
def commands_page(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """Every ```bash block of docs/commands.md run, in order, in a scratch copy of the
    demo's inputs (with `scripts` beside them, as in the repository folder): the folder
    and the run (checked by test_commands_page_runs)."""
    folder = tmp_path_factory.mktemp("commands")
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [
        line for block in blocks for line in block.splitlines() if not line.startswith("source ")
    ]
    shutil.copy(REPO / "config.yaml", folder / "config.yaml")
    shutil.copytree(REPO / "data", folder / "data")
    (folder / "scripts").symlink_to(REPO / "scripts")
    env = command_env()
    env["PYTHONPATH"] = str(REPO / "scripts")
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(lines)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return folder, result


@pytest.mark.slow
def test_commands_page_runs(commands_page):
    """Every ```bash block of docs/commands.md, in order, in a scratch copy of the demo's
    inputs (with `scripts` beside them, as in the repository folder)."""
    folder, result = commands_page
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "summary.csv").is_file() and (folder / "trend.png").is_file()


def test_readme_is_a_users_page():
    size = (REPO / "README.md").stat().st_size
    assert size <= README_MAX_BYTES, (
        f"README.md has {size} bytes (at most {README_MAX_BYTES}): move details to docs/"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python {Path(__file__).relative_to(REPO)} --write")
    write()
