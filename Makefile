# vidbench: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.txt
PYTEST_ARGS ?=

.PHONY: install lock demo test test-fast lint typecheck perf clean

# Exact, tested versions of every dependency (the lock), then vidbench itself without
# touching them. The lock is made by `make lock` and refreshed on purpose, never here.
$(STAMP): pyproject.toml $(LOCK) requirements/peers.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r $(LOCK)
	# The official peers the parity tests run against (vbench, cd-fvd): exact pins, without
	# their own dependency pins (vbench's numpy<2 / transformers==4.33.2 would break the lock).
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements/peers.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	$(BIN)/vidbench --version --verbose
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the lock from pyproject's ranges and requirements/pins.txt (the torch pair).
# Run it on purpose (a dependency bump), then `make test`, then commit the new lock.
lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --extra dev --extra diffusers --strip-extras \
	    --no-emit-index-url --no-emit-find-links --allow-unsafe -c requirements/pins.txt \
	    -o $(LOCK) pyproject.toml
	# pip-compile leaves a vidbench.egg-info here; from the repo root it would shadow the
	# installed metadata (entry points: metrics, models, suites, commands) of the venv
	rm -rf vidbench.egg-info

demo: install
	$(BIN)/vidbench run

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
# The type check runs first (about 20 s; configuration in pyproject's [tool.mypy]).
test: install typecheck
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest ran no test" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# mypy on the installed namespace `vidbench` (tests/typecheck.py lays it out for mypy)
typecheck: install
	$(BIN)/python tests/typecheck.py

perf: install
	$(BIN)/python perf/decode.py

clean:
	rm -rf $(VENV) runs .pytest_cache .typecheck
