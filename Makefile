# Two entry points for a new user (see README): `make book` and `make test`.
# Each creates its virtual environment itself if it is missing: `make book` a light one
# (.venv-book: the book renderer only, no torch), `make test` the full one (.venv).
VENV ?= .venv
BOOK_VENV ?= .venv-book
PY := $(VENV)/bin/python
PROFILE ?= budget
DEVICE ?= cpu

.PHONY: env book-env test lint run book notebooks landing refresh clean

$(VENV)/.installed: requirements.txt requirements-book.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

env: $(VENV)/.installed

# Rendering stored outputs needs only jupyter-book (requirements-book.txt, also part of
# requirements.txt): no torch, no lthrepro.
$(BOOK_VENV)/.installed: requirements-book.txt
	test -x $(BOOK_VENV)/bin/python || python3 -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install -q -r requirements-book.txt
	touch $@

book-env: $(BOOK_VENV)/.installed

lint: env
	$(PY) -m ruff check lthrepro tests scripts benchmarks

test: env lint
	$(PY) -m pytest -q -ra

run: env
	$(PY) -m lthrepro run lenet --profile $(PROFILE) --device $(DEVICE)

# The book: executed notebooks in book/ (committed) rendered to HTML in _build/html, with
# execution off and warnings as errors. `make notebooks` re-executes them first (training only
# what is missing in results/): e.g. `make notebooks PROFILE=budget FIGS="fig01 fig03 fig04"`.
FIGS ?= fig01 fig03 fig04
book: book-env
	$(BOOK_VENV)/bin/jupyter-book build book/ -W --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

notebooks: env
	$(PY) -m lthrepro notebooks --profile $(PROFILE) --device $(DEVICE) --only $(FIGS)

# The landing page's and the README's results table (between marker comments), regenerated
# from the executed notebooks and the committed results.
landing: env
	$(PY) -m lthrepro landing

# After merging a campaign's finished levels into results/: regenerate, without training, what
# reads them (the page tests fail on a stale page): the scale page's tables, Fig. 5 (the Conv-2
# campaign's page) and, through `notebooks`, the status, landing and README tables.
refresh: env
	$(PY) scripts/scale_page.py
	$(PY) -m lthrepro notebooks --only fig05 --profile budget --seeds 0 --no-train

clean:
	rm -rf _build .pytest_cache
