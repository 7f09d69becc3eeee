"""The import direction of docs/architecture.md, checked on the source (every import
statement, the lazy ones inside functions included), so the layering cannot erode quietly:

- the **core** (bench/ minus the app layer) imports no plugin package (vidbench.metrics,
  vidbench.models, vidbench.leaderboard): it reaches them only through the entry-point
  registry (vidbench.plugins), never by name;
- a **plugin package** imports only the core and its own package (no other plugin package,
  and not the app layer: the generate loop, the runner, the pipeline, the CLI);
- the **app layer** (vidbench.cli, pipeline, runner, generate) may import everything;
- no import cycle anywhere, lazy imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: folder -> import name (pyproject's package-dir)
FOLDERS = {"bench": "vidbench", "metrics": "vidbench.metrics", "models": "vidbench.models",
           "leaderboard": "vidbench.leaderboard"}
PLUGIN_PACKAGES = ("vidbench.metrics", "vidbench.models", "vidbench.leaderboard")
APP = frozenset({"vidbench.cli", "vidbench.__main__", "vidbench.pipeline", "vidbench.runner",
                 "vidbench.generate"})


def _modules() -> dict[str, Path]:
    out = {}
    for folder, pkg in FOLDERS.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = list(f.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(vidbench modules imported anywhere in the file, dotted names given as string
    literals to importlib.import_module / __import__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    dynamic: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and node.args:
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) \
                    and isinstance(arg.value, str):
                dynamic.add(arg.value)
    return {m for m in found if m in MODULES}, dynamic


GRAPH: dict[str, set[str]] = {}
DYNAMIC: dict[str, set[str]] = {}
for _name, _path in MODULES.items():
    _deps, _dyn = _imports(_path)
    GRAPH[_name] = _deps - {_name}
    DYNAMIC[_name] = _dyn


def layer(module: str) -> str:
    for pkg in PLUGIN_PACKAGES:
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return "app" if module in APP else "core"


def test_the_graph_is_read():
    # the checks below mean nothing if the parser missed imports: known edges must be there
    assert "vidbench.plugins" in GRAPH["vidbench.registry"]
    assert "vidbench.registry" in GRAPH["vidbench.runner"]
    assert "vidbench.metrics.backbones.vit" in GRAPH["vidbench.metrics.backbones.dino"]
    assert len(MODULES) > 60


def test_core_imports_no_plugin_package():
    bad = [f"{m} -> {d}" for m, deps in GRAPH.items() if layer(m) == "core"
           for d in deps if layer(d) not in ("core",)]
    bad += [f"{m} -> import_module({d!r})" for m, dyn in DYNAMIC.items()
            if layer(m) == "core" for d in dyn if layer(d) != "core"]
    assert not bad, "the core reaches plugins only through vidbench.plugins:\n" + "\n".join(bad)


def test_plugins_import_only_the_core_and_themselves():
    bad = [f"{m} -> {d}" for m, deps in GRAPH.items() if layer(m) in PLUGIN_PACKAGES
           for d in deps if layer(d) not in ("core", layer(m))]
    assert not bad, "a plugin package imports the core and itself only:\n" + "\n".join(bad)


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_catch_a_violation(monkeypatch):
    # a core module importing a metric, and a model importing the generate loop, are seen
    monkeypatch.setitem(GRAPH, "vidbench.suites", GRAPH["vidbench.suites"] | {
        "vidbench.metrics.fvd"})
    monkeypatch.setitem(GRAPH, "vidbench.models.folder", GRAPH["vidbench.models.folder"] | {
        "vidbench.generate"})
    for check in (test_core_imports_no_plugin_package,
                  test_plugins_import_only_the_core_and_themselves):
        try:
            check()
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} missed a planted violation")
