"""The package's layers, read from the source: each layer imports only from the layers below it.

    core  <  engine  <  explorer  <  cli        (bench: on top of everything, imported by nothing)
    core  <  integrations                       (the Lightning callback and the TensorBoard function: core only)

Every ``import``/``from ... import`` in every module is resolved to the ``gdtuo_explore`` module it names
(relative imports included, at any depth in a function body), and its layer compared with the importer's.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gdtuo_explore"
RANK = {"core": 0, "integrations": 0.5, "engine": 1, "explorer": 2, "cli": 3, "bench": 4}


def layer(module: str) -> str | None:
    """The layer of a module name below ``gdtuo_explore`` (``core.tower`` -> ``core``); None for the package
    root and its thin entry points (``__init__``, ``__main__``, ``gdtuo``), which only re-export."""
    top = module.split(".")[0]
    return top if top in RANK else None


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every gdtuo_explore module ``path`` imports, as a dotted name below the package."""
    own = path.relative_to(PACKAGE).with_suffix("").parts
    package = own[:-1]  # a module's package; an __init__ is its own package
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                name = ".".join(base + ((node.module,) if node.module else ()))
            elif node.module and node.module.split(".")[0] == "gdtuo_explore":
                name = node.module.partition(".")[2]
            else:
                continue
            targets = [name] if node.module else [f"{name}.{a.name}".strip(".") for a in node.names]
            found += [(node.lineno, t) for t in targets]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.partition(".")[2]) for a in node.names
                      if a.name.split(".")[0] == "gdtuo_explore"]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_nothing_from_a_higher_layer(path):
    own = layer(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    if own is None:
        return  # the package root: re-exports only (checked below)
    bad = [f"line {line}: {target}" for line, target in imports(path)
           if layer(target) is not None and RANK[layer(target)] > RANK[own]]
    assert not bad, f"{path.relative_to(PACKAGE)} ({own}) imports from a higher layer: {bad}"


def test_nothing_but_the_benchmark_imports_the_benchmark():
    users = [f"{p.relative_to(PACKAGE)} line {line}" for p in MODULES for line, target in imports(p)
             if layer(target) == "bench" and layer(".".join(p.relative_to(PACKAGE).with_suffix("").parts)) != "bench"]
    assert not users


def test_the_package_root_imports_only_the_core_eagerly():
    """``import gdtuo_explore`` stays light: the engine and the widgets load only when asked for."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    eager = [t for line, t in imports(PACKAGE / "__init__.py")
             if any(line == n.lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))]
    assert eager and all(layer(t) == "core" for t in eager), eager


def test_the_checker_sees_a_violation():
    """The checker itself can fail: an engine-level import written into a core module is caught."""
    fake = PACKAGE / "core" / "_layer_probe.py"
    try:
        fake.write_text("from ..engine.run import Run\nfrom .tower import Tower\n", encoding="utf-8")
        found = imports(fake)
        assert ("engine.run" in [t for _, t in found]) and ("core.tower" in [t for _, t in found])
        with pytest.raises(AssertionError, match="engine.run"):
            test_a_module_imports_nothing_from_a_higher_layer(fake)
    finally:
        fake.unlink()


@pytest.mark.parametrize("statement", [
    "from gdtuo_explore import HyperOptimizer, Explorer, gdtuo, parse_tower, Tower",
    "from gdtuo_explore.gdtuo import ModuleWrapper, SGD, Adam",
    "import gdtuo_explore.bench.steps",
])
def test_the_public_imports_keep_working(statement):
    exec(statement, {})
