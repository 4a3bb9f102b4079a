"""The import structure of burner, read with `ast` (nothing is imported).

1. No import cycles among burner's modules. Only imports that run when a module is loaded
   count: those at module level, in class bodies and in module-level `if`/`try`/`with` blocks.
   Imports inside functions (run later, on call) and inside `if TYPE_CHECKING:` blocks (never
   run) do not. A failure prints each cycle as a chain `a -> b -> a`: for every import that
   lies on a cycle, the shortest cycle through it.
2. Only the modules that drive the pipeline (burner.pipeline, burner.station,
   burner.operations, burner.build) and the stages themselves (burner.stages.*) import
   burner.stages or anything under it. Here every import counts, at module level or inside a
   function, except those inside `if TYPE_CHECKING:` blocks (annotations only, never run).

How a name is resolved: `import burner.a.b` depends on burner.a.b; `from burner.a import b`
depends on burner.a.b when that is a module of burner, else on burner.a (b is then a name
defined in it); relative imports are resolved against the importing module's package. A
dependency on a module is not counted as one on its parent packages (`burner/__init__.py`,
`burner/a/__init__.py`), which Python also loads but which name no other module.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import deque
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "burner"
STAGES = "burner.stages"
MAY_IMPORT_STAGES = frozenset({"burner.pipeline", "burner.station", "burner.operations",
                               "burner.build"})


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    at_load: bool        # runs when the importer is loaded (not inside a function)
    typing_only: bool = False   # under `if TYPE_CHECKING:`: annotations only, never run


def module_names(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its __init__.py)."""
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    """Import statements of one module, with whether they run at load time."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool, bool]] = []
        self.depth = 0       # functions (and lambdas) around the current node
        self.typing = 0      # `if TYPE_CHECKING:` blocks around the current node

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self.depth == 0 and not self.typing, self.typing > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self.depth == 0 and not self.typing, self.typing > 0))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.typing += 1
            for stmt in node.body:
                self.visit(stmt)
            self.typing -= 1
            for stmt in node.orelse:      # `else:` of `if TYPE_CHECKING:` does run
                self.visit(stmt)
            return
        self.generic_visit(node)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The imports of `module` that name a module of burner, resolved."""
    collector = _Collector()
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    out = []
    for node, at_load, typing_only in collector.found:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = _package_of(module, path)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.append(sub if sub in modules else source)
        for target in dict.fromkeys(targets):
            if target in modules and target != module:
                out.append(Import(module, target, node.lineno, at_load, typing_only))
    return out


def all_imports(package_dir: Path = PACKAGE_DIR) -> list[Import]:
    modules = module_names(package_dir)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


# --- cycles ----------------------------------------------------------------------------------


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _shortest_path(graph: dict[str, set[str]], start: str, goal: str,
                   within: set[str]) -> list[str]:
    before: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while before[path[-1]] is not None:
                path.append(before[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for child in sorted(graph[node] & within):
            if child not in before:
                before[child] = node
                queue.append(child)
    raise AssertionError(f"no path {start} -> {goal} inside its component")


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """For every load-time import that lies on a cycle, the shortest cycle through it, as
    [a, b, ..., a]; each cycle once, shortest first."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, set())
        graph.setdefault(imp.target, set())
        if imp.at_load:
            graph[imp.importer].add(imp.target)
    cycles: dict[tuple[str, ...], list[str]] = {}
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        for a in sorted(component):
            for b in sorted(graph[a] & component):
                cycle = [a, *_shortest_path(graph, b, a, component)]
                ring = cycle[:-1]
                turn = ring.index(min(ring))
                key = tuple(ring[turn:] + ring[:turn])
                cycles.setdefault(key, [*key, key[0]])
    return sorted(cycles.values(), key=lambda c: (len(c), c))


def _is_stages(module: str) -> bool:
    return module == STAGES or module.startswith(STAGES + ".")


def forbidden_stage_imports(imports: list[Import]) -> list[Import]:
    """Imports of burner.stages(.*) by modules that are neither a driver nor a stage."""
    return [imp for imp in imports if _is_stages(imp.target) and not imp.typing_only
            and not _is_stages(imp.importer) and imp.importer not in MAY_IMPORT_STAGES]


# --- the tests -------------------------------------------------------------------------------


def test_the_walk_sees_burner() -> None:
    """The walk finds burner's modules and their imports (a guard against a vacuous pass)."""
    modules = module_names()
    assert {"burner", "burner.pipeline", "burner.stages", "burner.build"} <= set(modules)
    imports = all_imports()
    assert any(i.importer == "burner.pipeline" and _is_stages(i.target) for i in imports)


def test_the_walk_finds_what_is_planted(tmp_path: Path) -> None:
    """On a made-up package: a load-time cycle is found (relative imports, `from pkg import
    module`, a class body), one closed only inside a function or under TYPE_CHECKING is not;
    a stage import inside a function is forbidden, one under TYPE_CHECKING is not."""
    files = {
        "__init__.py": "",
        "a.py": "from burner import b\n",
        "b.py": "class K:\n    from .c import x\n",
        "c.py": "try:\n    import burner.a as a\nexcept ImportError:\n    pass\nx = 1\n",
        "d.py": "import burner.a\ndef f():\n    from burner import d2\n",
        "d2.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import burner.d\n"
                 "else:\n    import burner.c\n",
        "helper.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from burner.stages import s\ndef f():\n"
                     "    from burner.stages.s import y\n",
        "pipeline.py": "from burner.stages import s\n",
        "stages/__init__.py": "",
        "stages/s.py": "from ..helper import f\ny = 2\n",
    }
    for name, text in files.items():
        path = tmp_path / "burner" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    imports = all_imports(tmp_path / "burner")
    assert import_cycles(imports) == [["burner.a", "burner.b", "burner.c", "burner.a"]]
    assert [(i.importer, i.target, i.line, i.at_load)
            for i in forbidden_stage_imports(imports)] == [
        ("burner.helper", "burner.stages.s", 5, False)]


def test_no_import_cycles() -> None:
    cycles = import_cycles(all_imports())
    assert not cycles, (f"{len(cycles)} import cycle(s) among burner's modules "
                        "(imports run at load time):\n"
                        + "\n".join("  " + " -> ".join(c) for c in cycles))


def test_no_import_cycles_even_counting_late_and_typing_imports() -> None:
    """Issue 10: every stage once imported JobContext from pipeline.py for its annotations,
    closing a circle of 17 modules. No cycle either when imports inside functions and under
    TYPE_CHECKING count."""
    every = [dataclasses.replace(i, at_load=True) for i in all_imports()]
    cycles = import_cycles(every)
    assert not cycles, (f"{len(cycles)} import cycle(s), counting every import:\n"
                        + "\n".join("  " + " -> ".join(c) for c in cycles))


def test_only_the_pipeline_imports_stages() -> None:
    bad = forbidden_stage_imports(all_imports())
    allowed = ", ".join(sorted(MAY_IMPORT_STAGES))
    assert not bad, (f"only {allowed} and burner.stages.* may import {STAGES}; found:\n"
                     + "\n".join(f"  {i.importer} (burner/{_file(i.importer)}:{i.line}) "
                                 f"imports {i.target}"
                                 f"{'' if i.at_load else ' inside a function'}" for i in bad))


def _file(module: str) -> str:
    path = module_names()[module]
    return path.relative_to(PACKAGE_DIR).as_posix()
