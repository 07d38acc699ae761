"""MNIST and CIFAR-10 as whole tensors (one per split), plus a small synthetic set for tests.

Sources, in order: the data root ``$LTHREPRO_DATA`` (official MNIST ``.gz`` files in
``MNIST/raw``; CIFAR-10 as ``cifar10/train.npz`` + ``cifar10/test.npz`` or the partial
``cifar10/test_first1017.npz``), then, for users with a network, the official files through
torchvision (which checks their md5). Every load is verified against the official checksums.

Validation: 5,000 examples held out of the training set with a fixed seed (LTH App. G.1/H.1).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

Tensor = torch.Tensor


class DataError(RuntimeError):
    """Missing, corrupt or mismatching data: the CLI prints it as one line (exit status 2)."""


MNIST_FILES = {  # official md5s (torchvision.datasets.MNIST.resources)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# sha256 of the raw uint8 arrays (shared/data/README.md, "Array checksums").
CIFAR_SHA = {
    "train/images": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
    "train/labels": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
    "test_first1017/images": "48bde46fb9080c13770d6a8c4163dc24cff90c2802470aa26c4d6c392faf50f3",
    "test_first1017/labels": "c5cc3963df7952a390249eaf62a93a87c0fd0f0f2c0a4172c3f19c0a634b6e68",
}
NORM = {"mnist": ((0.1307,), (0.3081,)),
        "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}
PARTIAL_TEST_LABEL = "test accuracy on 1,017 official test images"


@dataclass
class Data:
    """Normalised float tensors ``x_*`` ([N, 784] or [N, 3, 32, 32]) and int64 labels."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    info: dict = field(default_factory=dict)

    def to(self, device: str | torch.device) -> Data:
        moved = {k: getattr(self, k).to(device) for k in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return Data(self.name, info=self.info, **moved)


def data_root() -> Path:
    return Path(os.environ.get("LTHREPRO_DATA", Path.home() / ".cache" / "lthrepro" / "data"))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _read_idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _remove_empty(folders: list[Path]) -> None:
    """Undo the folders a failed download created (innermost first), if they stayed empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


def _new_folders(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, innermost first."""
    out = []
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out


def _mnist_raw(root: Path, download: bool) -> tuple[np.ndarray, ...]:
    raw = root / "MNIST" / "raw"
    if not all((raw / f).exists() for f in MNIST_FILES) and download:
        created = _new_folders(raw)
        try:  # torchvision fetches the official files and checks their md5s
            import torchvision
            torchvision.datasets.MNIST(str(root), train=True, download=True)
        except Exception as e:  # noqa: BLE001 - any failure means: no data
            _remove_empty(created)
            raise DataError(f"MNIST not found under {raw} and the download failed ({e}); "
                            "set LTHREPRO_DATA to a folder holding MNIST/raw/*.gz") from None
    for f, md5 in MNIST_FILES.items():
        if not (raw / f).exists():
            raise DataError(f"missing {raw / f}; set LTHREPRO_DATA to a folder holding "
                            "MNIST/raw/*.gz (official files) or allow the download")
        if _md5(raw / f) != md5:
            raise DataError(f"checksum mismatch for {raw / f}: the file is corrupt or not the "
                            "official one; delete it and fetch the official file again")
    try:
        return tuple(_read_idx(raw / f) for f in MNIST_FILES)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot parse the MNIST files under {raw} ({e})") from None


def _npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in keys}
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({e}); the file is corrupt, fetch it again") from None


def _check_images(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A user-provided CIFAR-10 file (no official checksum to compare with): uint8 images
    [N, 32, 32, 3] in the official HWC layout and N labels in 0..9."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3) or not len(images):
        raise DataError(f"{path}['images'] has shape {images.shape} and dtype {images.dtype}; CIFAR-10 "
                        "needs uint8 images of shape [N, 32, 32, 3]: rewrite the file in that layout")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise DataError(f"{path}['labels'] has shape {labels.shape} and dtype {labels.dtype}; it needs "
                        f"{len(images)} integer labels, one per image")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}['labels'] holds values from {labels.min()} to {labels.max()}; CIFAR-10 "
                        "labels lie in 0..9: check the file")


def _cifar_raw(root: Path, download: bool) -> tuple[np.ndarray, ...]:
    c = root / "cifar10"
    if (c / "train.npz").exists():
        tr = _npz(c / "train.npz", ("images", "labels"))
        for k in ("images", "labels"):
            if sha256(tr[k]) != CIFAR_SHA[f"train/{k}"]:
                raise DataError(f"checksum mismatch for {c / 'train.npz'}['{k}']: corrupt or not "
                                "the official CIFAR-10 training set; fetch it again")
        if (c / "test.npz").exists():  # a complete test set, official order (user-provided)
            te = _npz(c / "test.npz", ("images", "labels"))
            _check_images(c / "test.npz", te["images"], te["labels"])
            note = "test accuracy on the 10,000 official test images"
        elif (c / "test_first1017.npz").exists():
            te = _npz(c / "test_first1017.npz", ("images", "labels"))
            for k in ("images", "labels"):
                if sha256(te[k]) != CIFAR_SHA[f"test_first1017/{k}"]:
                    raise DataError(f"checksum mismatch for {c / 'test_first1017.npz'}['{k}']")
            note = PARTIAL_TEST_LABEL
        else:
            raise DataError(f"no CIFAR-10 test file in {c} (test.npz or test_first1017.npz)")
        return tr["images"], tr["labels"], te["images"], te["labels"], note
    if not download:
        raise DataError(f"missing {c / 'train.npz'}; set LTHREPRO_DATA to a folder holding "
                        "cifar10/train.npz, or allow the download")
    created = _new_folders(root)
    try:
        import torchvision
        tr = torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        te = torchvision.datasets.CIFAR10(str(root), train=False, download=True)
    except Exception as e:  # noqa: BLE001
        _remove_empty(created)
        raise DataError(f"CIFAR-10 not found under {c} and the download failed ({e})") from None
    return (tr.data, np.array(tr.targets, np.uint8), te.data, np.array(te.targets, np.uint8),
            "test accuracy on the 10,000 official test images")


def _normalise(name: str, x: np.ndarray) -> Tensor:
    mean, std = NORM[name]
    t = torch.from_numpy(x.astype(np.float32) / 255.0)
    if name == "mnist":
        return ((t - mean[0]) / std[0]).reshape(len(x), -1)
    t = t.permute(0, 3, 1, 2)  # HWC -> CHW
    return ((t - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]).contiguous()


def synthetic(shape: tuple[int, ...] = (784,), n_train: int = 1200, n_test: int = 400,
              seed: int = 0, classes: int = 10) -> tuple[np.ndarray, ...]:
    """Learnable toy data: class prototypes plus noise, as uint8 images like the real sets."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 255, size=(classes, *shape))
    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, n)
        # low-contrast prototypes under heavy noise: learnable, but not in a handful of steps
        x = np.clip(128 + (protos[y] - 128) * 0.25 + rng.normal(0, 50, (n, *shape)), 0, 255)
        return x.astype(np.uint8), y.astype(np.uint8)
    return (*draw(n_train), *draw(n_test))


def load(name: str, val_size: int = 5000, split_seed: int = 0, train_limit: int = 0,
         test_limit: int = 0, root: str | Path | None = None, download: bool = True,
         input_shape: tuple[int, ...] = (784,)) -> Data:
    """Load a data set, hold out ``val_size`` training examples (fixed seed), record checksums."""
    root = Path(root) if root else data_root()
    note = "test accuracy on the full official test set"
    if name == "mnist":
        xtr, ytr, xte, yte = _mnist_raw(root, download)
    elif name == "cifar10":
        xtr, ytr, xte, yte, note = _cifar_raw(root, download)
    elif name == "synthetic":
        shp = input_shape if len(input_shape) == 1 else (*input_shape[1:], input_shape[0])
        xtr, ytr, xte, yte = synthetic(shp, n_train=max(1200, val_size * 3))
        note = "test accuracy on synthetic data"
    else:
        raise DataError(f"unknown data set '{name}'; choose mnist, cifar10 or synthetic")
    if val_size >= len(xtr):
        raise DataError(f"val_size {val_size} leaves no training data ({len(xtr)} examples)")
    perm = np.random.default_rng(split_seed).permutation(len(xtr))
    vi, ti = perm[:val_size], perm[val_size:]
    if train_limit:
        ti = ti[:train_limit]
    if test_limit:
        xte, yte = xte[:test_limit], yte[:test_limit]
    norm = "mnist" if name == "mnist" or (name == "synthetic" and len(input_shape) == 1) else "cifar10"
    parts = {"train": (xtr[ti], ytr[ti]), "val": (xtr[vi], ytr[vi]), "test": (xte, yte)}
    info = {"dataset": name, "root": str(root), "test_note": note, "split_seed": split_seed,
            **{f"n_{k}": len(v[0]) for k, v in parts.items()},
            "sha256": {k: sha256(np.concatenate([v[0].reshape(len(v[0]), -1),
                                                 v[1].reshape(-1, 1)], 1))
                       for k, v in parts.items()}}
    t = {k: (_normalise(norm, x), torch.from_numpy(y.astype(np.int64))) for k, (x, y) in parts.items()}
    return Data(name, t["train"][0], t["train"][1], t["val"][0], t["val"][1],
                t["test"][0], t["test"][1], info)


def augment(x: Tensor, oy: Tensor, ox: Tensor, flip: Tensor) -> Tensor:
    """Pad-4 random crop + horizontal flip of a whole batch ``[N, C, H, W]`` on its device
    (LTH App. I: VGG-19 and ResNet only). Offsets ``oy, ox`` in [0, 8] and ``flip`` (bool) are
    drawn by the caller per member, so one gather does the batch with no per-sample Python."""
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (4, 4, 4, 4))
    ar = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], ox[:, None] + w - 1 - ar, ox[:, None] + ar)  # [n, w]
    rows = oy[:, None] + torch.arange(h, device=x.device)  # [n, h]
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # [n, h, w, c]
    return out.permute(0, 3, 1, 2).contiguous()
