"""Templates of the source notebooks in ``notebooks/``, one module a chapter; each module's
``PAGES`` maps a notebook's name to the notebook. ``scripts/make_notebooks.py`` writes them."""
