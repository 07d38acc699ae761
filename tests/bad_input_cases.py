"""Generated bad input (issue 23): every option of every command and every config field, given
values of the wrong type, out of range, huge, NaN or empty, and damaged result files. Each case
must end in ONE line on stderr, exit status 2 and nothing written.

This module only generates and judges cases; ``tests/test_bad_input_generated.py`` runs them
under pytest. Run it as a script to count how many are clean (``--show`` lists the others)::

    PYTHONPATH=. python tests/bad_input_cases.py [--show] [--only run]

It works against any version of the package on the path, so the count of clean cases can be
taken before and after a change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

HUGE_INT = "1" + "0" * 20  # beyond every integer a field or option may hold (and torch's seeds)
HUGE_LIT = "1" + "0" * 400  # an int literal that no float can hold
TINY_SET = ["--set", "dataset='synthetic'", "--set", "iterations=20", "--set", "eval_every=10"]


@dataclasses.dataclass
class Case:
    name: str
    command: str  # "lthrepro" (python -m lthrepro) or "stability" (python -m lthrepro.stability)
    args: list[str]  # {root}, {run}, {tmp} are filled in by the runner
    setup: object = None  # callable(world) damaging a file, or None
    must_not_say: str = ""  # a message that would name the wrong cause


# ----------------------------------------------------------------------------- option values
INT_POS = ["abc", "", "0", "-1", "2.5", "nan", "1e30", HUGE_INT]  # a count of at least 1
INT_NONNEG = ["abc", "", "-1", "2.5", "nan", "1e30", HUGE_INT]  # a count of at least 0
FLOAT_POS = ["abc", "", "nan", "inf", "-1", "0", "1e308", HUGE_LIT]  # seconds, ...
FLOAT_UNIT = ["abc", "", "nan", "inf", "-1", "0", "1", "1.5"]  # in (0, 1)
DEVICES = ["mps", "cpu:7", "cuda:99", "", "nosuch", "cuda:-1"]
SEED_LISTS = [["-1"], ["abc"], ["0", "0"], [HUGE_INT], ["nan"], [""], ["2.5"]]
CHOICE = ["nosuch", ""]


def _devices(estimate: bool = False) -> list[str]:
    """Device names this machine cannot train on (``plan`` estimates for any GPU: cuda:N is fine)."""
    import torch
    if estimate:
        return [d for d in DEVICES if not d.startswith("cuda:") or d == "cuda:-1"]
    return DEVICES + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])


def _option_cases(cmd: str, command: str, base: list[str], option: str, values, multi: bool = False,
                  must_not_say: str = "") -> list[Case]:
    out = []
    for v in values:
        vs = v if isinstance(v, list) else [v]
        out.append(Case(f"{cmd} {option} {' '.join(vs)!r}"[:120], command, [*base, option, *vs],
                        must_not_say=must_not_say))
    return out


# ----------------------------------------------------------------------------- config fields
def field_values(name: str, ftype: str) -> list[str]:
    """Bad ``--set NAME=VALUE`` values for one config field, by its type and rule."""
    from lthrepro.core import config
    if name in ("preset", "profile"):
        return ["'x'", "''"]
    if name in ("seeds",):
        return ["-1", "[0,0]", "[]", "'x'", "nan", HUGE_INT, "[1e30]", "''"]
    if name == "milestones":
        return ["[-5]", "'x'", "[1e30]", f"[{HUGE_INT}]", "nan", "[0]"]
    if name == "rates":
        return ["0.2", "{'fc': 1e999}", "{'fc': 1.5}", "{'nosuch': 0.1}", "{'fc': -0.1}", "''", "{'fc': 'x'}"]
    if name == "extra":
        return ["5", "[(1, 2)]", "'x'"]
    rule = getattr(config, "_NUMBERS", {}).get(name)
    if ftype == "bool":
        return ["2", "'x'", "nan", "''", "[]"]
    if ftype == "int":
        vals = ["2.5", "1e30", "nan", "'x'", "''", "[]", HUGE_INT, HUGE_LIT, "True"]
        return vals + [v for v in ("-1", "0") if rule and not rule[1](int(v))]
    if ftype == "float":
        vals = ["nan", "inf", "-inf", "'x'", "''", "[]", HUGE_LIT, "1e999"]
        return vals + [v for v in ("-1", "0", "1", "1.5") if rule and not rule[1](float(v))]
    # a field naming one entry of a registry ("" is a valid supermask: off)
    return ["'nosuch'", "1", "[]"] + ([] if name == "supermask" else ["''"])


def config_fields() -> list[tuple[str, str]]:
    from lthrepro.core.config import Config
    return [(k, str(f.type)) for k, f in Config.__dataclass_fields__.items()]


def _set_cases(cmd: str, command: str, base: list[str], skip=()) -> list[Case]:
    out = []
    for name, ftype in config_fields():
        if name in skip:
            continue
        ft = {"int": "int", "float": "float", "bool": "bool"}.get(ftype, "other")
        for v in field_values(name, ft):
            out.append(Case(f"{cmd} --set {name}={v}"[:120], command, [*base, "--set", f"{name}={v}"]))
    return out


# ----------------------------------------------------------------------------- commands
RUN = ["run", "lenet", "--profile", "smoke", *TINY_SET, "--levels", "1", "-q", "--results", "{root}"]
PLAN = ["plan", "lenet", "--profile", "smoke", "--results", "{root}"]
STAB = ["lenet", "--profile", "smoke", *TINY_SET, "--results", "{root}"]
EB = ["earlybird", "lenet", "--profile", "smoke", *TINY_SET, "--results", "{root}"]
SM = ["supermasks", "lenet", "--profile", "smoke", "--families", "criteria", *TINY_SET, "--set", "levels=1",
      "--results", "{root}"]
NB = ["notebooks", "--only", "fig03", "--profile", "smoke", "--no-train", "-q", "--results", "{root}",
      "--out", "{tmp}/nb"]
BENCH = ["bench", "--data", "synthetic", "--iters", "2", "--models", "lenet", "--group", "1", "--out", "{tmp}/b"]
VERIFY = ["verify", "{run}"]
CAMPAIGN = ["campaign", "conv2-budget", "-q", "--results", "{root}"]
SLICE = ["slice", "--device", "cpu", "--out", "{tmp}/o", "--results", "{root}", "--campaign", "smoke",
         "--bench-models", "lenet", "--bench-groups", "1", "--bench-iters", "2"]
NOTRAIN = "LTHREPRO_NO_TRAIN"  # the notebooks' no-train guard: not the cause of a bad option


def _without(base: list[str], option: str) -> list[str]:
    """``base`` less ``option`` and its value (so the bad value is the only one)."""
    out, skip = [], False
    for a in base:
        if skip:
            skip = False
            continue
        if a == option:
            skip = True
            continue
        out.append(a)
    return out


def option_cases() -> list[Case]:
    c: list[Case] = []
    L = "lthrepro"
    # run
    c += _option_cases("run", L, _without(RUN, "--levels"), "--levels", INT_NONNEG + ["100000"])
    c += _option_cases("run", L, RUN, "--seeds", SEED_LISTS)
    c += _option_cases("run", L, RUN, "--rate", ["abc", "", "nan", "inf", "-1", "1", "1.5"])  # 0: no pruning
    c += _option_cases("run", L, RUN, "--device", _devices())
    c += _option_cases("run", L, RUN, "--group", INT_POS)
    c += _option_cases("run", L, RUN, "--deadline", FLOAT_POS)
    c += _option_cases("run", L, RUN, "--variant", ["nosuch"])
    c += _option_cases("run", L, RUN, "--executor", CHOICE)
    c += _option_cases("run", L, RUN, "--address", ["10.0.0.1:6379"])  # without --executor ray
    c += _option_cases("run", L, _without(RUN, "--profile"), "--profile", CHOICE)
    c += _option_cases("run", L, _without(RUN, "--results"), "--results", [""])
    c += [Case("run preset " + p, L, ["run", p, *RUN[2:]]) for p in ("nosuch", "", "../x")]
    c += [Case("run --seeds and --set seeds", L, [*RUN, "--seeds", "0", "--set", "seeds=[1]"])]
    # plan (the device is the one the estimate is for: cuda need not be here)
    c += _option_cases("plan", L, PLAN, "--levels", INT_NONNEG + ["1000000000"])
    c += _option_cases("plan", L, PLAN, "--seeds", SEED_LISTS)
    c += _option_cases("plan", L, PLAN, "--device", _devices(estimate=True))
    c += _option_cases("plan", L, _without(PLAN, "--profile"), "--profile", CHOICE)
    c += _option_cases("plan", L, _without(PLAN, "--results"), "--results", [""])
    c += _option_cases("plan", L, PLAN, "--variant", ["nosuch"])
    c += [Case("plan preset " + p, L, ["plan", p, *PLAN[2:]]) for p in ("nosuch", "")]
    # verify
    c += _option_cases("verify", L, VERIFY, "--levels", ["abc", "", "-1", "99", "1-0", HUGE_INT, "0-" + HUGE_INT])
    c += _option_cases("verify", L, VERIFY, "--device", _devices())
    c += [Case("verify missing folder", L, ["verify", "{root}/nosuch"]), Case("verify ''", L, ["verify", ""])]
    # notebooks
    c += _option_cases("notebooks", L, NB, "--levels", ["abc", "", "-1", "2.5", "nan", HUGE_INT, "99"],
                       must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, NB, "--seeds", SEED_LISTS, must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, NB, "--device", _devices(), must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, _without(NB, "--profile"), "--profile", CHOICE, must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, _without(NB, "--only"), "--only", CHOICE, must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, _without(NB, "--results"), "--results", [""], must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, _without(NB, "--out"), "--out", [""], must_not_say=NOTRAIN)
    c += _option_cases("notebooks", L, NB, "--address", ["10.0.0.1:6379"], must_not_say=NOTRAIN)
    for f in ("reinits", "random_prune", "oneshot"):
        vals = ["-1", "'x'", "nan", "2.5", HUGE_INT, "''"] if f != "oneshot" else ["2", "'x'", "nan", "''"]
        c += [Case(f"notebooks --set {f}={v}", L, [*NB, "--set", f"{f}={v}"], must_not_say=NOTRAIN) for v in vals]
    # stability (python -m lthrepro.stability)
    S = "stability"
    c += _option_cases(S, S, STAB, "--seeds", SEED_LISTS)
    for opt in ("--ks", "--chain-ks"):
        c += _option_cases(S, S, STAB, opt, [["abc"], ["-1"], ["0", "0"], ["2.5"], [HUGE_INT], ["100000"], [""]])
    c += _option_cases(S, S, STAB, "--continue-ks",
                       [["abc"], ["-1"], ["0"], ["5", "5"], ["2.5"], [HUGE_INT], ["100000"], [""]])
    c += _option_cases(S, S, STAB, "--levels", [["abc"], ["0"], ["-1"], ["2", "2"], [HUGE_INT], ["999"], [""]])
    c += _option_cases(S, S, STAB, "--kinds", [["nosuch"], [""], ["imp", "imp"]])
    c += _option_cases(S, S, STAB, "--device", _devices())
    c += _option_cases(S, S, STAB, "--group", INT_POS)
    c += _option_cases(S, S, _without(STAB, "--profile"), "--profile", CHOICE)
    c += _option_cases(S, S, _without(STAB, "--results"), "--results", [""])
    c += [Case(f"stability preset {p!r}", S, [p, *STAB[1:]]) for p in ("nosuch", "")]
    c += [Case("stability --seeds and --set seeds", S, [*STAB, "--seeds", "0", "--set", "seeds=[1]"])]
    c += [Case("stability --levels and --set levels", S, [*STAB, "--levels", "2", "--set", "levels=3"])]
    # earlybird
    c += _option_cases("earlybird", L, EB, "--seeds", SEED_LISTS)
    c += _option_cases("earlybird", L, EB, "--device", _devices())
    c += _option_cases("earlybird", L, EB, "--eps", FLOAT_UNIT)
    c += _option_cases("earlybird", L, EB, "--keep", INT_POS + ["1"])
    c += _option_cases("earlybird", L, EB, "--levels", [["abc"], ["0"], ["-1"], ["3", "3"], [HUGE_INT], ["999"], [""]])
    c += _option_cases("earlybird", L, EB, "--ratios", [["0.5"], ["nan"], ["abc"]])  # lenet prunes weights by levels
    c += _option_cases("earlybird", L, _without(EB, "--profile"), "--profile", CHOICE)
    c += _option_cases("earlybird", L, _without(EB, "--results"), "--results", [""])
    c += [Case(f"earlybird preset {p!r}", L, ["earlybird", p, *EB[2:]]) for p in ("nosuch", "")]
    c += [Case("earlybird --seeds and --set seeds", L, [*EB, "--seeds", "0", "--set", "seeds=[1]"])]
    # supermasks
    c += _option_cases("supermasks", L, SM, "--families", ["nosuch", "", ",", "criteria,nosuch"])
    c += _option_cases("supermasks", L, SM, "--device", _devices())
    c += _option_cases("supermasks", L, SM, "--group", INT_POS)
    c += _option_cases("supermasks", L, _without(SM, "--profile"), "--profile", CHOICE)
    c += _option_cases("supermasks", L, _without(SM, "--results"), "--results", [""])
    c += [Case(f"supermasks preset {p!r}", L, ["supermasks", p, *SM[2:]]) for p in ("nosuch", "")]
    # bench
    c += _option_cases("bench", L, BENCH, "--device", _devices())
    c += _option_cases("bench", L, BENCH, "--models", ["nosuch", "", ","])
    c += _option_cases("bench", L, BENCH, "--group", ["abc", "", "0", "-1", "2.5", HUGE_INT, ","])
    c += _option_cases("bench", L, BENCH, "--iters", INT_POS)
    c += _option_cases("bench", L, BENCH, "--eval-n", INT_POS)
    c += _option_cases("bench", L, BENCH, "--ref-members", INT_NONNEG)
    c += _option_cases("bench", L, BENCH, "--threads", INT_POS)
    c += _option_cases("bench", L, BENCH, "--data", CHOICE)
    c += _option_cases("bench", L, _without(BENCH, "--out"), "--out", [""])
    # campaign
    c += _option_cases("campaign", L, CAMPAIGN, "--deadline", FLOAT_POS)
    c += _option_cases("campaign", L, CAMPAIGN, "--device", _devices())
    c += _option_cases("campaign", L, CAMPAIGN, "--group", INT_POS)
    c += _option_cases("campaign", L, _without(CAMPAIGN, "--results"), "--results", [""])
    c += [Case(f"campaign name {p!r}", L, ["campaign", p, "--results", "{root}"]) for p in ("nosuch", "")]
    c += _option_cases("bench", L, BENCH, "--eval-every", INT_NONNEG)
    # slice (a lent GPU's session, issue 21)
    c += _option_cases("slice", L, SLICE, "--budget", FLOAT_POS)
    c += _option_cases("slice", L, SLICE, "--device", _devices())
    c += _option_cases("slice", L, SLICE, "--group", INT_POS)
    c += _option_cases("slice", L, SLICE, "--campaign", CHOICE)
    c += _option_cases("slice", L, SLICE, "--bench-models", ["nosuch", ","])
    c += _option_cases("slice", L, SLICE, "--bench-groups", ["abc", "", "0", "-1", "2.5", HUGE_INT, ","])
    c += _option_cases("slice", L, SLICE, "--bench-iters", INT_POS)
    c += _option_cases("slice", L, SLICE, "--bench-eval-n", INT_POS)
    c += _option_cases("slice", L, _without(SLICE, "--out"), "--out", [""])
    c += _option_cases("slice", L, _without(SLICE, "--results"), "--results", [""])
    return c


def set_cases() -> list[Case]:
    c = _set_cases("run", "lthrepro", RUN)
    c += _set_cases("plan", "lthrepro", PLAN)
    c += _set_cases("stability", "stability", STAB)
    c += _set_cases("earlybird", "lthrepro", EB)
    c += _set_cases("supermasks", "lthrepro", SM)
    return c


# ----------------------------------------------------------------------------- damaged files
def _edit_json(rel: str, change):
    """Setup: rewrite one JSON file of the finished run through ``change(obj) -> obj`` (or bytes)."""
    def setup(w: World) -> None:
        f = w.run / rel
        new = change(json.loads(f.read_text()))
        f.write_bytes(new if isinstance(new, bytes) else json.dumps(new).encode())
    return setup


def _set_in(path: tuple, value):
    def change(obj):
        o = obj
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
        return obj
    return change


METRICS = "imp/s0r0/level01/metrics.json"
DAMAGE = {
    "config {'config': 'x'}": _edit_json("config.json", lambda o: {"config": "x"}),
    "config []": _edit_json("config.json", lambda o: b"[]"),
    "config without config": _edit_json("config.json", lambda o: {"name": o.get("name")}),
    "config lr NaN": _edit_json("config.json", _set_in(("config", "lr"), float("nan"))),
    "config lr string": _edit_json("config.json", _set_in(("config", "lr"), "fast")),
    "config seeds string": _edit_json("config.json", _set_in(("config", "seeds"), "0")),
    "config foreign (another config's hash)": _edit_json("config.json", _set_in(("config", "lr"), 0.5)),
    "config unknown field": _edit_json("config.json", _set_in(("config", "colour"), 1)),
    "provenance sessions string": _edit_json("provenance.json", lambda o: {"sessions": "x"}),
    "provenance sessions [5]": _edit_json("provenance.json", lambda o: {"sessions": [5]}),
    "provenance wall_seconds string": _edit_json("provenance.json", lambda o: {
        "sessions": [{**s, "wall_seconds": "x"} for s in o["sessions"]]}),
    "provenance numerics string": _edit_json("provenance.json", lambda o: {
        "sessions": [{**s, "numerics": "x"} for s in o["sessions"]]}),
    "provenance []": _edit_json("provenance.json", lambda o: b"[]"),
    "metrics NaN": _edit_json(METRICS, _set_in(("final_test_acc",), float("nan"))),
    "metrics string": _edit_json(METRICS, _set_in(("final_test_acc",), "high")),
    "metrics level string": _edit_json(METRICS, _set_in(("level",), "one")),
    "metrics curve of strings": _edit_json(METRICS, lambda o: {**o, **{k: ["x"] for k, v in o.items()
                                                                         if isinstance(v, list)}}),
    "metrics truncated": _edit_json(METRICS, lambda o: json.dumps(o).encode()[:40]),
    "metrics inf density": _edit_json(METRICS, _set_in(("density",), float("inf"))),
}


def damage_cases() -> list[Case]:
    c = []
    for what, setup in DAMAGE.items():
        c.append(Case(f"run on {what}", "lthrepro", [*RUN[:-2], "--levels", "2", "--results", "{root}"], setup))
        c.append(Case(f"list on {what}", "lthrepro", ["list"], setup))
        c.append(Case(f"verify on {what}", "lthrepro", ["verify", "{run}"], setup))
    return c


def all_cases() -> list[Case]:
    return option_cases() + set_cases() + damage_cases()


# ----------------------------------------------------------------------------- running a case
class World:
    """A temporary folder: ``root`` (a results root holding one finished tiny run, ``run``), and
    ``cwd`` (where relative paths land); restored from ``pristine`` whenever a case wrote."""

    def __init__(self, top: Path, pristine: Path):
        self.top, self.pristine = Path(top), Path(pristine)
        self.reset()

    @property
    def root(self) -> Path:
        return self.top / "results"

    @property
    def run(self) -> Path:
        return next(self.root.glob("lenet-*"))

    def reset(self) -> None:
        if self.top.exists():
            shutil.rmtree(self.top)
        shutil.copytree(self.pristine, self.top, symlinks=True)

    def snapshot(self) -> dict:
        """Every file of the world (size, time), and the names the repository root and its
        default output folders hold (a relative or empty folder name lands there)."""
        import lthrepro
        repo = Path(lthrepro.__file__).resolve().parents[1]
        shallow = [repo, repo / "results", repo / "_build", repo / "_build" / "smoke-results", repo / "book",
                   repo / "benchmarks" / "results"]
        return {**{str(p.relative_to(self.top)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "dir"
                   for p in sorted(self.top.rglob("*"))},
                **{str(d): sorted(x.name for x in d.iterdir()) for d in shallow if d.is_dir()}}


def make_pristine(top: Path) -> Path:
    """The finished tiny run every case starts from (a second of training)."""
    from lthrepro.__main__ import main
    top = Path(top)
    (top / "cwd").mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([a.replace("{root}", str(top / "results")) for a in RUN]) == 0
    return top


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_case(case: Case, w: World, limit: int = int(os.environ.get("BAD_INPUT_LIMIT", 60))) -> tuple[bool, str]:
    """Run one case in this process; (clean, why not)."""
    from lthrepro.__main__ import main
    from lthrepro.experiments import stability_cli
    if case.setup:
        case.setup(w)
    fill = {"{root}": str(w.root), "{run}": str(w.run), "{tmp}": str(w.top)}
    args = []
    for a in case.args:
        for k, v in fill.items():
            a = a.replace(k, v)
        args.append(a)
    env, cwd = dict(os.environ), os.getcwd()
    os.environ["LTHREPRO_RESULTS"] = str(w.root)
    before = w.snapshot()
    err, out = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    rc, crash = None, ""
    try:
        os.chdir(w.top / "cwd")
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = (stability_cli.main if case.command == "stability" else main)(args)
    except SystemExit as e:
        rc = e.code
    except _Timeout:
        crash = f"still running after {limit} s (accepted?)"
    except BaseException as e:  # noqa: BLE001 - a traceback is what the case looks for
        crash = "traceback: " + "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1][:200]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    written = w.snapshot() != before
    if crash:
        why = crash
    elif rc != 2:
        why = f"exit status {rc}" + (f": {lines[-1][:160]}" if lines else "")
    elif len(lines) != 1:
        why = f"{len(lines)} lines on stderr: {' | '.join(lines)[:200]}"
    elif not lines[0].startswith("lthrepro") or "Traceback" in lines[0] or "lthrepro lthrepro" in lines[0]:
        why = f"not a clean line: {lines[0][:200]}"
    elif case.must_not_say and case.must_not_say in lines[0]:
        why = f"names the wrong cause: {lines[0][:200]}"
    elif written:
        why = "something was written"
    else:
        why = ""
    if written or case.setup or crash:
        w.reset()
    return not why, why or lines[0]


def main_(argv: list[str]) -> int:
    import tempfile
    show = "--show" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cases = [c for c in all_cases() if only is None or c.name.split()[0] == only]
    with tempfile.TemporaryDirectory() as t:
        pristine = make_pristine(Path(t) / "pristine")
        w = World(Path(t) / "world", pristine)
        bad = []
        for i, c in enumerate(cases):
            ok, why = run_case(c, w)
            if not ok:
                bad.append((c.name, why))
                if show:
                    print(f"NOT CLEAN {c.name}: {why}", flush=True)
            if (i + 1) % 100 == 0:
                print(f"... {i + 1}/{len(cases)}", file=sys.stderr, flush=True)
    print(f"{len(cases)} cases, {len(cases) - len(bad)} clean, {len(bad)} not clean")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1])) if "PYTHONPATH" not in os.environ else None
    raise SystemExit(main_(sys.argv[1:]))
