"""Adam's step with its square root kept off the CPU's slow paths, every bit unchanged (issue 20).

On the AVX-512 AMD CPU of 2026-12-03 a float32 ``sqrt`` of 0 cost ~6x that of a normal number
and of a subnormal ~30x (``benchmarks/adam_sqrt.py``). Adam takes the square root of its second
moment v for every weight at every step, and in a pruned network v is exactly 0 for every pruned
weight (its gradient is masked to 0 each step, LTH §2) and decays into subnormals for weights of
rarely active inputs (MNIST's border pixels): at LeNet's sparse levels most of the sqrt runs
on the slow paths.

``step(opt)`` runs torch's own foreach Adam (``torch/optim/adam.py``, ``_multi_tensor_adam``,
the branch every run here takes: CPU, float32, no weight decay, no AMSGrad) op for op, except
that the sqrt reads ``max(v, 2**-126)``. That changes no result: for v < 2**-126 both
sqrt(v) / sqrt(1 - beta2**t) and sqrt(2**-126) / sqrt(1 - beta2**t) are below 3.5e-18 (t >= 1,
beta2 = 0.999), and adding eps (1e-8, half an ulp of which is 4.4e-16) rounds either to eps: the
denominator is bit-identical, so are the parameters, and the moments and step count are torch's
own state (snapshots and resumed optimizer states are unchanged). Anything else (SGD, another
device or dtype, weight decay, a smaller eps, an optimizer before its first step, step hooks)
goes through ``opt.step()``.
"""

from __future__ import annotations

import torch
from torch.optim import optimizer as _optimizer

TINY = torch.finfo(torch.float32).tiny  # 2**-126, the smallest normal float32
# The argument above needs sqrt(TINY) / sqrt(1 - beta2) < half an ulp of eps at t = 1:
# 2**-63 / sqrt(0.001) = 3.4e-18, half an ulp of 1e-9 is 5.6e-17.
MIN_EPS = 1e-9
MIN_BETA2_COMPLEMENT = 1e-3  # 1 - beta2 >= 1e-3 (torch's default beta2 = 0.999)


def applies(opt: torch.optim.Optimizer) -> bool:
    """Whether ``step`` computes this optimizer's next step itself (else ``opt.step()``)."""
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return False
    hooks = (getattr(opt, "_optimizer_step_pre_hooks", None), getattr(opt, "_optimizer_step_post_hooks", None),
             getattr(_optimizer, "_global_optimizer_pre_hooks", None),
             getattr(_optimizer, "_global_optimizer_post_hooks", None))
    if any(h is None or len(h) for h in hooks):  # step hooks run only inside opt.step()
        return False
    g = opt.param_groups[0]
    if (g["weight_decay"] != 0 or g["amsgrad"] or g["maximize"] or g["capturable"] or g["differentiable"]
            or g.get("fused") or g["foreach"] is not True or g["eps"] < MIN_EPS
            or not all(isinstance(v, float) for v in (g["lr"], *g["betas"]))
            or 1 - g["betas"][1] < MIN_BETA2_COMPLEMENT):
        return False
    for p in g["params"]:
        st = opt.state.get(p)
        if (p.grad is None or p.device.type != "cpu" or p.dtype != torch.float32 or p.grad.is_sparse
                or not st or "step" not in st or not st["step"].is_cpu):
            return False
    return True


@torch.no_grad()
def step(opt: torch.optim.Optimizer) -> None:
    """One optimizer step: Adam's, computed as torch computes it (see the module's note)."""
    if not applies(opt):
        opt.step()
        return
    g = opt.param_groups[0]
    params = list(g["params"])
    grads = [p.grad for p in params]
    state = [opt.state[p] for p in params]
    exp_avgs, exp_avg_sqs = [s["exp_avg"] for s in state], [s["exp_avg_sq"] for s in state]
    steps = [s["step"] for s in state]
    lr, (beta1, beta2), eps = g["lr"], g["betas"], g["eps"]
    torch._foreach_add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    bias_correction1 = [1 - beta1 ** s.item() for s in steps]
    bias_correction2 = [1 - beta2 ** s.item() for s in steps]
    step_size = [(lr / bc) * -1 for bc in bias_correction1]
    bias_correction2_sqrt = [bc**0.5 for bc in bias_correction2]
    denom = torch._foreach_clamp_min(exp_avg_sqs, TINY)  # the one change: no 0 or subnormal reaches sqrt
    torch._foreach_sqrt_(denom)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)
    opt._opt_called = True  # what an LR scheduler's wrapper of opt.step records (its step-order check)
