# Quick start: `make run` and `make test`; both create the environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/default.yaml
SIM := $(BIN)/sim
# The package's bytecode, compiled as a regular install would (an editable install does
# not, and PYTHONDONTWRITEBYTECODE keeps Python from caching it): every `sim` command and
# every process it starts would otherwise compile the whole package again (0.1 s a start).
BYTECODE := $(VENV)/.bytecode
SOURCES := $(shell find sim -name '*.py')

.PHONY: run test lint bench torture compare sweep c clean help

help:
	@echo "make run [SCENARIO=scenarios/x.yaml]   run a scenario, results in results/"
	@echo "make test                              run the whole test suite"
	@echo "make bench [QUICK=1] [LONG=1] [SERIES=matrix|sweeps|book|monitor]  benchmarks, bench/results/"
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

$(BYTECODE): $(STAMP) $(SOURCES)
	$(BIN)/python -m compileall -q sim
	touch $(BYTECODE)

run: $(BYTECODE)
	$(SIM) run $(SCENARIO)

test: $(BYTECODE) c
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check sim tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(BYTECODE) c
	$(BIN)/python -m bench $(if $(filter 1 yes true,$(QUICK)),--quick,) $(if $(filter 1 yes true,$(LONG)),--long,) $(if $(SERIES),--series $(SERIES),)

KILLS ?= 10000
torture: $(BYTECODE)
	$(BIN)/python -m bench.torture --kills $(KILLS)

SPEC ?= scenarios/compare/strategies.yaml
compare: $(BYTECODE)
	$(SIM) compare $(SPEC)

# SPEC given on the command line names the sweep; otherwise the shipped one (SPEC's own
# default is the comparison's).
SWEEP_SPEC := $(if $(filter command line environment,$(origin SPEC)),$(SPEC),scenarios/sweeps/fees.yaml)
SCHEDULER ?=
sweep: $(BYTECODE)
	$(SIM) sweep $(SWEEP_SPEC) $(if $(SCHEDULER),--scheduler $(SCHEDULER),)

c: $(STAMP)
	$(MAKE) -C examples/c

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
