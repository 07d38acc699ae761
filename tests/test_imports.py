"""Imports run one way (issues 10, 24): the sub-packages of lthrepro are layers, and a module
may import its own layer or the layers below it, never above. The order is read from
ARCHITECTURE.md, so the drawing a newcomer reads is the one this test enforces. Every import is
found by parsing the source (imports inside functions included, so a late import cannot hide an
upward edge or a cycle)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "lthrepro"


def layer_order(doc: str) -> list[str]:
    """The line ``layers (bottom → top): core → store → ...`` of ARCHITECTURE.md."""
    m = re.search(r"^layers \(bottom → top\): (.+)$", doc, re.M)
    assert m, "ARCHITECTURE.md lost its 'layers (bottom → top): ...' line"
    return [p.strip() for p in m.group(1).split("→")]


LAYERS = layer_order((ROOT / "ARCHITECTURE.md").read_text())
RANK = {name: i for i, name in enumerate(LAYERS)}
# Modules directly in lthrepro/: the command line (top), and the package marker.
TOP = {"__main__": "cli", "stability": "cli", "numerics": "cli", "__init__": "core"}


def module_name(path: Path) -> str:
    """'core.config' for lthrepro/core/config.py, '__main__' for lthrepro/__main__.py."""
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def layer(mod: str) -> str:
    return TOP[mod] if "." not in mod else mod.split(".")[0]


def _imports(path: Path) -> set[str]:
    """lthrepro modules (``layer.module``, or a layer for ``from lthrepro.layer import x``
    naming a sub-package's module) that ``path`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                out.add("<relative import>")
            elif node.module and node.module.split(".")[0] == "lthrepro":
                parts = node.module.split(".")[1:]
                if len(parts) >= 2:
                    out.add(".".join(parts[:2]))
                elif len(parts) == 1:
                    out |= {f"{parts[0]}.{a.name}" for a in node.names}
                else:
                    out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {".".join(a.name.split(".")[1:3]) for a in node.names if a.name.startswith("lthrepro.")}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            out.add("<dynamic import>")
    return out


FILES = sorted(PKG.rglob("*.py"))
GRAPH = {module_name(p): _imports(p) for p in FILES}


def test_every_subpackage_is_a_layer():
    subs = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subs == set(LAYERS) - {"cli"}, "ARCHITECTURE.md's layers and lthrepro/'s folders differ"
    assert {m for m in GRAPH if "." not in m} == set(TOP), "a module directly in lthrepro/ needs a layer"


def test_no_upward_import():
    bad = [f"{m} ({layer(m)}) imports {d}" for m, deps in GRAPH.items() for d in deps
           if d.startswith("<") or layer(d) not in RANK or RANK[layer(d)] > RANK[layer(m)]]
    assert not bad, bad


def test_imports_name_existing_modules():
    """A typo'd import path would pass the direction test by not resolving: every edge names a file."""
    names = set(GRAPH)
    assert not [d for deps in GRAPH.values() for d in deps if d not in names], "import of a missing module"


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
    assert not [m for m, deps in GRAPH.items() for d in deps if layer(d) == "cli"]


# A file does one thing you can name (guide: ~300 lines): longer ones carry their reason here.
LONG = {}
LIMIT = 350


def test_modules_are_short_or_say_why():
    long = {module_name(p): n for p in FILES if (n := len(p.read_text().splitlines())) > LIMIT}
    assert set(long) <= set(LONG), f"over {LIMIT} lines without a stated reason: {long}"


@pytest.mark.parametrize("src, expected", [
    ("def f():\n    from lthrepro.experiments.lottery import run\n    from lthrepro.experiments import supermask\n"
     "    import lthrepro.store.results\n", {"experiments.lottery", "experiments.supermask", "store.results"}),
    ("from . import x\n", {"<relative import>"}),
])
def test_the_checker_sees_late_imports(tmp_path, src, expected):
    p = tmp_path / "m.py"
    p.write_text(src)
    assert _imports(p) == expected


def test_an_upward_import_is_caught():
    """The rule can fail: a core module importing the book is reported."""
    graph = {"core.config": {"book.claims"}, "book.claims": set()}
    bad = [m for m, deps in graph.items() for d in deps if RANK[layer(d)] > RANK[layer(m)]]
    assert bad == ["core.config"]
