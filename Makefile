# cjo-stream: every target sets itself up; `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo simulate validate bench clean schemas

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check cjo_stream tests
	$(BIN)/mypy cjo_stream

demo: setup
	$(BIN)/cjo-stream simulate --topologies topologies --events schemas/examples/touchpoints.jsonl --report

validate: setup
	$(BIN)/cjo-stream validate topologies

schemas: setup
	$(BIN)/cjo-stream schemas --out schemas

bench: setup
	$(BIN)/python -m cjo_stream.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
