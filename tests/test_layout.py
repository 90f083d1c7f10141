"""The package layout's two rules, read from the source (nothing is imported, so an import that only
runs inside a function counts as much as one at the top of a module):

- only archdsl/pytorch/ imports torch: the rest of the compiler (check, summary, viz, fmt) runs and
  starts fast without it;
- archdsl's modules import one another without cycles: a cycle makes the import order decide which
  names exist yet, and ties stages together that should stand alone.

Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
from helpers import ROOT

PACKAGE = ROOT / "archdsl"
# Importing any of these loads torch (safetensors.torch does so itself).
TORCH = ("torch", "torchvision", "safetensors.torch")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree`, function bodies included, except what `if TYPE_CHECKING:` guards."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports(module: str) -> list[tuple[int, str]]:
    """(line, module name) for each import `module` makes, as absolute names. `from a.b import c` is
    `a.b.c` when that is one of archdsl's modules, else `a.b`; importlib.import_module("x") with a
    literal name counts as an import of x."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((node.lineno, full if full in MODULES else base))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            found.append((node.lineno, node.args[0].value))
    return found


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module in MODULES:
        for line, target in imports(module):
            if target in MODULES and target != module:
                graph.add_edge(module, target, line=line)
    return graph


def test_the_walk_sees_every_kind_of_import():
    # Guards the two tests below against passing because the walk misses imports.
    graph = import_graph()
    assert graph.has_edge("archdsl.cli.main", "archdsl.errors")  # module level
    assert graph.has_edge("archdsl.pipeline", "archdsl.frontend.parser")  # from archdsl.x import y
    assert not graph.has_edge("archdsl", "archdsl.pytorch.runtime")  # TYPE_CHECKING only
    assert any(t == "torch" for _, t in imports("archdsl.pytorch.runtime"))
    assert len(MODULES) > 40


def test_only_the_pytorch_package_imports_torch():
    offenders = [f"{MODULES[m].relative_to(ROOT)}:{line}: imports {target}"
                 for m in MODULES if not m.startswith("archdsl.pytorch")
                 for line, target in imports(m)
                 if any(target == t or target.startswith(f"{t}.") for t in TORCH)]
    assert not offenders, "torch imported outside archdsl/pytorch/:\n" + "\n".join(offenders)


def _describe(graph: nx.DiGraph, cycle: list[str]) -> str:
    steps = zip(cycle, cycle[1:] + cycle[:1])
    return " -> ".join(f"{a} (line {graph.edges[a, b]['line']})" for a, b in steps) + f" -> {cycle[0]}"


def test_no_import_cycles_between_archdsl_modules():
    graph = import_graph()
    cycles = sorted(_describe(graph, c) for c in nx.simple_cycles(graph))
    assert not cycles, f"{len(cycles)} import cycles:\n" + "\n".join(cycles)
