"""The package's import structure is what docs/DESIGN.md says: every import (module-level or inside a function) of
an idslab module goes to a module listed above it in the module map, or to its own entry; so there are no cycles
between entries and nothing imports upward."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "idslab"


def design_order() -> list[str]:
    """Entries of the module map, top to bottom: 'atomic.py', 'datasets/', ..."""
    text = (ROOT / "docs" / "DESIGN.md").read_text()
    block = text.split("```", 2)[1]
    return re.findall(r"^idslab/(\S+)", block, flags=re.M)


def entry_of(rel: str, order: list[str]) -> int | None:
    """Index of the map entry covering a file path relative to idslab/ ('plots/sweep.py' -> 'plots/')."""
    for i, e in enumerate(order):
        if rel == e or (e.endswith("/") and rel.startswith(e)):
            return i
    return None


def module_file(dotted: str) -> str | None:
    """'idslab.plots.sweep' -> 'plots/sweep.py'; a package -> its __init__.py; None if not a file of idslab."""
    parts = dotted.split(".")[1:]
    base = PKG.joinpath(*parts) if parts else PKG
    if base.with_suffix(".py").is_file():
        return str(base.with_suffix(".py").relative_to(PKG))
    if (base / "__init__.py").is_file():
        return str((base / "__init__.py").relative_to(PKG))
    return None


def imports_of(rel: str, source: str) -> set[str]:
    """Every idslab module the file idslab/<rel> imports, anywhere in its source (lazy imports count)."""
    package = ["idslab", *Path(rel).parts[:-1]]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "idslab"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "idslab":
                continue
            # `from . import cache` imports a submodule; `from .train import run` a module
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if module_file(sub) else mod)
    return out


def test_module_map_lists_every_module():
    order = design_order()
    missing = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
               if p.name != "__init__.py" or p.parent != PKG
               if entry_of(str(p.relative_to(PKG)), order) is None]
    assert not missing, f"modules missing from docs/DESIGN.md's module map: {missing}"


def upward_imports(files: dict[str, str]) -> list[str]:
    """{path relative to idslab/: source} -> the imports that go to an entry below the importer's."""
    order = design_order()
    bad = []
    for rel, source in files.items():
        if rel == "__init__.py":
            continue                        # the package's public names, re-exported from low-level modules
        me = entry_of(rel, order)
        for mod in imports_of(rel, source):
            f = module_file(mod)
            if f is None or f == "__init__.py":
                continue                    # `from . import __version__`
            them = entry_of(f, order)
            if them is not None and them > me:
                bad.append(f"{rel} imports {mod} ({order[them]} is below {order[me]})")
    return bad


def test_nothing_imports_upward():
    files = {str(p.relative_to(PKG)): p.read_text() for p in PKG.rglob("*.py")}
    bad = upward_imports(files)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_checker_catches_upward_imports():
    """It can fail: the old cycle (plots/sweep.py importing report lazily) and distributed importing the CLI."""
    assert upward_imports({"plots/sweep.py": "def f():\n    from ..report import PAPER_FIG3\n"})
    assert upward_imports({"distributed.py": "from .cli import add_config_args\n"})
    assert upward_imports({"datasets/cache.py": "import idslab.train\n"})
    assert not upward_imports({"report.py": "from .paper import PAPER\nfrom .plots.sweep import sweep_figure\n"})


# import name -> distribution name, where they differ
_DIST = {"sklearn": "scikit-learn", "PIL": "pillow", "umap": "umap-learn", "yaml": "pyyaml"}


def _third_party(paths) -> set[str]:
    import sys
    out = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            out |= {n.split(".")[0] for n in names}
    return {n for n in out if n not in sys.stdlib_module_names and n not in ("idslab", "__future__")}


def _declared(section: str | None = None) -> set[str]:
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] if section is None else project["optional-dependencies"][section]
    return {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in deps}


def test_declared_dependencies_are_what_the_package_imports():
    """pyproject.toml's dependencies are exactly the third-party packages idslab/ imports (besides the widgets
    module, whose ipywidgets, and live's MarimoView, whose marimo, are the optional 'notebooks' extra), and the
    notebooks' imports are declared somewhere."""
    extra = ("widgets.py", "live.py")
    used = {_DIST.get(n, n).lower() for n in _third_party(p for p in PKG.rglob("*.py") if p.name not in extra)}
    used |= {_DIST.get(n, n).lower() for n in _third_party([PKG / "live.py"])} - {"marimo"}
    assert used == _declared(), f"imported but undeclared: {used - _declared()}; declared but unused: " \
                                f"{_declared() - used}"
    nb = {_DIST.get(n, n).lower() for n in _third_party((ROOT / "notebooks").glob("*.py"))}
    nb |= {_DIST.get(n, n).lower() for n in _third_party([PKG / n for n in extra])}
    assert nb <= _declared() | _declared("notebooks"), nb - _declared() - _declared("notebooks")
