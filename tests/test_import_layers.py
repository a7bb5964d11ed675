"""Imports run one way: nalu_rnn <- tasks <- runner <- the scripts.

Every module's imports are read from its source (any depth: a function-level
import counts as much as one at the top), together with the targets of the
registries' `deferred("module:attribute")` entries; an arrow from a lower
layer to a higher one fails, and so does any cycle among the project's
modules, whichever way it is held apart.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"nalu_rnn": 0, "tasks": 1, "runner": 2, "train": 3}
SCRIPT_FOLDERS = ("experiments", "bench")
# The library's deprecated aliases of what moved to `tasks` (removed in 0.3):
# they exist to import from the layer above, and nothing in the library
# imports them.
DEPRECATED_ALIASES = {"nalu_rnn.models", "nalu_rnn.digits"}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files():
    files = [ROOT / "train.py"]
    for package in ("nalu_rnn", "tasks", "runner", *SCRIPT_FOLDERS):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def _layer(module):
    top = module.split(".")[0]
    if top in SCRIPT_FOLDERS:
        return 3
    return LAYERS.get(top)


def _imports(path):
    """`(line, imported module)` of every import and deferred entry in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(node.lineno, _existing(m) or node.module) for m in modules]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None))
            in ("deferred", "resolve")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.partition(":")[0]))
    return found


def _existing(module):
    """`module` if it is a module or package of the project, else `None`."""
    path = ROOT.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return module
    return None


def _graph():
    return {
        _module_name(path): [
            (line, target)
            for line, target in _imports(path)
            if _layer(target) is not None
        ]
        for path in _project_files()
    }


def test_the_project_files_are_found():
    names = set(_graph())
    assert {"nalu_rnn", "tasks.registry", "runner.cli", "train"} <= names
    assert any(name.startswith("experiments.") for name in names)


def test_imports_point_down_the_layers():
    wrong = [
        f"{source}:{line} imports {target}"
        for source, targets in _graph().items()
        if source not in DEPRECATED_ALIASES
        for line, target in targets
        if _layer(target) > _layer(source)
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_library_never_imports_its_deprecated_aliases():
    users = [
        f"{source}:{line}"
        for source, targets in _graph().items()
        if source.startswith("nalu_rnn")
        for line, target in targets
        if target in DEPRECATED_ALIASES
    ]
    assert not users


def test_no_import_cycle_among_the_project_modules():
    graph = {
        source: {t for _, t in targets if t in _graph_names()}
        for source, targets in _graph().items()
    }
    visiting, done, cycles = set(), set(), []

    def visit(module, trail):
        if module in done:
            return
        if module in visiting:
            cycles.append(" -> ".join([*trail[trail.index(module) :], module]))
            return
        visiting.add(module)
        for target in sorted(graph.get(module, ())):
            visit(target, [*trail, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _graph_names():
    return {_module_name(path) for path in _project_files()}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from tasks.cells import CELLS", ["tasks.cells"]),
        ("from tasks import mnist", ["tasks.mnist"]),
        ("import nalu_rnn.units", ["nalu_rnn.units"]),
        ('x = deferred("tasks.cell_builders:nalu_cell")', ["tasks.cell_builders"]),
        ("def f():\n    from runner import run", ["runner.run"]),
    ],
)
def test_imports_are_read_at_any_depth(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert [target for _, target in _imports(path)] == expected
