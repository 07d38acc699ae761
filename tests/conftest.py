import os
from pathlib import Path

import pytest

from lthrepro.core import data

ROOT = Path(__file__).resolve().parent.parent


def _mnist_available() -> bool:
    raw = data.data_root() / "MNIST" / "raw"
    return all((raw / f).exists() for f in data.MNIST_FILES)


@pytest.fixture
def mnist_root() -> Path:
    if not _mnist_available():
        pytest.skip(f"real MNIST not found under LTHREPRO_DATA={os.environ.get('LTHREPRO_DATA')!r}")
    return data.data_root()


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    """Tests never write into the committed results/ folder."""
    monkeypatch.setenv("LTHREPRO_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("LTHREPRO_NO_TRAIN", raising=False)


def pytest_configure(config):
    # The command line pins the math libraries for portable numerics (store/portable.py), which
    # must happen before torch loads; this process has loaded it, so the commands the tests run
    # in child processes run natively too, as this one does (tests/test_portable.py tests the pins).
    os.environ["LTHREPRO_NUMERICS"] = "native"
    # The project machines have 2 cores, often shared: one intra-op thread avoids OpenMP
    # spin-wait stalls that made small-op tests 50x slower under contention.
    import torch
    torch.set_num_threads(1)
