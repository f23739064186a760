"""Code dependencies computed from the import graph, never listed by hand.

A stage's code is every module of the package that its command imports, transitively:
``robsens.__main__`` (the CLI, which reads the stage table) plus the stage's entry module.
Imports are read from the source (``ast``), function-level imports included, so lazy
imports count. Two rules complete the graph:

- a package whose ``__init__`` discovers its submodules (``pkgutil.iter_modules``, as the
  method registry does) depends on all of them;
- an import on a line marked ``# robsens: not-a-dependency`` is not followed. Only params
  validation uses it: validating can reject a run but never changes an output, so a method
  edit must not make, say, the data stage out of date.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

import robsens
from robsens.pipeline import paths
from robsens.pipeline.stages import BY_NAME

PACKAGE = "robsens"
CLI_ROOT = "robsens.__main__"
NOT_A_DEPENDENCY = "# robsens: not-a-dependency"


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


def _resolve_from(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


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
        elif isinstance(node, ast.Attribute) and node.attr == "iter_modules" and is_package:
            found.update(f"{module}.{p.stem}" for p in path.parent.glob("*.py")
                         if p.name != "__init__.py")
    with_parents = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(m for m in with_parents if module_file(m) is not None)


@cache
def closure(*roots: str) -> tuple[str, ...]:
    """Every package module reachable from ``roots``, sorted."""
    seen: set[str] = set()
    todo = [r for root in roots for r in (root, *_parents(root))]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        todo.extend(direct_imports(module) - seen)
    return tuple(sorted(seen))


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def stage_modules(stage: str) -> tuple[str, ...]:
    """The modules ``python -m robsens <stage>`` imports."""
    return closure(CLI_ROOT, BY_NAME[stage].entry)


def source_path(module: str) -> str:
    """A module's file as a project-relative path (``src/robsens/...``)."""
    return (paths.SOURCE_DIR / module_file(module).relative_to(package_dir())).as_posix()


def code_files(stage: str) -> list[str]:
    """The stage's code dependencies as project-relative paths."""
    return sorted(source_path(m) for m in stage_modules(stage))


def source_digest(*roots: str) -> str:
    """MD5 over the source of ``roots`` and every module they import (names and bytes): it
    changes exactly when one of those files does."""
    h, root = hashlib.md5(), package_dir()
    for module in closure(*roots):
        path = module_file(module)
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
