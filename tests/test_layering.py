"""The design's layering: imports point one way, `bot -> scheduler -> storage` and `bot -> storage`; `storage`
knows nothing of Telegram."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "storage": {"bot", "scheduler", "telegram"},
    "scheduler": {"bot"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports, wherever the import stands (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in modules
        if imported_packages(path) & FORBIDDEN[package]
    }
    assert wrong == {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project's modules a module imports, wherever the import stands (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    found.add(f"{node.module}.{alias.name}")
                elif node.module in known:
                    found.add(node.module)
    return found


def import_circles() -> list[list[str]]:
    paths = {
        module_name(path): path
        for package in ("bot", "scheduler", "storage")
        for path in (ROOT / package).rglob("*.py")
    }
    return circles_in({name: imported_modules(path, set(paths)) - {name} for name, path in paths.items()})


def circles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a circle (Tarjan's strongly connected parts)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        order[name] = low[name] = len(order)
        stack.append(name)
        for other in graph[name]:
            if other not in order:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], order[other])
        if low[name] == order[name]:
            part = []
            while True:
                member = stack.pop()
                part.append(member)
                if member == name:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for name in graph:
        if name not in order:
            visit(name)
    return circles


def test_no_module_imports_itself_round_a_circle() -> None:
    assert import_circles() == []


def test_a_circle_is_found(tmp_path: Path) -> None:
    """The check above can fail: modules importing each other round a circle are found, a chain is not."""
    (tmp_path / "a.py").write_text("from storage.b import x\n")
    (tmp_path / "b.py").write_text("import storage.c\n")
    known = {"storage.a", "storage.b", "storage.c"}
    assert imported_modules(tmp_path / "a.py", known) == {"storage.b"}
    assert imported_modules(tmp_path / "b.py", known) == {"storage.c"}
    assert circles_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles_in({"a": {"b"}, "b": {"c"}, "c": set()}) == []
