# Two entry points for a new user (see README): `make book` and `make test`.
# Each creates the virtual environment itself if it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= budget
DEVICE ?= cpu

.PHONY: env test lint run book notebooks clean

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

# The book: executed notebooks in book/ (committed) rendered to HTML in _build/html, with
# execution off and warnings as errors. `make notebooks` re-executes them first (training only
# what is missing in results/): e.g. `make notebooks PROFILE=budget FIGS="fig01 fig03 fig04"`.
FIGS ?= fig01 fig03 fig04
book: env
	$(VENV)/bin/jupyter-book build book/ -W --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

notebooks: env
	$(PY) -m lthrepro notebooks --profile $(PROFILE) --device $(DEVICE) --only $(FIGS)

clean:
	rm -rf _build .pytest_cache
