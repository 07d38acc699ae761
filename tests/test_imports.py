"""Imports run one way (issue 10): each lthrepro module can be read knowing only the modules
below it. Every import is found by parsing the source (imports inside functions included, so a
late import cannot hide a cycle) and checked against the layer order below."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "lthrepro"

# Bottom to top. A module may import modules of its own layer or of layers below it, never above.
LAYERS: list[tuple[str, set[str]]] = [
    # The paper's objects as pure functions and registries: import nothing from lthrepro.
    ("leaves", {"__init__", "models", "pruning", "actions", "data"}),
    # Configs; validation names the registries above (models, criteria, mask actions).
    ("config", {"config"}),
    # Storage: knows nothing of training.
    ("storage", {"results"}),
    ("training", {"train"}),
    # Uses of the trainer that no runner needs to know: the golden run and numerics fingerprint
    # (recorded by every run), interpolation between two trained networks (LMC).
    ("numerics", {"numerics", "interpolation"}),
    # Runners: LTH's lottery, then Zhou et al.'s learned supermasks and the stability
    # experiments (LMC, Stabilizing) built on it.
    ("lottery", {"lottery"}),
    ("supermask", {"supermask", "stability", "earlybird"}),
    # Which runner trains a config; training on demand for the notebooks; re-training a
    # committed result to compare (verify); a figure as a plan of independent tasks and the
    # executors over it (issue 14: local, time-boxed, Ray), which ``obtain`` hands EXECUTOR to.
    ("experiments", {"experiments", "verify", "plan", "executors"}),
    # What the notebooks call: published claims and figures (read results only).
    ("pages", {"paper", "plotting", "pages", "stability_book", "earlybird_report"}),
    # Commands: notebooks and benchmark.
    ("commands", {"runner", "bench", "landing"}),
    # The command line, on top: nothing imports it.
    ("cli", {"__main__"}),
]
RANK = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


def _imports(path: Path) -> set[str]:
    """lthrepro modules that ``path`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x / from .x import y
                out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif node.module and node.module.split(".")[0] == "lthrepro":
                parts = node.module.split(".")
                out |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lthrepro.")}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            out.add("<dynamic import>")
    return out


GRAPH = {p.stem: _imports(p) for p in sorted(PKG.glob("*.py"))}


def test_every_module_has_a_layer():
    assert set(GRAPH) == set(RANK), "add new modules to LAYERS"


def test_no_upward_import():
    bad = [f"{m} ({LAYERS[RANK[m]][0]}) imports {d} ({LAYERS[RANK[d]][0] if d in RANK else '?'})"
           for m, deps in GRAPH.items() for d in deps if d not in RANK or RANK[d] > RANK[m]]
    assert not bad, bad


def test_no_cycle():
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for d in sorted(GRAPH.get(m, ())):
            assert seen.get(d) != 1, f"import cycle: {' -> '.join(path + [m, d])}"
            if d not in seen:
                visit(d, path + [m])
        seen[m] = 2

    for m in GRAPH:
        if m not in seen:
            visit(m, [])


def test_nothing_imports_the_cli():
    assert not [m for m, deps in GRAPH.items() if "__main__" in deps]


def test_the_checker_sees_late_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from .lottery import run\n    from lthrepro import supermask\n"
                   "    import lthrepro.results\n")
    assert _imports(src) == {"lottery", "supermask", "results"}
