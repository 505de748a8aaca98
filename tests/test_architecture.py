"""The house rules of docs/architecture.md, checked on the source so they stay true.

Imports point down the layers only (stats and errors at the bottom, then model <- store <-
engines <- analyses <- app <- faces), no two modules import each other even indirectly, and no
module grows past 800 lines. Every import counts: at module level, inside functions and under
TYPE_CHECKING (a type from a higher layer is still a dependency on it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "funnelscope"
MAX_LINES = 800

# Layer of each top-level part of the package: a module may import lower layers and its own part.
LAYERS = {
    "errors": 0,
    "waits": 0,
    "stats": 0,
    "model": 1,
    "store": 2,
    "engines": 3,
    "analyses": 4,
    "demo": 4,  # synthetic data: model and stats only, used by app and faces
    "app": 5,
    "web": 6,
    "report": 6,
    "cli": 7,  # the outermost shell: `serve` starts the web face, `report-html` the report
}
PUBLIC_API = "funnelscope"  # the package's __init__: the public API may reach every layer


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports anywhere in its file (resolved to modules, not names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import funnelscope.x.y` names a module
                target = target.rpartition(".")[0]
            if target.startswith("funnelscope") and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) == 1:
        return PUBLIC_API, 99
    part = parts[1]
    assert part in LAYERS, f"{module}: part {part!r} has no layer in LAYERS (docs/architecture.md)"
    return part, LAYERS[part]


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in import_graph().items():
        part, rank = layer_of(module)
        for target in sorted(targets):
            target_part, target_rank = layer_of(target)
            if target_part == part or target == PUBLIC_API:
                if target == PUBLIC_API and module != PUBLIC_API:
                    wrong.append(f"{module} imports the public API {target}: import the layer")
                continue
            if target_rank >= rank:
                wrong.append(f"{module} ({part}) imports {target} ({target_part})")
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (each one an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules() -> None:
    assert strongly_connected(import_graph()) == []


def test_no_module_over_800_lines() -> None:
    long = {
        module_name(p): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycle_finder_finds_cycles(graph: dict[str, set[str]], cycles: list[list[str]]) -> None:
    assert sorted(strongly_connected(graph)) == cycles


def test_imports_are_resolved_to_modules(tmp_path: Path) -> None:
    """The checker sees lazy, relative and from-package imports (so it can fail)."""
    known = {"funnelscope.model.spec", "funnelscope.store", "funnelscope.store.event_store"}
    source = tmp_path / "x.py"
    source.write_text(
        "from funnelscope.store import EventStore\n"
        "def f():\n"
        "    from funnelscope.model.spec import Funnel\n"
        "    import funnelscope.store.event_store.thing\n",
        encoding="utf-8",
    )
    assert imported_modules("funnelscope.model.x", source, known) == known
