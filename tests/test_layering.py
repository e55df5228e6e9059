"""Imports point one way: cli -> recovery -> kvengine -> aoftools -> rdbtools -> kvencoding.

Format code never imports the engine, the recovery tools or the CLI layers."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "persistkit"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYER = {
    "accel": 0, "_accel": 0, "kvencoding": 0, "detect": 1, "report": 1,
    "rdbtools": 2, "aoftools": 3, "checks": 4, "kvengine": 5, "recovery": 6, "lab": 6,
    "cli_contract": 7,  # exit codes, guarded, --json: below everything of the CLI shell
    "jobs": 8,          # --jobs worker pool of the report commands
    "render": 8, "commands": 9, "cli": 10, "__main__": 11, "__init__": 11,  # the CLI shell
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_every_module_has_a_layer():
    top = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in PKG.rglob("*.py")}
    assert top <= set(LAYER), top - set(LAYER)


def test_imports_point_down_only():
    upward = []
    for path in PKG.rglob("*.py"):
        layer = path.relative_to(PKG).parts[0].removesuffix(".py")
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] == "persistkit" and len(parts) > 1 and LAYER.get(parts[1], -1) > LAYER[layer]:
                upward.append(f"{path.relative_to(PKG)} imports {mod}")
    assert upward == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """persistkit module -> persistkit modules it imports, at any depth of the code (an
    import inside a function still ties the two modules together)."""
    mods = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
                targets = subs if subs and len(subs) == len(node.names) else [mod, *subs]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def test_no_import_cycles():
    graph = _import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
