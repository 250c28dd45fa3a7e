"""The import rules of the library, read from the source with `ast` (module- and function-level imports).

The layers are the subpackages of physgen/: actions, sim, data, model, train, eval (plus the
top-level env interface, errors, cli and bench).
- The model layer never imports the simulator or the data layers: it runs where ManiSkill and the
  data are absent (a lent GPU, the Space).
- Only the simulator layer imports ManiSkill or SAPIEN.
- Nothing under physgen/ imports the app: the library is usable without Gradio.
- No import cycles among the library's modules.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "physgen"
LAYERS = ("actions", "sim", "data", "model", "train", "eval")


def module_name(path: Path) -> str:
    """physgen/model/heads.py -> physgen.model.heads; physgen/sim/__init__.py -> physgen.sim."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in LIBRARY.rglob("*.py")}


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
            # `from physgen.sim import scenes` may import the submodule physgen.sim.scenes.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def library_imports() -> dict[str, set[str]]:
    """{module: the library modules it imports} for every module of physgen/ (packages excluded)."""
    return {name: {dep for dep in imported_names(path) if dep in MODULES and dep != name and dep != "physgen"}
            for name, path in MODULES.items()}


def in_layer(module: str, layer: str) -> bool:
    return module == f"physgen.{layer}" or module.startswith(f"physgen.{layer}.")


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


def test_every_layer_is_a_package_with_modules():
    for layer in LAYERS:
        assert f"physgen.{layer}" in MODULES, f"physgen/{layer}/__init__.py is missing"
        assert any(in_layer(name, layer) and name != f"physgen.{layer}" for name in MODULES), f"physgen/{layer}/ has no modules"


@pytest.mark.parametrize("module", sorted(name for name in MODULES if in_layer(name, "model")))
def test_the_model_never_imports_the_simulator_or_the_data(module):
    forbidden = {dep for dep in library_imports()[module] if in_layer(dep, "sim") or in_layer(dep, "data")}
    assert not forbidden, f"{module} imports {sorted(forbidden)}"


def test_only_the_simulator_layer_imports_maniskill():
    offenders = {name: sorted(n for n in imported_names(path) if n.split(".")[0] in ("mani_skill", "sapien"))
                 for name, path in MODULES.items() if not in_layer(name, "sim")}
    assert not {name: found for name, found in offenders.items() if found}


def test_the_library_never_imports_the_app():
    offenders = {name: sorted(n for n in imported_names(path) if n == "app" or n.startswith("app."))
                 for name, path in MODULES.items()}
    assert not {name: found for name, found in offenders.items() if found}


def test_the_library_has_no_import_cycles():
    assert find_cycle(library_imports()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
