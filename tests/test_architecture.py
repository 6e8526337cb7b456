"""The shape of the code, checked: one-way arrows between apps and layers, no import cycles,
modules small enough to read. See docs/ARCHITECTURE.md for the map these tests hold."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("spaces", "rooms", "scheduling", "clips", "analytics", "captions")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports, anywhere in it (inside functions too: an import
    put off to run time is still an arrow)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_there_is_no_import_cycle(graph):
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_rooms_never_imports_scheduling(graph):
    """rooms owns a Space's life; scheduling reacts to it through rooms.signals."""
    offenders = {name: sorted(t for t in targets if t.startswith("scheduling")) for name, targets in graph.items()}
    assert {name: t for name, t in offenders.items() if name.startswith("rooms") and t} == {}


def test_domain_code_never_imports_the_api_or_pages(graph):
    """Services, selectors and events serve the API and the pages, never the reverse."""
    domain = [n for n in graph if n.startswith(("rooms.services", "rooms.selectors", "rooms.events", "rooms.media"))]
    outward = {n: sorted(t for t in graph[n] if t.startswith(("rooms.api", "rooms.views", "rooms.consumers"))) for n in domain}
    assert {n: t for n, t in outward.items() if t} == {}


@pytest.mark.parametrize("package", ["rooms/services", "scheduling"])
def test_service_modules_stay_under_400_lines(package):
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / package).glob("*.py")}
    assert {name: size for name, size in sizes.items() if size > 400} == {}


def test_browser_modules_stay_under_300_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "static" / "js").glob("*.js")}
    assert {name: size for name, size in sizes.items() if size > 300} == {}


def test_rooms_never_imports_clips_analytics_or_captions(graph):
    """clips, analytics and captions follow rooms through its signals and selectors (and captions
    its media forwards through a setting), never the reverse."""
    offenders = {n: sorted(t for t in targets if t.startswith(("clips", "analytics", "captions")))
                 for n, targets in graph.items()}
    assert {n: t for n, t in offenders.items() if n.startswith("rooms") and t} == {}
