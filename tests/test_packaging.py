"""Packaging: pyproject.toml declares what the code imports, and requirements.txt (for Spaces) agrees with it.

Each part of the repository may import only the distributions of its install line: the library
(``vfhgan_core/``) those of ``pip install -e .``, the app those plus ``[app]``, the training scripts
those plus ``[train]`` (and ``[app]``: nothing there today, but the two are installed together on a
GPU machine), the tests everything. Import names are mapped to distributions by the installed
packages' own metadata (``importlib.metadata.packages_distributions``).
"""
from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: this repository's own top-level modules and packages (and the tests' helper modules)
LOCAL = {"vfhgan_core", "app", "train"} | {p.stem for p in (REPO / "tests").glob("*.py")} \
    | {p.stem for p in (REPO / "train").glob("*.py")}


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement line (PEP 503: lower case, runs of -_. as -)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement.strip()).group(0)).lower()


def _declared(*extras: str) -> set[str]:
    names = {_name(r) for r in PYPROJECT["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PYPROJECT["optional-dependencies"][extra] if not r.startswith("vfhgan[")}
    return names


def third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level import name → the files importing it, for every non-stdlib, non-local import."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def undeclared(paths: list[Path], allowed: set[str]) -> dict[str, list[str]]:
    """Imports of ``paths`` whose distribution is not in ``allowed`` (import name → files)."""
    owners = packages_distributions()
    missing = {}
    for top, files in third_party_imports(paths).items():
        dists = {_name(d) for d in owners.get(top, [top])}
        if not dists & allowed:
            missing[f"{top} ({', '.join(sorted(dists))})"] = sorted(files)
    return missing


def _py(*parts: str) -> list[Path]:
    return [p for part in parts for p in ((REPO / part).rglob("*.py") if (REPO / part).is_dir() else [REPO / part])]


def test_the_walk_finds_imports_and_maps_them_to_distributions() -> None:
    imports = third_party_imports(_py("vfhgan_core"))
    assert {"torch", "av", "cv2", "huggingface_hub"} <= set(imports)
    assert "json" not in imports and "vfhgan_core" not in imports
    # cv2 belongs to opencv-python: a library allowed only torch would be told so
    assert any(k.startswith("cv2 (opencv-python)") for k in undeclared(_py("vfhgan_core"), {"torch"}))


@pytest.mark.parametrize(("part", "extras"), [
    (("vfhgan_core",), ()),
    (("app", "app.py"), ("app",)),
    (("train",), ("app", "train")),
    (("tests",), ("app", "train", "test")),
])
def test_every_import_is_declared_for_its_install_line(part: tuple[str, ...], extras: tuple[str, ...]) -> None:
    assert undeclared(_py(*part), _declared(*extras)) == {}


def test_requirements_txt_is_the_library_plus_the_app_extra() -> None:
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    spaces = {re.sub(r"\s+", "", line) for line in lines if line}
    declared = {re.sub(r"\s+", "", r) for r in [*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"]["app"]]}
    assert spaces == declared


def test_no_unused_or_unwanted_distribution_is_declared() -> None:
    everything = _declared("app", "train", "test")
    assert "moviepy" not in everything                                    # README.md, "Dependencies"
    assert not {"torchvision", "torchaudio", "opencv-python-headless"} & everything   # DECISIONS.md §1
    owners = packages_distributions()
    imported = {_name(d) for top in third_party_imports(_py("vfhgan_core", "app", "app.py", "train", "tests"))
                for d in owners.get(top, [top])}
    # declared but never imported: only what is used without an import of its own name
    used_indirectly = {"soundfile",        # librosa's audio backend
                       "onnxruntime",      # insightface runs SCRFD with it (imported in a function: counted)
                       "tensorboard",      # Accelerate's tracker, log_with="tensorboard"
                       "pytest-timeout", "ruff", "playwright", "pandas"}
    assert everything - imported - used_indirectly == set()
