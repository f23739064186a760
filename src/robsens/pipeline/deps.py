"""Code dependencies computed from the import graph, never listed by hand.

A stage's code is the package modules its outputs are computed from: those its entry module
imports, transitively, read from the source (``ast``; function-level imports count). Not
followed:

- the machinery around the computation (:data:`MACHINERY`: the CLI, the warm interpreter,
  the pipeline declaration and path helpers, MLflow logging), each with the reason it cannot
  change an output;
- imports on a line marked ``# robsens: not-a-dependency`` (params validation: it can reject a
  run but never changes an output);
- a package's own discovery of its submodules (``pkgutil.iter_modules``, as the method
  registry does): a stage depends on the methods its models use (:func:`method_module`), so
  a method file that no model uses changes nothing.

What is compared is the code's meaning, not its text (:func:`normalized_source`): the syntax
tree without docstrings, comments or layout. Both tools read the digest through the
fingerprint files of :mod:`robsens.pipeline.fingerprints`.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import robsens
from robsens.pipeline import paths

PACKAGE = "robsens"
NOT_A_DEPENDENCY = "# robsens: not-a-dependency"
METHODS_PACKAGE = "robsens.methods"
# Modules in every stage's code though no entry imports them.
ALWAYS = {
    "robsens.core.reproducibility":
        "__main__ pins the math libraries' CPU dispatch through it before any job runs",
}
# Modules (and packages: everything under them) a stage's code never includes: each reason
# says why no output can depend on it. The stages still import them.
MACHINERY = {
    "robsens.__main__": "starts the command",
    "robsens.cli": "parses arguments and dispatches to the stage's entry",
    "robsens.warm": "runs a job in a pre-loaded interpreter; the job computes the same",
    "robsens.pipeline": "declares the pipeline, paths and fingerprints: where outputs go and "
                        "when they are made, which the tools see themselves",
    "robsens.core.tracking": "MLflow logging: writes no output file",
    "robsens.training.tracking": "MLflow logging: writes no output file",
    "robsens.linear.tracking": "MLflow logging: writes no output file",
    "robsens.report.tracking": "MLflow logging: writes no output file",
}


def package_dir() -> Path:
    """The checkout's source when run from a project root (Snakemake, DVC, the CLI), else the
    installed package: the files declared as dependencies are the ones of this checkout.
    Looked up when used, never at import: a warm interpreter (:mod:`robsens.warm`)
    imports this module in another folder than the job's."""
    return (paths.SOURCE_DIR if paths.SOURCE_DIR.is_dir()
            else Path(robsens.__file__).resolve().parent)


def module_file(module: str) -> Path | None:
    """The source file of a package module, or None when it is not one."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    rel = Path(*parts[1:])
    root = package_dir()
    candidates = [root / rel / "__init__.py"]
    if len(parts) > 1:
        candidates.insert(0, root / rel.with_suffix(".py"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def is_machinery(module: str) -> bool:
    """Whether ``module`` is (or lies under) an entry of :data:`MACHINERY`."""
    return any(module == m or module.startswith(m + ".") for m in MACHINERY)


def _resolve_from(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def discovered(module: str) -> frozenset[str]:
    """The submodules a package imports by discovering them (``pkgutil.iter_modules`` in its
    ``__init__``); empty for any other module."""
    path = module_file(module)
    if path is None or path.name != "__init__.py":
        return frozenset()
    tree = ast.parse(path.read_text())
    if not any(isinstance(n, ast.Attribute) and n.attr == "iter_modules"
               for n in ast.walk(tree)):
        return frozenset()
    return frozenset(f"{module}.{p.stem}" for p in path.parent.glob("*.py")
                     if p.name != "__init__.py")


@cache
def direct_imports(module: str, marked: bool = False) -> frozenset[str]:
    """Package modules that ``module`` imports (parent packages of each included); with
    ``marked``, only those imported on lines marked as no dependency."""
    path = module_file(module)
    if path is None:
        return frozenset()
    source = path.read_text()
    lines = source.splitlines()
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if (NOT_A_DEPENDENCY in lines[node.lineno - 1]) != marked:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _resolve_from(module, node, is_package)
                names = [f"{base}.{a.name}" if module_file(f"{base}.{a.name}") else base
                         for a in node.names]
            found.update(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
    with_parents = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(m for m in with_parents if module_file(m) is not None)


@cache
def closure(*roots: str, discover: bool = False) -> tuple[str, ...]:
    """Every package module reachable from ``roots`` without entering :data:`MACHINERY`,
    sorted. With ``discover`` (everything an import of ``roots`` loads: the validation
    cache keys on that), machinery is followed and a discovering package brings all of its
    submodules."""
    seen: set[str] = set()
    todo = [r for root in roots for r in (root, *_parents(root))]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None or (
                is_machinery(module) and not discover):
            continue
        seen.add(module)
        todo.extend(direct_imports(module) - seen)
        if discover:
            todo.extend(discovered(module) - seen)
    return tuple(sorted(seen))


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def method_module(method: str) -> str:
    """The module whose ``@register("<method>")`` defines a method, read from the source so
    that no torch is loaded to find it."""
    for module in sorted(discovered(METHODS_PACKAGE)):
        for node in ast.walk(ast.parse(module_file(module).read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "register" and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == method):
                return module
    raise KeyError(f"no module of {METHODS_PACKAGE} registers method {method!r}")


def code_modules(entry: str, methods: Iterable[str] = ()) -> tuple[str, ...]:
    """A stage's code: its entry's closure, :data:`ALWAYS`, and, where it loads the method
    registry, the modules of ``methods`` (the methods its models use)."""
    modules = set(closure(entry, *ALWAYS))
    if METHODS_PACKAGE in modules:
        modules.update(closure(*(method_module(m) for m in methods)))
    return tuple(sorted(modules))


def source_path(module: str) -> str:
    """A module's file as a project-relative path (``src/robsens/...``)."""
    return (paths.SOURCE_DIR / module_file(module).relative_to(package_dir())).as_posix()


class _DropDocstrings(ast.NodeTransformer):
    """Removes the docstring of the module and of every class and function."""

    def _strip(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


@cache
def normalized_source(module: str) -> str:
    """The module's syntax tree without docstrings, comments, layout or line numbers: what
    the code does, so that an edit to any of those fingerprints the same."""
    tree = ast.parse(module_file(module).read_text())
    return ast.dump(_DropDocstrings().visit(tree), include_attributes=False)


def code_digest(modules: Iterable[str]) -> str:
    """MD5 over the names and normalised source of ``modules``."""
    h = hashlib.md5()
    for module in sorted(modules):
        h.update(module.encode() + b"\0" + normalized_source(module).encode() + b"\0")
    return h.hexdigest()


def source_digest(*roots: str) -> str:
    """MD5 over the source bytes of ``roots`` and everything an import of them loads
    (discovered submodules included): the key of a cache of what that code accepted."""
    h, root = hashlib.md5(), package_dir()
    for module in closure(*roots, discover=True):
        path = module_file(module)
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
