"""The public API: `import miredo_core` is cheap and names every public name; the dashboard,
its pages and the benchmarks import the library only through it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import miredo_core

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIRS = ("ui", "pages", "bench")


def _client_files() -> list[Path]:
    files = [path for name in CLIENT_DIRS for path in sorted((REPO_ROOT / name).glob("*.py"))]
    return [*files, REPO_ROOT / "app.py"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if node.module == "miredo_core"]  # fmt: skip
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_clients_import_only_the_public_api() -> None:
    forbidden = []
    for path in _client_files():
        for line, module in _imports(path):
            name = module.removeprefix("miredo_core.")
            private_module = module.startswith("miredo_core.") and name not in miredo_core.__all__
            if private_module or module.startswith("ui.widgets") and path.parent.name == "bench":
                forbidden.append(f"{path.relative_to(REPO_ROOT)}:{line}: {module}")
    assert forbidden == []


def test_the_forbidden_import_check_catches_a_submodule_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from miredo_core.search.engine import PRESETS\nimport miredo_core.store\n")
    modules = [module for _, module in _imports(sample)]
    assert modules == ["miredo_core.search.engine", "miredo_core.store"]
    assert not any(m.removeprefix("miredo_core.") in miredo_core.__all__ for m in modules)


@pytest.mark.parametrize("name", miredo_core.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(miredo_core, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        miredo_core.nope  # noqa: B018


def test_import_is_lazy_and_the_documented_names_work() -> None:
    code = (
        "import sys, miredo_core as m\n"
        "assert 'miredo_core.search.engine' not in sys.modules\n"
        "assert 'numba' not in sys.modules and 'pandas' not in sys.modules\n"
        "m.load_hardware; m.evaluate; m.solve_layer; m.map_network; m.run_sweep\n"
    )
    env_path = str(REPO_ROOT)
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": env_path, "PATH": ""}, cwd=REPO_ROOT,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
