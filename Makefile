# Two commands: `make demo` (install + run the demo workflow) and `make test`.
# Everything is idempotent: a second run only does what is missing.

SHELL := /bin/bash
PYTHON ?= python3
CORES ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV_COMPILE ?= --compile-bytecode
UV := $(BIN)/uv pip install -q $(UV_COMPILE) --python $(BIN)/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Snakemake runs `script:` rules with the python it finds first on PATH.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"
# Tests run on one pytest-xdist worker per CPU this process may use (its affinity mask,
# cgroup quota and Slurm allocation, counted as the engine counts them); TEST_WORKERS=0
# runs them in one process. Each test file runs on one worker (--dist loadfile): a module's
# shared set-up (a workflow run, a server) is made once, and the Slurm tests run one at a
# time; on 2 cores this was also faster than spreading single tests (--dist loadgroup).
# Files are handed out in collection order, the longest first (tests/conftest.py), not
# xdist's default of the files with the most tests first (--no-loadscope-reorder).
TEST_WORKERS ?= $(shell PYTHONPATH=scripts $(BIN)/python -c 'from eotrend.engine.limits \
	import Host, cpu_limits; print(min(n for n in cpu_limits(Host()).values() if n))' \
	2>/dev/null || echo 2)
PYTEST := $(RUN) python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: install demo test test-quick lint bench docs clean

install: $(STAMP)

$(STAMP): envs/requirements.txt envs/requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "eotrend needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	@command -v gdal-config >/dev/null || { \
		echo "installing GDAL (libgdal-dev gdal-bin) with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libgdal-dev gdal-bin; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
		echo "installing python3-venv with apt-get"; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv $(VENV); }
	# uv installs the same pinned wheels as pip in a third of its time. Byte-compiled at
	# install: where PYTHONDONTWRITEBYTECODE is set, Python would compile every module of
	# snakemake, pandas... in every process instead (twice the CPU of each start);
	# UV_COMPILE= leaves it to Python's first imports.
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(UV) setuptools==84.2.1 wheel==0.48.0 -r envs/requirements.txt -r envs/requirements-dev.txt
	# GDAL's bindings must match the system library; without --no-build-isolation
	# their numpy part is silently missing (checked on the next line). pip, because it
	# keeps the wheel it builds (uv builds it again, 30 s, on every install).
	$(BIN)/python -m pip install -q --no-build-isolation "gdal[numpy]==$$(gdal-config --version)"
	$(BIN)/python -c "from osgeo import gdal_array"
	PYTHONPATH=scripts $(BIN)/python -m eotrend --help >/dev/null
	touch $@

demo: install
	$(RUN) snakemake --cores $(CORES)
	@echo
	@echo "Results are in results/<dataset>/:"
	@ls -1 results/*/trend/*.tif results/*/plots/*.png
	@echo "Logs: logs/, timings: benchmarks/. Report: snakemake --report report.html"

test: install
	$(PYTEST)

# The inner loop: the tests without the slow, workflow and slurm markers (about 3 minutes
# on 2 cores).
test-quick: install
	$(PYTEST) -m "not slow and not workflow and not slurm"

lint: install
	$(RUN) ruff check scripts tests bench
	$(RUN) ruff format --check scripts tests bench
	$(RUN) snakefmt --check Snakefile rules
	$(RUN) snakemake --lint --cores 1

# The generated parts of docs/: the configuration reference (from the schema) and the rule
# graph (snakemake --rulegraph of the demo; rendering it needs graphviz's `dot`).
docs: install
	PYTHONPATH=scripts $(BIN)/python -m eotrend.core.schema_doc schemas/config.schema.yaml \
		--write docs/configuration.md
	$(RUN) python tests/test_docs.py --write

bench: install
	$(RUN) python bench/run.py

# Everything a run made, the scene cache included; the product cache (resources/products) stays.
clean:
	rm -rf results logs benchmarks .snakemake report.html resources/scenes
