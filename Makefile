PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
INSTALL_LOG := $(VENV)/install.log
# pip's own output goes to $(INSTALL_LOG); on failure its last lines are shown.
PIP := $(BIN)/python -m pip install --disable-pip-version-check
LOGGED = >>$(INSTALL_LOG) 2>&1 || { tail -n 20 $(INSTALL_LOG); echo "Install failed; the whole log is in $(INSTALL_LOG)."; exit 1; }

.PHONY: run test bench clean

$(BIN)/python:
	@echo "Creating the virtual environment in $(VENV) ..."
	@$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing KRATOS and its dependencies (first run only; about a minute) ..."
	@$(PIP) --upgrade pip $(LOGGED)
	@$(PIP) -e . $(LOGGED)
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing KRATOS with the test tools (first run only; about a minute) ..."
	@$(PIP) --upgrade pip $(LOGGED)
	@$(PIP) -e '.[dev]' $(LOGGED)
	@touch $(STAMP) $@

$(BENCH_STAMP): pyproject.toml $(DEV_STAMP)
	@echo "Installing the benchmark tools ..."
	@$(PIP) -e '.[dev,bench]' $(LOGGED)
	@touch $@

# Migrations are quiet when they work; the demo catalog, built only when there is none (a
# second or two, once), says so. A problem is one sentence and stops here.
run: $(STAMP)
	@LOG_LEVEL=WARNING $(BIN)/kratos migrate >/dev/null
	@out=$$(LOG_LEVEL=WARNING $(BIN)/kratos seed) && case "$$out" in Creé*) echo "$$out";; esac
	@$(BIN)/kratos run --console-fallback

test: $(DEV_STAMP)
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/python -m pytest

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
