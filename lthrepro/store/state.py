"""Level state: what a pruning chain needs to go on from a finished level, committed with the
results (issue 20), so that a chain continues on any machine from a clean clone.

Tensors (``*.pt``) are a git-ignored cache. What the next level of a lottery trial needs from
level ℓ is small: the mask it trains under (LTH App. B: prune the trained weights of level ℓ,
reset the survivors to θ0), plus θ0 itself, which is regenerated from the seed. So each IMP
level writes, beside its ``metrics.json``:

- ``next_mask.bin``: the mask of level ℓ+1, as one bit per weight that survives at level ℓ
  (a child mask is a subset of its parent, so ~5 N bits for a whole chain at 20% per level),
  lzma-compressed; its sha256 is ``next_mask_sha256`` in the metrics.
- level 0 only: ``oneshot_masks.bin``, the one-shot masks of every density (LTH Fig. 4c prunes
  the trained dense network once, to each level's density), each a delta on the one before;
  ``oneshot_mask_sha256`` lists their sha256. ``theta0_sha256`` fingerprints θ0: a changed
  initialiser is an error on load, never a silent new experiment.
- when rewinding to k > 0 (STAB): ``rewind.bin``, the weights (and batch-norm state) W_k,
  lzma-compressed float bytes; ``rewind_sha256`` in the metrics.

Every read checks the sha256 recorded in the metrics; a corrupt or mismatching file is a
``StateError`` (one line, exit status 2 at the command line).
"""

from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import torch

from lthrepro.store import schema
from lthrepro.store.results import ResultsError

Mask = dict[str, torch.Tensor]
NEXT_MASK, ONESHOT, REWIND = "next_mask.bin", "oneshot_masks.bin", "rewind.bin"
FORMAT = "lthrepro-state-1"
# One-shot masks are stored for this many levels (or the config's levels, if more): a later run
# that extends a chain finds its one-shot masks without the level-0 weights. 0.8^30 = 0.12%.
ONESHOT_LEVELS = 30


class StateError(ResultsError):
    """A committed state file is missing, corrupt or does not match its recorded sha256."""


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu").flatten().numpy().astype(bool)


def mask_sha256(mask: Mask, names: list[str]) -> str:
    """sha256 of a mask: layer names, shapes and bits in ``names`` order."""
    h = hashlib.sha256()
    for n in names:
        h.update(f"{n}:{tuple(mask[n].shape)};".encode())
        h.update(np.packbits(_bits(mask[n])).tobytes())
    return h.hexdigest()


def tensors_sha256(params: dict[str, torch.Tensor]) -> str:
    """sha256 of named tensors (θ0, W_k): names, dtypes, shapes and bytes, in sorted order."""
    h = hashlib.sha256()
    for n in sorted(params):
        t = params[n].detach().to("cpu").contiguous()
        h.update(f"{n}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------ encoding
def _pack(header: dict, payload: bytes) -> bytes:
    return json.dumps({"format": FORMAT, **header}, sort_keys=True).encode() + b"\n" + lzma.compress(payload)


def _unpack(path: Path) -> tuple[dict, bytes]:
    try:
        raw = Path(path).read_bytes()
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format') if isinstance(header, dict) else header!r}")
        bad = schema.state_header(header)  # types checked here, not met as a TypeError later
        if bad:
            raise ValueError(bad)
        return header, lzma.decompress(body)
    except (OSError, ValueError, lzma.LZMAError) as e:
        raise StateError(f"cannot read level state {path} ({type(e).__name__}: {e}); restore it with "
                         "`git checkout -- <folder>` or delete the level's folder to retrain it") from None


def encode_chain(masks: list[Mask], parent: Mask, names: list[str]) -> bytes:
    """Masks each nested in the one before (the first in ``parent``): one bit per surviving
    weight of the mask before. A mask that is not nested is an error (IMP never revives)."""
    bits, prev = [], parent
    for m in masks:
        for n in names:
            p, c = _bits(prev[n]), _bits(m[n])
            if (c & ~p).any():
                raise ValueError(f"{n}: mask is not a subset of the one before")
            bits.append(c[p])
        prev = m
    flat = np.concatenate(bits) if bits else np.zeros(0, bool)
    shapes = [[n, list(parent[n].shape)] for n in names]
    return _pack({"masks": len(masks), "layers": shapes, "bits": int(flat.size)}, np.packbits(flat).tobytes())


def decode_chain(path: Path, parent: Mask, names: list[str]) -> list[Mask]:
    header, payload = _unpack(path)
    shapes = {n: tuple(s) for n, s in header.get("layers", [])}
    if [n for n, _ in header.get("layers", [])] != names or any(shapes[n] != tuple(parent[n].shape) for n in names):
        raise StateError(f"{path}: its layers do not match this network's; the file belongs to another model")
    flat = np.unpackbits(np.frombuffer(payload, np.uint8))[: header["bits"]].astype(bool)
    out, prev, i = [], parent, 0
    for _ in range(header["masks"]):
        m = {}
        for n in names:
            p = _bits(prev[n])
            c = np.zeros_like(p)
            k = int(p.sum())
            if i + k > flat.size:
                raise StateError(f"{path}: truncated; restore it from git or delete the level's folder")
            c[p] = flat[i: i + k]
            i += k
            m[n] = torch.from_numpy(c).view(tuple(parent[n].shape))
        out.append(m)
        prev = m
    return out


def encode_tensors(params: dict, state: dict | None) -> bytes:
    """W_k (and batch-norm buffers) as raw bytes, exactly: rewinding needs the very bits."""
    items, blobs = [], []
    for group, tensors in (("params", params), ("state", state or {})):
        for n in sorted(tensors):
            t = tensors[n].detach().to("cpu").contiguous()
            items.append([group, n, str(t.dtype).removeprefix("torch."), list(t.shape)])
            blobs.append(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return _pack({"tensors": items}, b"".join(blobs))


def decode_tensors(path: Path) -> tuple[dict, dict]:
    header, payload = _unpack(path)
    out: dict[str, dict] = {"params": {}, "state": {}}
    i = 0
    for group, n, dtype, shape in header["tensors"]:
        t = torch.empty(shape, dtype=getattr(torch, dtype))
        size = t.numel() * t.element_size()
        buf = bytearray(payload[i: i + size])
        if len(buf) != size:
            raise StateError(f"{path}: truncated; restore it from git or delete the level's folder")
        out[group][n] = torch.frombuffer(buf, dtype=t.dtype).view(shape).clone() if size else t
        i += size
    return out["params"], out["state"]


# ------------------------------------------------------------------- files of a member
def _check(path: Path, got: str, want: str | None, what: str) -> None:
    if want is not None and got != want:
        raise StateError(f"{path}: {what} does not match the sha256 in metrics.json; restore the folder "
                         "from git (`git checkout -- <folder>`) or delete it to retrain that level")


def read_next_mask(d: Path, metrics: dict, parent: Mask, names: list[str]) -> Mask:
    """The mask of the level after member folder ``d`` (an IMP level), checked."""
    path = Path(d) / NEXT_MASK
    m = decode_chain(path, parent, names)
    if len(m) != 1:
        raise StateError(f"{path}: holds {len(m)} masks, not 1; restore it from git or delete the level's folder")
    _check(path, mask_sha256(m[0], names), metrics.get("next_mask_sha256"), "the next mask")
    return m[0]


def read_oneshot(d: Path, metrics: dict, full: Mask, names: list[str]) -> list[Mask]:
    """One-shot masks of levels 1, 2, ... (from level 0's member folder ``d``), checked."""
    path = Path(d) / ONESHOT
    masks = decode_chain(path, full, names)
    want = metrics.get("oneshot_mask_sha256") or []
    if len(want) != len(masks):
        raise StateError(f"{path}: holds {len(masks)} masks, metrics.json lists {len(want)}; restore the folder "
                         "from git or delete it to retrain level 0")
    for m, w in zip(masks, want, strict=True):
        _check(path, mask_sha256(m, names), w, "a one-shot mask")
    return masks


def read_rewind(d: Path, metrics: dict) -> tuple[dict, dict]:
    path = Path(d) / REWIND
    params, state = decode_tensors(path)
    _check(path, rewind_sha256(params, state), metrics.get("rewind_sha256"), "W_k")
    return params, state


def rewind_sha256(params: dict, state: dict | None) -> str:
    return tensors_sha256({**params, **{f"state.{k}": v for k, v in (state or {}).items()}})


def has(d: Path, name: str) -> bool:
    return (Path(d) / name).is_file()


def check_theta0(metrics: dict, theta0: dict, where: Path) -> None:
    """θ0 regenerated from the seed must be the θ0 the trial was trained from."""
    want = metrics.get("theta0_sha256")
    if want is not None and tensors_sha256(theta0) != want:
        raise StateError(f"{where}: θ0 regenerated from the seed does not match theta0_sha256 in metrics.json: the "
                         "initialiser changed since this trial was trained; train it in a new results folder "
                         "(another config) or restore the code that trained it")


def size_of(run_dir: Path) -> int:
    """Bytes of committed level state under a results folder."""
    return sum(p.stat().st_size for name in (NEXT_MASK, ONESHOT, REWIND) for p in Path(run_dir).rglob(name))
