# Two entry points for a new user (see README): `make book` and `make test`.
# Each creates the virtual environment itself if it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= budget
DEVICE ?= cpu

.PHONY: env test lint run book clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

env: $(VENV)/.installed

lint: env
	$(PY) -m ruff check lthrepro tests

test: env lint
	$(PY) -m pytest -q -ra

run: env
	$(PY) -m lthrepro run lenet --profile $(PROFILE) --device $(DEVICE)

clean:
	rm -rf _build .pytest_cache
