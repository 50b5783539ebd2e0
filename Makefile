# Quick start: `make run` and `make test`; both create the environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/default.yaml
SIM := $(BIN)/sim

.PHONY: run test lint bench torture compare sweep c clean help

help:
	@echo "make run [SCENARIO=scenarios/x.yaml]   run a scenario, results in results/"
	@echo "make test                              run the whole test suite"
	@echo "make bench [QUICK=1] [LONG=1] [SERIES=matrix|sweeps|book]  benchmarks, bench/results/"
	@echo "make torture [KILLS=10000]             a seeded storm of SIGKILLs, then every check"
	@echo "make compare [SPEC=...]                strategy comparison"
	@echo "make sweep [SPEC=...] [SCHEDULER=...]  parameter sweep on Dask (local cluster by default)"
	@echo "make lint                              ruff, mypy (strict), import-linter layers"
	@echo "make c                                 build the C trader (examples/c)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(SIM) run $(SCENARIO)

test: $(STAMP) c
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check sim tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) c
	$(BIN)/python -m bench $(if $(filter 1 yes true,$(QUICK)),--quick,) $(if $(filter 1 yes true,$(LONG)),--long,) $(if $(SERIES),--series $(SERIES),)

KILLS ?= 10000
torture: $(STAMP)
	$(BIN)/python -m bench.torture --kills $(KILLS)

SPEC ?= scenarios/compare/strategies.yaml
compare: $(STAMP)
	$(SIM) compare $(SPEC)

# SPEC given on the command line names the sweep; otherwise the shipped one (SPEC's own
# default is the comparison's).
SWEEP_SPEC := $(if $(filter command line environment,$(origin SPEC)),$(SPEC),scenarios/sweeps/fees.yaml)
SCHEDULER ?=
sweep: $(STAMP)
	$(SIM) sweep $(SWEEP_SPEC) $(if $(SCHEDULER),--scheduler $(SCHEDULER),)

c: $(STAMP)
	$(MAKE) -C examples/c

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
