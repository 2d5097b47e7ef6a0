# The two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test install install-test system-deps lint format docs bench-signaling clean

# Installs the package into the venv once per change of pyproject.toml.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,loadtest]'
	touch $@

install: $(BIN)/.installed

install-test: $(BIN)/.installed-test

## run: start the server with in-memory state and the demo event at http://$(HOST):$(PORT)
run: install
	$(BIN)/podium serve --host $(HOST) --port $(PORT) --demo

## system-deps: Debian's chromium and redis-server for the browser and Redis tests
system-deps:
	bash .ci/system-deps.sh

## lint: ruff, mypy, the import-direction contracts and the generated protocol docs
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m signaling.protocol.docs --check

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: install-test
	$(BIN)/python -m signaling.protocol.docs

## test: install what the tests need, check the code, run the whole suite
test: install-test system-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench-signaling: install-test
	$(BIN)/python -m loadtest signaling --clients 1400 --spawn --report reports/signaling

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
