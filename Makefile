# Everything a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP_CORE := $(VENV)/.installed-core
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck bench soak clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_CORE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_CORE)

demo: $(STAMP_CORE)
	$(VENV)/bin/mindtrace-db demo

test: $(STAMP_DEV)
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n 2 --dist loadgroup -m "not soak" tests

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy src

bench: $(STAMP_DEV)
	$(PY) -m bench

soak: $(STAMP_DEV)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q -m soak tests/reliability
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q -n 2 --dist loadgroup -m "not soak" tests/query tests/differential

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
