# vidbench: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint perf clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# Unpinned torch + torchvision: the resolver takes a matching pair from the registry
	# (a CPU-only torch wheel without a matching torchvision must not be picked).
	$(BIN)/pip install --disable-pip-version-check -q -e ".[dev,diffusers]"
	$(BIN)/python -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vidbench run

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest ran no test" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

perf: install
	$(BIN)/python perf/decode.py

clean:
	rm -rf $(VENV) runs .pytest_cache
