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


def imports(path: Path, package_dir: Path = PACKAGE) -> list[tuple[int, str]]:
    """``(line, module)`` of every gdtuo_explore module ``path`` (a file under ``package_dir``) imports, as a dotted
    name below the package."""
    own = path.relative_to(package_dir).with_suffix("").parts
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


def upward_imports(path: Path, package_dir: Path = PACKAGE) -> list[str]:
    """The imports of ``path`` from a layer above its own (none for the package root, which only re-exports)."""
    own = layer(".".join(path.relative_to(package_dir).with_suffix("").parts))
    if own is None:
        return []
    return [f"line {line}: {target}" for line, target in imports(path, package_dir)
            if layer(target) is not None and RANK[layer(target)] > RANK[own]]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_nothing_from_a_higher_layer(path):
    bad = upward_imports(path)
    assert not bad, f"{path.relative_to(PACKAGE)} imports from a higher layer: {bad}"


def test_nothing_but_the_benchmark_imports_the_benchmark():
    users = [f"{p.relative_to(PACKAGE)} line {line}" for p in MODULES for line, target in imports(p)
             if layer(target) == "bench" and layer(".".join(p.relative_to(PACKAGE).with_suffix("").parts)) != "bench"]
    assert not users


def test_the_package_root_loads_its_names_on_first_use():
    """``import gdtuo_explore`` (and the command line's module) loads neither PyTorch nor a layer; a public name
    loads the core only, and ``Explorer`` the widgets."""
    import subprocess
    import sys

    probe = ("import sys, gdtuo_explore, gdtuo_explore.cli; a = sorted(m for m in sys.modules if m == 'torch' or "
             "m.startswith('gdtuo_explore.')); from gdtuo_explore import HyperOptimizer; b = sorted({m.split('.')[1] "
             "for m in sys.modules if m.startswith('gdtuo_explore.')}); print(a, b)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent, check=True).stdout.strip()
    assert out == "['gdtuo_explore.cli'] ['cli', 'core']", out


def test_the_checker_sees_a_violation(tmp_path):
    """The checker itself can fail: an engine-level import written into a core module (of a copy of the package's
    layout in a temporary folder) is caught, and a core import in it is not."""
    probe = tmp_path / "gdtuo_explore" / "core" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..engine.run import Run\nfrom .tower import Tower\nimport gdtuo_explore.explorer.state\n",
                     encoding="utf-8")
    package_dir = tmp_path / "gdtuo_explore"
    assert imports(probe, package_dir) == [(1, "engine.run"), (2, "core.tower"), (3, "explorer.state")]
    assert upward_imports(probe, package_dir) == ["line 1: engine.run", "line 3: explorer.state"]


@pytest.mark.parametrize("statement", [
    "from gdtuo_explore import HyperOptimizer, Explorer, gdtuo, parse_tower, Tower",
    "from gdtuo_explore.gdtuo import ModuleWrapper, SGD, Adam",
    "import gdtuo_explore.bench.steps",
])
def test_the_public_imports_keep_working(statement):
    exec(statement, {})
