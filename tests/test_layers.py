"""The import rules of the library, read from the source with `ast` (module- and function-level imports).

- The model (transformer, heads, model, rollout, tokenizer) never imports the simulator, the scenes
  or the data modules: it runs where ManiSkill and the data are absent (a lent GPU, the Space).
- Nothing under physgen/ imports the app: the library is usable without Gradio.
- No import cycles among the library's modules.
"""

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "physgen"
MODEL_MODULES = ("model", "transformer", "heads", "rollout", "tokenizer")
SIM_AND_DATA_MODULES = ("sim", "scenes", "probe_scene", "experts", "demos", "videos", "dataset", "episode_io", "latents", "packs")


def imported_names(path: Path) -> set[str]:
    """Dotted names of every module `path` imports, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path.name} uses a relative import; the library imports absolutely")
            names.add(node.module)
            # `from physgen import x` may import the submodule x.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def library_imports() -> dict[str, set[str]]:
    """{module: the library modules it imports} for every module of physgen/."""
    modules = {path.stem: path for path in LIBRARY.glob("*.py")}
    graph = {}
    for name, path in modules.items():
        parts = (dotted.split(".") for dotted in imported_names(path))
        graph[name] = {p[1] for p in parts if len(p) > 1 and p[0] == "physgen" and p[1] in modules} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_the_model_never_imports_the_simulator_or_the_data(module):
    forbidden = library_imports()[module] & set(SIM_AND_DATA_MODULES)
    assert not forbidden, f"physgen/{module}.py imports {sorted(forbidden)}"


def test_the_library_never_imports_the_app():
    offenders = {path.name: sorted(n for n in imported_names(path) if n == "app" or n.startswith("app."))
                 for path in LIBRARY.glob("*.py")}
    assert not {name: found for name, found in offenders.items() if found}


def test_the_library_has_no_import_cycles():
    assert find_cycle(library_imports()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
