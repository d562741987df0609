# The two commands: `make demo` runs the whole pipeline on the bundled samples; `make test`
# runs the test suite. Both create .venv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-fast up clean

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(INSTALLED)

demo: install
	$(PY) -m radstack.cli demo

up: install
	$(PY) -m radstack.cli up

test: install
	@bash tests/prepare_browser.sh
	$(PY) -m pytest

# Unit tests only: no spawned stacks, no Redis or PostgreSQL.
test-fast: install
	$(PY) -m pytest -m "not integration and not slow"

clean:
	rm -rf .radstack test-artifacts .pytest_cache
