"""``python -m lthrepro.numerics --update-golden | --add-cpu``: kept at this name because the
README publishes it. The code lives in ``store/numerics.py``."""

if __name__ == "__main__":
    from lthrepro.store.numerics import main

    main()
