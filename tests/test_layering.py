"""Imports point one way: cli -> recovery -> kvengine -> aoftools -> rdbtools -> kvencoding.

Format code never imports the engine, the recovery tools or the CLI layers."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "persistkit"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYER = {
    "kvencoding": 0, "detect": 1, "report": 1,
    "rdbtools": 2, "aoftools": 3, "checks": 4, "kvengine": 5, "recovery": 6,
    "render": 8, "commands": 8, "cli": 8, "__main__": 9, "__init__": 9,  # cli + commands + render: the CLI shell
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
