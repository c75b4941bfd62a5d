# The two commands of the README: `make train` and `make test`. Both install first if needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.serlab-installed
# torch and torchaudio releases verified together; override for another CUDA or platform.
TORCH_PINS ?= torch==2.14.1 torchaudio==2.11.0
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install train lint test test-fast clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_PINS) -e ".[all,test]"
# wandb's offline sweep-config validator; it pins numpy<2 in its metadata yet runs on numpy 2
	$(BIN)/python -m pip install --quiet --no-deps sweeps==0.3.0
	@touch $@

train: install
	$(BIN)/serlab-train $(ARGS)

# ruff's rules and mypy's settings are in pyproject.toml; the formatter is configured but not enforced yet
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) dist build
