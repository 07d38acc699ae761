import torch

from lthrepro.core import models, pruning


def _lenet_weights(seed=0):
    p = models.init_params("lenet", seed)
    return {n: p[n] for n in models.layer_kinds("lenet")}


def test_layerwise_density_after_levels_is_geometric_with_half_rate_output():
    kinds = models.layer_kinds("lenet")
    w = _lenet_weights()
    mask = pruning.full_mask(w, list(kinds))
    g = torch.Generator().manual_seed(0)
    for _ in range(5):  # each level scores fresh weights (as after training)
        w = {n: torch.randn(t.shape, generator=g) for n, t in w.items()}
        mask = pruning.prune(w, mask, kinds, {"fc": 0.2, "output": 0.1}, "layerwise")
    d = pruning.layer_density(mask)
    assert abs(d["fc1.weight"] - 0.8 ** 5) < 1e-4
    assert abs(d["fc2.weight"] - 0.8 ** 5) < 1e-4
    assert abs(d["out.weight"] - 0.9 ** 5) < 2e-3  # 1,000 weights: integer rounding per level
    # Pm after 5 levels: paper-numbers.md §1.2 gives 32.9% for Lenet
    assert round(100 * pruning.density(mask), 1) == 32.9


def test_layerwise_removes_lowest_surviving_exactly():
    s = {"a": torch.tensor([5.0, -1.0, 3.0, 0.5, -4.0, 2.0, 0.1, 7.0, -6.0, 1.5])}
    m = {"a": torch.ones(10, dtype=torch.bool)}
    m1 = pruning.prune_layerwise({"a": s["a"].abs()}, m, {"a": 0.2})
    assert m1["a"].tolist() == [1, 1, 1, 0, 1, 1, 0, 1, 1, 1]
    # next level: survivors only, 20% of 8 = 1.6 -> 2 removed: |-1| and |1.5|
    m2 = pruning.prune_layerwise({"a": s["a"].abs()}, m1, {"a": 0.2})
    assert m2["a"].tolist() == [1, 0, 1, 0, 1, 1, 0, 1, 1, 0]


def test_global_removes_exactly_requested_count_and_only_named_layers():
    g = torch.Generator().manual_seed(1)
    w = {"c1": torch.randn(64, 3, 3, 3, generator=g), "c2": torch.randn(128, 64, 3, 3, generator=g),
         "out": torch.randn(10, 128, generator=g)}
    mask = {n: torch.ones_like(t, dtype=torch.bool) for n, t in w.items()}
    names = ["c1", "c2"]
    before = sum(int(mask[n].sum()) for n in names)
    new = pruning.prune_global({n: t.abs() for n, t in w.items()}, mask, 0.2, names)
    after = sum(int(new[n].sum()) for n in names)
    assert before - after == pruning.n_remove(0.2, before) == round(0.2 * before)
    assert bool(new["out"].all())
    # every removed weight is no larger than every kept one (global threshold)
    allw = torch.cat([w[n].abs().flatten() for n in names])
    keep = torch.cat([new[n].flatten() for n in names])
    assert allw[~keep].max() <= allw[keep].min()


def test_prune_never_revives_and_one_shot_matches_iterative_density():
    kinds = models.layer_kinds("lenet")
    w = _lenet_weights()
    full = pruning.full_mask(w, list(kinds))
    m = full
    for _ in range(3):
        new = pruning.prune({n: t.abs() for n, t in w.items()}, m, kinds, {"fc": .2, "output": .1}, "layerwise")
        assert all(bool((new[n] <= m[n]).all()) for n in m)
        m = new
    one = pruning.prune({n: t.abs() for n, t in w.items()}, full, kinds, {"fc": .2, "output": .1},
                        "layerwise", levels=3)
    assert abs(pruning.density(one) - pruning.density(m)) < 1e-3


def test_random_control_keeps_per_layer_density():
    kinds = models.layer_kinds("conv2")
    p = models.init_params("conv2", 0)
    w = {n: p[n] for n in kinds}
    m = pruning.prune({n: t.abs() for n, t in w.items()}, pruning.full_mask(w, list(kinds)), kinds,
                      {"conv": .1, "fc": .2, "output": .1}, "layerwise", levels=4)
    r = pruning.random_like(m, torch.Generator().manual_seed(0))
    for n in m:
        assert int(r[n].sum()) == int(m[n].sum())
    assert not all(torch.equal(r[n], m[n]) for n in m)


def test_shared_sort_gives_the_masks_of_separate_calls():
    """prune(..., orders=shared) for many one-shot levels (one sort per layer) returns exactly the
    masks of separate calls, layer-wise and global, ties included (scores rounded to repeat)."""
    g = torch.Generator().manual_seed(3)
    w = {"c1": torch.randn(64, 27, generator=g).round(decimals=1), "f1": torch.randn(300, 50, generator=g),
         "out": torch.randn(10, 50, generator=g).round()}
    kinds = {"c1": "conv", "f1": "fc", "out": "output"}
    full = pruning.full_mask(w, list(w))
    sc = {k: v.abs() for k, v in w.items()}
    for scope, rates in (("layerwise", {"conv": 0.1, "fc": 0.2, "output": 0.1}), ("global", {"conv": 0.2, "fc": 0.2})):
        orders = {}
        shared = [pruning.prune(sc, full, kinds, rates, scope, levels=lv, orders=orders) for lv in range(1, 31)]
        assert orders  # the sorts were shared
        for lv, m in zip(range(1, 31), shared, strict=True):
            alone = pruning.prune(sc, full, kinds, rates, scope, levels=lv)
            assert all(torch.equal(m[n], alone[n]) for n in w), (scope, lv)
        assert pruning.density(shared[-1]) < pruning.density(shared[0])
