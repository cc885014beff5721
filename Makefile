# cjo-stream: every target sets itself up; `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every dependency (tests passed with these); pyproject.toml keeps compatible ranges.
LOCK := requirements.lock
# uv resolves the lock; pinned so the same inputs always give the same file.
UV_VERSION := 0.13.8
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --extra test --extra bench --universal --python-version 3.11 \
	--custom-compile-command "make lock" --quiet --output-file $(LOCK)

.PHONY: setup test lint demo simulate validate bench instructions soak soak-deployment clean schemas deploy-gen system-deps lock lock-upgrade uv

setup: $(STAMP) system-deps

# Debian packages some tests need (prometheus, promtool); installs only what is missing.
system-deps:
	@bash .ci/system-deps.sh

# The modules setup.py compiles (cjo_stream/native.py): an edited one is built again before any target runs,
# since its stale build would be imported instead of it.
COMPILED_SRC := $(shell sed -n 's/^    "\(cjo_stream\/[a-z_/]*\.py\)",$$/\1/p' cjo_stream/native.py)

# With the bench extra (make bench's peers): the lock covers it, and tests/test_lock.py checks the install.
$(STAMP): pyproject.toml $(LOCK) setup.py cjo_stream/native.py $(COMPILED_SRC)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 'setuptools>=77' wheel
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[test,bench]'
	@# again, in this environment: mypyc (from the test extra's mypy) compiles the hot modules (setup.py)
	$(BIN)/python -m pip install -q --no-build-isolation --no-deps -e .
	@# the package's bytecode written once: where PYTHONDONTWRITEBYTECODE is set (this CI's image) every
	@# command compiled its interpreted modules again at start (~0.12 s of each CLI run and test subprocess)
	$(BIN)/python -m compileall -q cjo_stream
	@touch $(STAMP)

# Refresh requirements.lock after changing dependencies in pyproject.toml: keeps every pin that still
# fits, adds what is new, drops what is gone. One universal resolution (any OS, Python 3.11+), so the
# file does not depend on the machine that ran it. Then `make setup` installs it.
lock: uv
	$(UV_COMPILE)

# The same, but every package moves to the newest version pyproject.toml allows.
lock-upgrade: uv
	$(UV_COMPILE) --upgrade

uv:
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q uv==$(UV_VERSION)

# Two test processes (pytest-xdist): most of the suite's time is waiting on brokers, workers and sleeps, not CPU,
# so two halve it on CI's 2 cores. Each test starts its own broker on a free port and writes under its own
# tmp_path, so none depends on another. worksteal: an idle process takes queued tests from a busy one.
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

lint: setup
	$(BIN)/ruff check cjo_stream tests deploy
	$(BIN)/mypy cjo_stream tests

# Live: local broker + worker + console adapter + load generator; commands print as they are decided.
# Runs until Ctrl-C on a terminal, 60 s otherwise (DEMO_ARGS="--duration 120" to choose).
demo: setup
	$(BIN)/cjo-stream demo $(DEMO_ARGS)

# Offline: the simulator over the example events (no broker), every command and a funnel report.
simulate: setup
	$(BIN)/cjo-stream simulate --topologies topologies --events schemas/examples/touchpoints.jsonl --report

validate: setup
	$(BIN)/cjo-stream validate topologies

schemas: setup
	$(BIN)/cjo-stream schemas --out schemas

bench: setup
	$(BIN)/python -m cjo_stream.bench

# CPU per event as instructions under callgrind (needs valgrind): unmoved by other load, for judging a
# hot-path change on a busy machine before `make bench` gives events/s.
instructions: setup
	$(BIN)/python -m cjo_stream.bench.instructions

# One worker at a fixed rate for a long time: memory and latency per interval, one summary line.
# 30 minutes at 2,000 events/s unless told otherwise (SOAK_ARGS="--minutes 120 --rate 500").
# SOAK_ARGS="--no-broker": the worker's own stages in one process, no Kafka client, no broker.
soak: setup
	$(BIN)/python -m cjo_stream.bench.soak $(SOAK_ARGS)

# The whole deployment (two workers, analytics, the email, crm and slack adapters against local stand-ins,
# the generator) at a fixed rate: each process's memory, CPU, descriptors, threads, tasks per interval.
# 8 minutes at 1,000 events/s unless told otherwise (DEPLOY_ARGS="--minutes 10 --set CJO_ANALYTICS_CACHE_ROWS=50000").
soak-deployment: setup
	$(BIN)/python -m cjo_stream.bench.deployment $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *__mypyc*.so
	find cjo_stream -name '*.so' -delete

# Regenerate the Grafana dashboard and the k8s wrappers of rules/dashboard from their sources.
deploy-gen: setup
	$(BIN)/python deploy/grafana/build_dashboard.py
	$(BIN)/python deploy/k8s/gen.py
