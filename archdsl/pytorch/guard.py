"""The last gate before emitted code is written or executed: is it exactly what the IR describes?

User text may reach the emitted Python only as validated identifiers and numbers. The earlier
stages make sure of that; this module checks the result independently, so that a gap in them
cannot turn into code a user did not mean to run. It parses the source with `ast` and checks:

- the module holds only a docstring, imports of torch/collections/typing (and hashlib/json/pathlib for
  the weights loader), classes, and archdsl's fixed weights loader, compared verbatim
  (weights.loader_source: no user text reaches it), as are the layer registry's helper classes
  (`Helper`: LayerNorm2d) of the ops the IR holds;
- the classes are exactly the network's and its blocks' (plus the side-outputs tuple);
- every `self.NAME = <call>` (a submodule) is a member the IR named for that class; other
  attributes hold plain values (the zero-padding shortcut's stride);
- no name reaches builtins that run or load code (exec, eval, __import__, open, getattr, ...),
  and no attribute other than `__init__` is a dunder; the one use of getattr allowed is
  `getattr(self, "LABEL")` with a member of that class (a quoted label, `"block1-0"`), and
  `self.add_module("LABEL", ...)` sets a member like `self.LABEL = ...`;
- every string that is not a docstring is an identifier (a label, `same`, `valid`), a
  Sequential's positional key ("0"), or a member's name (a quoted label).

A failure is a bug in archdsl, never the user's input: it raises RuntimeError.
"""

from __future__ import annotations

import ast as pyast
import re

from archdsl.ir.nodes import IR
from archdsl.ir.reserved import UNSAFE_NAMES
from archdsl.layers import OPS
from archdsl.pytorch.weights import loader_source

_IMPORT_ROOTS = {"torch", "collections", "typing", "__future__", "math", "hashlib", "json", "pathlib"}
# Identifiers (labels, `same`, `valid`) and the keys "0", "1", ... of the unlabelled layers in an
# nn.Sequential built from an OrderedDict (a labelled group that also holds unlabelled layers).
_KEY = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)$")


class UnsafeCode(RuntimeError):
    pass


def check_emitted(source: str, ir: IR, class_names: dict[str, str], net_class: str, outputs_class: str,
                  weights_sha256: str | None = None) -> None:
    """Raise UnsafeCode unless `source` is valid Python holding exactly what `ir` describes.

    `class_names` maps each block name to its emitted class name (the code generator's choice).
    """
    try:
        module = pyast.parse(source)
    except SyntaxError as exc:
        raise UnsafeCode(f"archdsl generated invalid Python ({exc}); please report it") from exc
    docstrings = _docstring(module)
    loader = {pyast.dump(f) for f in pyast.parse(loader_source(net_class, weights_sha256)).body} \
        if weights_sha256 else set()
    classes: dict[str, pyast.ClassDef] = {}
    helpers = {h.name: pyast.dump(pyast.parse(h.source).body[0])
               for op in {layer.op for layer in ir.layers} for h in OPS[op].helpers}  # each op once: 10,000 layers
    checked: list[pyast.stmt] = []  # everything but the verbatim loader and helpers goes through _check_node
    for stmt in module.body:
        if isinstance(stmt, pyast.FunctionDef) and pyast.dump(stmt) in loader:
            continue
        # By name first: dumping every class to compare cost 30% of the guard at 10,000 layers.
        if isinstance(stmt, pyast.ClassDef) and stmt.name in helpers and helpers[stmt.name] == pyast.dump(stmt):
            continue
        checked.append(stmt)
        if isinstance(stmt, pyast.ClassDef):
            classes[stmt.name] = stmt
        elif isinstance(stmt, pyast.Import | pyast.ImportFrom):
            _check_import(stmt)
        elif not (isinstance(stmt, pyast.Expr) and stmt.value in docstrings):
            _fail(f"unexpected top-level statement at line {stmt.lineno}")
    expected = {class_names[b.name] for b in ir.blocks_used()} | {net_class}
    if set(classes) - {outputs_class} != expected:
        _fail(f"classes {sorted(classes)} differ from the IR's {sorted(expected)}")
    allowed = {class_names[b.name]: _member_names(ir, ir.instances_of(b)) for b in ir.blocks_used()}
    allowed[net_class] = _member_names(ir, [ir.instances[0]])
    quoted = _quoted_labels(ir)
    # One walk over everything but the verbatim loader (at 10,000 layers each walk costs 0.3 s).
    # ast.walk goes breadth first, so a class or function comes before the string that is its
    # docstring, and that string is known as one when its turn comes.
    for stmt in checked:
        attributes: set[str] = set()
        members = allowed.get(stmt.name, set()) if isinstance(stmt, pyast.ClassDef) else set()
        permitted: set[int] = set()  # the `getattr` names of `getattr(self, "member")`
        for node in pyast.walk(stmt):
            if isinstance(node, pyast.ClassDef | pyast.FunctionDef):
                docstrings |= _docstring(node)
            if isinstance(node, pyast.Call) and _getattr_of_member(node, members):
                permitted.add(id(node.func))
            _check_node(node, docstrings, permitted, quoted)
            attributes |= _submodule_attributes(node)
        if isinstance(stmt, pyast.ClassDef) and stmt.name in allowed:
            extra = attributes - allowed[stmt.name]
            if extra:
                _fail(f"class {stmt.name} sets attributes {sorted(extra)} that the IR does not name")


def _docstring(node: pyast.Module | pyast.ClassDef | pyast.FunctionDef) -> set[pyast.AST]:
    body = node.body
    if body and isinstance(body[0], pyast.Expr) and isinstance(body[0].value, pyast.Constant) \
            and isinstance(body[0].value.value, str):
        return {body[0].value}
    return set()


def _check_import(stmt: pyast.Import | pyast.ImportFrom) -> None:
    modules = [alias.name for alias in stmt.names] if isinstance(stmt, pyast.Import) else [stmt.module or ""]
    for name in modules:
        if name.split(".")[0] not in _IMPORT_ROOTS:
            _fail(f"unexpected import of {name!r}")


def _member_names(ir: IR, instances) -> set[str]:
    names: set[str] = set()
    for inst in instances:
        names.update(m.name for m in inst.container.members if m.name)
    return names


def _quoted_labels(ir: IR) -> set[str]:
    """Member names that are no identifiers (`"block1-0"`), in classes and nn.Sequentials alike."""
    names: set[str] = set()
    stack = [inst.container for inst in ir.instances]
    while stack:
        for m in stack.pop().members:
            if m.name and not _KEY.match(m.name):
                names.add(m.name)
            if m.children is not None:
                stack.append(m.children)
    return names


def _getattr_of_member(node: pyast.AST, members: set[str]) -> bool:
    """Whether `node` is `getattr(self, "name")` with `name` a member of the class."""
    if not isinstance(node, pyast.Call) or node.keywords or len(node.args) != 2:
        return False
    name = node.args[1]
    return isinstance(node.func, pyast.Name) and node.func.id == "getattr" and _is_self(node.args[0]) \
        and isinstance(name, pyast.Constant) and isinstance(name.value, str) and name.value in members


def _is_self(node: pyast.AST) -> bool:
    return isinstance(node, pyast.Name) and node.id == "self"


def _submodule_attributes(node: pyast.AST) -> set[str]:
    """The attributes of `self` that `node` gives a call's result: the submodules it sets."""
    if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Attribute) and node.func.attr == "add_module":
        arg = node.args[0] if node.args else None
        # Any name it sets is checked against the class's members; one that is no string constant fails.
        return {arg.value if isinstance(arg, pyast.Constant) and isinstance(arg.value, str) else "<computed>"}
    targets = node.targets if isinstance(node, pyast.Assign) else \
        [node.target] if isinstance(node, pyast.AnnAssign | pyast.AugAssign) else []
    value = getattr(node, "value", None)
    if not targets or value is None or not any(isinstance(n, pyast.Call) for n in pyast.walk(value)):
        return set()
    return {target.attr for target in targets if isinstance(target, pyast.Attribute)
            and isinstance(target.value, pyast.Name) and target.value.id == "self"}


def _check_node(node: pyast.AST, docstrings: set[pyast.AST], permitted: set[int], quoted: set[str]) -> None:
    if isinstance(node, pyast.Name) and node.id in UNSAFE_NAMES and id(node) not in permitted:
        _fail(f"forbidden name {node.id!r} at line {node.lineno}")
    if isinstance(node, pyast.Attribute) and node.attr.startswith("__") and node.attr != "__init__":
        _fail(f"dunder attribute {node.attr!r} at line {node.lineno}")
    if isinstance(node, pyast.Constant) and isinstance(node.value, str) and node not in docstrings \
            and not _KEY.match(node.value) and node.value not in quoted:
        _fail(f"string literal {node.value[:40]!r} at line {node.lineno} is not an identifier or a key")
    if isinstance(node, pyast.Constant) and isinstance(node.value, bytes):
        _fail(f"bytes literal at line {node.lineno}")


def _fail(message: str) -> None:
    raise UnsafeCode(f"archdsl's emitted code failed its safety check: {message}; please report it")
