"""lthrepro/core/adam.py: torch's Adam step bit for bit, without its slow sqrt paths (issue 20)."""

import pytest
import torch

from lthrepro.core import adam


def _grads(shapes, t: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Gradients with every kind of second moment: pruned (always 0), tiny (g**2 subnormal, so
    v is subnormal), vanishing after 20 steps (v decays from normal into subnormals and 0), and
    ordinary."""
    out = []
    for s in shapes:
        g = torch.randn(s, generator=gen) * 1e-2
        flat = g.view(-1)
        n = flat.numel()
        flat[: n // 4] = 0.0
        flat[n // 4: n // 2] *= 1e-19
        if t > 20:
            flat[n // 2: 3 * n // 4] = 0.0
        flat[3 * n // 4: 7 * n // 8] *= 1e-5
        out.append(g)
    return out


def _pair(eps: float = 1e-8, weight_decay: float = 0.0, steps: int = 200, lr: float = 1.2e-3):
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 300, 784), (3, 300), (3, 10, 100)]
    init = [torch.randn(s, generator=gen) * 0.05 for s in shapes]
    ref = [t.clone().requires_grad_(True) for t in init]
    ours = [t.clone().requires_grad_(True) for t in init]
    o_ref = torch.optim.Adam(ref, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True)
    o_ours = torch.optim.Adam(ours, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True)
    took = []
    for t in range(steps):
        for p, q, g in zip(ref, ours, _grads(shapes, t, gen), strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        took.append(adam.applies(o_ours))
        o_ref.step()
        adam.step(o_ours)
    return ref, ours, o_ref, o_ours, took


def _equal(ref, ours, o_ref, o_ours) -> bool:
    same = all(torch.equal(p, q) for p, q in zip(ref, ours, strict=True))
    for p, q in zip(ref, ours, strict=True):
        a, b = o_ref.state[p], o_ours.state[q]
        same &= all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    return same


def test_adam_step_is_torchs_bit_for_bit():
    ref, ours, o_ref, o_ours, took = _pair()
    assert took[0] is False and all(took[1:])  # torch's own first step creates the state
    v = o_ours.state[ours[0]]["exp_avg_sq"]
    assert (v == 0).any() and ((v > 0) & (v < adam.TINY)).any()  # the slow paths were exercised
    assert _equal(ref, ours, o_ref, o_ours)


def test_the_comparison_can_fail(monkeypatch):
    # Clamping where it matters (v < 1e-12: sqrt 1e-6, far above eps) changes the updates: the
    # test above would see a wrong floor.
    monkeypatch.setattr(adam, "TINY", 1e-12)
    assert not _equal(*_pair(steps=30)[:4])


@pytest.mark.parametrize("kw", [{"eps": 1e-12}, {"weight_decay": 1e-4}])
def test_outside_the_argument_torch_steps(kw):
    ref, ours, o_ref, o_ours, took = _pair(steps=5, **kw)
    assert not any(took) and _equal(ref, ours, o_ref, o_ours)


def test_sgd_and_other_dtypes_fall_back():
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.ones(4)
    sgd = torch.optim.SGD([p], lr=0.1)
    assert not adam.applies(sgd)
    adam.step(sgd)
    assert torch.allclose(p.detach(), torch.full((4,), -0.1))
    q = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    q.grad = torch.ones(4, dtype=torch.float64)
    o = torch.optim.Adam([q], foreach=True)
    o.step()
    assert not adam.applies(o)


def _stepped_adam() -> torch.optim.Adam:
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.ones(4)
    o = torch.optim.Adam([p], foreach=True)
    o.step()  # torch's first step creates the state; ours applies from the second
    return o


def test_step_hooks_fall_back_to_torch():
    o = _stepped_adam()
    assert adam.applies(o)
    called = []
    h = o.register_step_post_hook(lambda *a: called.append(1))
    assert not adam.applies(o)
    adam.step(o)
    h.remove()
    assert called == [1] and adam.applies(o)


def test_an_lr_scheduler_sees_the_step():
    """A scheduler checks that opt.step ran before its own step (else a warning that the first
    lr was skipped): ours records it as torch's step does."""
    import warnings
    o = _stepped_adam()
    sched = torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0)
    o._opt_called = False  # as a fresh scheduler finds it
    adam.step(o)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
