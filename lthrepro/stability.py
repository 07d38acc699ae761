"""``python -m lthrepro.stability``: the stability chapter's command, kept at this name because
the book's pages and the README publish it. The code lives in
``experiments/stability_cli.py`` (the run itself: ``experiments/stability.py``)."""

if __name__ == "__main__":
    import sys

    from lthrepro.experiments.stability_cli import main

    sys.exit(main())
