"""The package's import graph: no module imports one that (directly or not) imports it back, nor one of a higher layer."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vfhgan_core"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (imports for annotations only,
    never run; their ``else:`` branch is kept)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports, anywhere in its file (lazy imports in functions count too)."""
    modules = _modules()

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.startswith("vfhgan_core")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{up}.{base}" if base else up
                if base.startswith("vfhgan_core"):
                    deps |= {owner(f"{base}.{a.name}") if f"{base}.{a.name}" in modules else owner(base)
                             for a in node.names}
        graph[name] = deps - {name, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_real_imports() -> None:
    graph = import_graph()
    # model_card names the folder types for annotations only: no import at run time, so no circle
    assert "vfhgan_core.weights.model_card" in graph["vfhgan_core.weights.folder_format"]
    assert "vfhgan_core.weights.folder_format" not in graph["vfhgan_core.weights.model_card"]
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\nimport c\n"
    names = {n.names[0].name for n in _runtime_nodes(ast.parse(code)) if isinstance(n, ast.Import)}
    assert names == {"b", "c"}
    assert "vfhgan_core.utils.hub_files" in graph["vfhgan_core.models.generator"]
    assert "vfhgan_core.models.generator" in graph["vfhgan_core.weights.hub"]      # the lazy import inside load_generator
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_utils_import_nothing_above_them() -> None:
    graph = import_graph()
    assert graph["vfhgan_core.weights.variants"] == set()         # variant names: read by the CLI and app before torch
    for name, deps in graph.items():
        if name.startswith("vfhgan_core.utils"):
            above = {d for d in deps if not d.startswith("vfhgan_core.utils")} - {"vfhgan_core.config",
                                                                                  "vfhgan_core.errors"}
            assert not above, (name, above)


#: the layers of issue #16, lowest first: a module may import its own layer and those below it. A name is
#: a package (``weights`` = ``vfhgan_core/weights/``) or a top-level module (``step_budget`` = ``step_budget.py``).
LAYERS = (
    ("utils", "config", "errors"),  # config, errors: the typed-config helpers and error classes of every layer
    ("io", "audio"),  # audio: the speech features (log-mel spectrogram, per-frame mel windows) of faces, data, models
    ("faces", "data"),
    ("models", "losses"),
    ("metrics",),
    ("weights", "experiment"),  # experiment: the run's config, stored in every weights folder and checkpoint
    ("pipelines",),
    ("training",),
    ("evaluation",),
    # the top: the command line and what only it (or the training scripts) uses
    ("cli", "__main__"),
)
#: top-level modules the issue does not place: not checked, neither as importer nor as imported (place them
#: in LAYERS when a move gives them a home)
UNPLACED: dict[str, str] = {}
#: imports that run up a layer today, to be removed by a later move: (importer, imported) → why it is there
KNOWN_UPWARD_IMPORTS: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of a ``vfhgan_core`` module; ``None`` for the package itself and UNPLACED modules."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in UNPLACED:
        return None
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (or, with a reason, to UNPLACED) "
                         "in tests/test_package_imports.py")


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """``(importer, imported)`` pairs where the imported module sits in a higher layer."""
    found = set()
    for name, deps in graph.items():
        rank = layer_of(name)
        for dep in deps:
            dep_rank = layer_of(dep)
            if rank is not None and dep_rank is not None and dep_rank > rank:
                found.add((name, dep))
    return found


def test_layer_check_sees_an_upward_import() -> None:
    assert upward_imports({"vfhgan_core.models.generator": {"vfhgan_core.weights.hub", "vfhgan_core.utils.hub_files"},
                           "vfhgan_core.weights.hub": {"vfhgan_core.models.generator"}}) \
        == {("vfhgan_core.models.generator", "vfhgan_core.weights.hub")}


def test_no_module_imports_a_higher_layer() -> None:
    found = upward_imports(import_graph())
    assert found - set(KNOWN_UPWARD_IMPORTS) == set(), "imports that run up a layer (see LAYERS)"
    # an allowed exception that is gone must leave the list, so the list only shrinks
    assert set(KNOWN_UPWARD_IMPORTS) - found == set(), "fixed: remove from KNOWN_UPWARD_IMPORTS"


def test_the_public_api_is_importable_from_the_package_without_loading_torch_first() -> None:
    import subprocess
    import sys

    code = ("import sys, vfhgan_core; assert 'torch' not in sys.modules, 'import vfhgan_core loaded torch'; "
            "from vfhgan_core import *; import vfhgan_core as v; "
            "assert v.FaceRestorer.__module__ == 'vfhgan_core.pipelines.face_restorer'; "
            "assert v.load_generator('noaudio-noffl-nolip').config.use_audio is False; print(sorted(v.__all__))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'ExperimentConfig'" in proc.stdout and "'LipReader'" in proc.stdout and "'VFHGANGenerator'" in proc.stdout


def test_test_folders_mirror_the_package() -> None:
    """tests/<package>/ holds the tests of vfhgan_core/<package>/ (tests/app/ and tests/train/: the app and scripts)."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders - {"app", "train"} <= packages, folders - {"app", "train"} - packages
    assert {"models", "losses", "metrics", "weights", "pipelines", "training", "evaluation"} <= folders
    assert not list(tests.glob("test_*_*_*.py")) or all(
        not any(p.name.startswith(f"test_{pkg}_") for pkg in packages) for p in tests.glob("test_*.py")
    ), "a flat tests/test_<package>_<module>.py belongs in tests/<package>/test_<module>.py"
