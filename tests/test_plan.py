"""Issue 14: a figure as a plan of independent tasks with cost estimates from measurements."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lthrepro.__main__ import main
from lthrepro.core import presets
from lthrepro.experiments import lottery
from lthrepro.scale import figures, plan, rates

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def _bench(tmp_path: Path, device: str, measured: dict[str, dict[int, float]]) -> Path:
    d = tmp_path / "bench"
    d.mkdir(exist_ok=True)
    (d / f"bench-{device}-1.json").write_text(json.dumps({
        "date": "2026-01-01 00:00 UTC", "device": device, "device_name": "test device",
        "results": [{"model": m, "engine": [{"group": g, "model_it_per_s": r} for g, r in gs.items()]}
                    for m, gs in measured.items()]}))
    return d


def test_forward_flops_counts_every_multiply_add():
    assert rates.forward_flops("lenet") == 2 * (784 * 300 + 300 * 100 + 100 * 10)  # 266,200 weights
    assert rates.forward_flops("conv2") == 2 * (32 * 32 * 64 * 27 + 32 * 32 * 64 * 576 + 16 * 16 * 64 * 256
                                               + 256 * 256 + 256 * 10)


def test_rate_sources_in_order_run_bench_flops_assumed(tmp_path):
    cfg = presets.make_config("conv2", "paper")
    b = _bench(tmp_path, "cpu", {"conv6": {1: 2.0, 8: 8.0}})
    r = rates.rate_for(cfg, "cpu", tmp_path / "results", b)  # conv2 not measured: conv6 scaled
    assert r.source == "flops"
    k = rates.forward_flops("conv2") / rates.forward_flops("conv6")
    assert r.step_seconds(1) == pytest.approx(0.5 * k) and r.step_seconds(8) == pytest.approx(1.0 * k)
    assert rates.rate_for(presets.make_config("conv6", "paper"), "cpu", tmp_path, b).source == "bench"
    a = rates.rate_for(cfg, "cuda", tmp_path, b)  # nothing measured on cuda
    assert a.source == "assumed" and "assumed" in a.note
    # a finished session of this very folder wins, on its kind of device only
    smoke = presets.make_config("lenet", "smoke", dataset="synthetic", iterations=20, levels=0)
    lottery.run(smoke, root=tmp_path / "results")
    assert rates.rate_for(smoke, "cpu", tmp_path / "results", b).source == "run"
    assert rates.rate_for(smoke, "cuda", tmp_path / "results", b).source == "assumed"


def test_step_seconds_interpolates_per_run_time_and_errs_long():
    r = rates.Rate(((1, 1.0), (8, 4.0)), "bench", "")
    assert r.step_seconds(1) == 1.0 and r.step_seconds(8) == 4.0
    assert 1.0 < r.step_seconds(4) < 4.0
    assert r.step_seconds(16) == pytest.approx(8.0)  # the largest group's per-run time
    assert rates.Rate(((8, 4.0),), "bench", "").step_seconds(2) == 4.0  # below: that group's step


def test_tasks_count_runs_levels_and_what_is_done(tmp_path):
    cfg = presets.make_config("lenet", "smoke", dataset="synthetic", iterations=20, eval_every=10,
                              levels=2, seeds=(0, 1), oneshot=True, random_prune=1)
    ts = plan.tasks([cfg], "cpu", tmp_path)
    assert [t.seed for t in ts] == [0, 1] and all(t.device == "cpu" for t in ts)
    assert [s.members for s in ts[0].steps] == [1, 4, 4]  # IMP; IMP + reinit + random + one-shot
    assert all(t.done == 0 and t.seconds > 0 and t.remaining == pytest.approx(t.seconds) for t in ts)
    lottery.run(presets.make_config("lenet", "smoke", dataset="synthetic", iterations=20, eval_every=10,
                                    levels=1, seeds=(0,), oneshot=True, random_prune=1), root=tmp_path)
    ts = plan.tasks([cfg], "cpu", tmp_path)
    assert ts[0].done == 2 and ts[1].done == 0
    assert ts[0].remaining == pytest.approx(ts[0].steps[2].seconds)


def test_figures_share_a_folder_once_and_steps_come_in_the_order_the_figure_needs():
    cfgs = [c for f in ("fig01", "fig03", "fig04") for c in figures.figure_configs(f, "budget", "cpu")]
    (m,) = plan.merge(cfgs)  # one LeNet folder: every control any of the three asks for
    assert m.random_prune == 1 and m.oneshot and m.reinits == 1
    ts = plan.tasks(figures.figure_configs("fig05", "budget", "cuda"), "cuda")
    assert len(ts) == 6 and {t.cfg.preset for t in ts} == {"conv2", "conv4", "conv6"}
    steps = sorted(((t, lv.level, i // 2) for i, t in enumerate(ts) for lv in t.steps),
                   key=lambda x: plan.order_key(*x))
    first = [(t.cfg.preset, t.seed, lv) for t, lv, _ in steps[:6]]
    assert first == [("conv2", 0, 0), ("conv4", 0, 0), ("conv6", 0, 0),
                     ("conv2", 0, 1), ("conv4", 0, 1), ("conv6", 0, 1)]
    assert all(t.seed == 0 for t, _, _ in steps[: len(steps) // 2])  # a whole trial before error bars


def test_plan_command(tmp_path, capsys):
    assert main(["plan", "fig05", "--profile", "smoke", "--device", "cpu", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "conv2-" in out and "total: 3 tasks" in out and "CPU-hours" in out
    assert "0 of 6 levels" in out  # CPU smoke pages train 1 level (figures.CPU_SMOKE)
    assert main(["plan", "vgg19", "--profile", "paper", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| vgg19 |" in out and "GPU-hours" in out and "assumed" in out


@pytest.mark.parametrize("args, needle", [
    (["plan", "fig99"], "unknown preset 'fig99'"),
    (["plan", "fig05", "--variant", "dropout"], "'fig05' is a figure"),
    (["plan", "lenet", "--device", "tpu:x"], "unknown device"),
    (["plan", "lenet", "--profile", "huge"], "unknown profile 'huge'"),
])
def test_plan_bad_input(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_book_page_tables_are_generated_and_current():
    import scale_page
    page = scale_page.PAGE.read_text()
    assert scale_page.render(page) == page, "stale tables: run `python scripts/scale_page.py`"
    assert "| fig07 |" in page and "GPU-hours on one GPU" in page
