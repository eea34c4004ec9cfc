"""Imports run one way: ``bids_app → workflows → interfaces → library`` (docs/architecture.md).

Every module of the three source folders is parsed with :mod:`ast` and every ``import`` in it is
read, the lazy ones inside functions included. ``training`` and ``evaluation`` sit above the
library: they use it, not each other and not the app; ``models`` are plain torch (no Nipype, no
BIDS); only the interfaces, the workflows, the app and the evaluation touch Nipype.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder → the package it installs as (setup.cfg's package_dir).
FOLDERS = {"mrsisr": "mrsisr", "workflows": "mrsisr.workflows", "bids_app": "mrsisr.bids_app"}
#: Package prefix → layer; any other ``mrsisr`` module is the library.
LAYERS = {"mrsisr.bids_app": "app", "mrsisr.workflows": "workflows", "mrsisr.interfaces": "interfaces",
          "mrsisr.training": "training", "mrsisr.evaluation": "evaluation", "mrsisr.models": "models"}
#: What each layer may import (its own layer included).
MAY_IMPORT = {
    "app": {"app", "workflows", "interfaces", "training", "evaluation", "models", "library"},
    "workflows": {"workflows", "interfaces", "models", "library"},
    "interfaces": {"interfaces", "models", "library"},
    "evaluation": {"evaluation", "workflows", "interfaces", "models", "library"},
    "training": {"training", "models", "library"},
    "library": {"library", "models"},
    "models": {"models", "library"},
}
#: Third-party packages a layer must not import.
FORBIDDEN_PACKAGES = {"models": {"nipype", "bids"}, "library": {"nipype"}, "training": {"nipype"}}



def _modules() -> dict[str, Path]:
    """Every source module by its dotted name."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> str:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "library"


def _resolve(name: str) -> str:
    """The longest known module that ``name`` (a module or a name inside one) lies in."""
    parts = name.split(".")
    for stop in range(len(parts), 0, -1):
        if ".".join(parts[:stop]) in MODULES:
            return ".".join(parts[:stop])
    return name


def imports_of(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in its body (``mrsisr`` modules resolved; others top-level)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {(_resolve(n) if n.split(".")[0] == "mrsisr" else n.split(".")[0]) for n in names}


def _edges() -> set[tuple[str, str]]:
    return {(module, target) for module in MODULES for target in imports_of(module) if target != module}


EDGES = _edges()


def test_the_walk_sees_every_folder_and_lazy_imports():
    assert {"mrsisr.bids_app.cli", "mrsisr.workflows.mrsi", "mrsisr.interfaces.bids", "mrsisr.grid"} <= set(MODULES)
    # inside init_mrsi_wf, not at the top of the module
    assert ("mrsisr.workflows.mrsi", "mrsisr.interfaces.superres") in EDGES


def test_imports_run_one_way():
    wrong = sorted(
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, target in EDGES
        if target.startswith("mrsisr") and layer_of(target) not in MAY_IMPORT[layer_of(module)]
    )
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


def test_forbidden_packages():
    wrong = sorted(f"{module} imports {target}" for module, target in EDGES
                   if target in FORBIDDEN_PACKAGES.get(layer_of(module), set()))
    assert not wrong, "\n".join(wrong)


def test_nodes_are_thin():
    """The algorithms the nodes run live below them (callable without Nipype)."""
    from mrsisr import registration, skullstrip, spaces

    assert callable(registration.register_rigid_sitk) and callable(skullstrip.skullstrip_python)
    assert callable(spaces.resample_files_to_mrsi)
    for module in ("mrsisr.registration", "mrsisr.skullstrip", "mrsisr.grid", "mrsisr.spaces", "mrsisr.anatomy"):
        assert "nipype" not in imports_of(module), module
